"""The app in a real browser: Debian's chromium driven by Playwright, the app served by
``streamlit run`` on 127.0.0.1. Loads, moves the kV slider with ABC off (image and dose change),
switches a scenario, plays a run (the canvas frame changes over time), checks that presenter
mode keeps the dose rate above the fold at 1280 x 720, and reports the median time from a key
press to the new image. Screenshots go to a temporary folder.

Where chromium or Playwright is missing the test skips, except in CI (``CI=true``), where it
fails: a skipped browser test has checked nothing. ``make test`` installs chromium.
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
KEY_PRESSES = 7
"""Key presses timed for the latency report."""
LATENCY_TARGET_MS = 300.0
"""Median key-press-to-new-image target at 512 x 512 (issue 10) [ms]."""


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"browser test cannot run in CI: {why}")
    pytest.skip(why)


try:
    from playwright import sync_api
except ImportError:  # pragma: no cover - the test extra installs it
    sync_api = None


@pytest.fixture(scope="module")
def browser():
    if sync_api is None:
        _unavailable("playwright is not installed")
    if not os.path.exists(CHROMIUM):
        _unavailable("no chromium (make test installs Debian's chromium as root)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _slider(page, label: str):
    return page.locator(f'[data-testid="stSlider"] input[type="range"][aria-label="{label}"]')


def _main_image(page):
    return page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text(timeout=30_000)


def _wait_change(read, before, seconds: float = 60.0) -> float:
    """Seconds until ``read()`` differs from ``before`` (fails after ``seconds``)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if read() != before:
            return time.perf_counter() - t0
        time.sleep(0.01)
    raise AssertionError("nothing changed")


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def report(capsys, text: str) -> None:
    """Print past pytest's capture, so the figure shows in every run's output."""
    with capsys.disabled():
        print(text)


def test_kv_slider_with_abc_off_changes_image_and_dose(browser, server, shots, capsys):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{server}/?abc.enabled=false", timeout=60_000)
    image = _main_image(page)
    image.wait_for(timeout=120_000)
    page.screenshot(path=shots / "image-1600.png")
    slider = _slider(page, "Tube potential [kV]")
    slider.wait_for(timeout=30_000)
    dose = _metric(page, "Cumulative Ka,r")
    latencies = []
    for _ in range(KEY_PRESSES):
        before, value = image.get_attribute("src"), slider.input_value()
        slider.focus()
        page.keyboard.press("PageUp")  # a big step: +10 % of the range
        sync_api.expect(slider).not_to_have_value(value, timeout=30_000)
        latencies.append(_wait_change(lambda b=before: image.get_attribute("src"), before))
    median_ms = 1000 * statistics.median(latencies)
    report(
        capsys,
        f"\nbrowser: key press to new 512x512 image, median {median_ms:.0f} ms over "
        f"{len(latencies)} presses (target {LATENCY_TARGET_MS:.0f} ms); "
        f"all {', '.join(f'{1000 * x:.0f}' for x in latencies)} ms",
    )
    _wait_change(lambda: _metric(page, "Cumulative Ka,r"), dose)
    _no_exception(page)
    page.close()


def test_a_scenario_switches(browser, server, shots):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(server, timeout=60_000)
    _main_image(page).wait_for(timeout=120_000)
    before = _main_image(page).get_attribute("src")
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Scenario").first.click()
    page.get_by_role("option", name="Large patient: ABC at the dose-rate limit").click()
    _wait_change(lambda: _main_image(page).get_attribute("src"), before)
    sync_api.expect(page.get_by_text("36", exact=True).first).to_be_visible(timeout=30_000)
    page.screenshot(path=shots / "scenario-1600.png")
    _no_exception(page)
    page.close()


def test_a_run_plays_in_the_browser(browser, server, shots, capsys):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{server}/?view=run&run.fluoro_time_s=10", timeout=60_000)
    page.get_by_role("button", name="▶ Run the procedure").click(timeout=60_000)
    t0 = time.perf_counter()
    page.wait_for_selector("iframe", timeout=120_000)
    player = None
    while player is None and time.perf_counter() - t0 < 120:
        for f in page.frames:
            try:
                if f.evaluate("document.body && document.body.dataset.ready") == "1":
                    player = f
            except Exception:  # noqa: BLE001 - a frame still loading
                pass
        time.sleep(0.1)
    assert player is not None, "the player did not load"
    ready_s = time.perf_counter() - t0
    report(capsys, f"\nbrowser: 10 s hip run ready to play {ready_s:.1f} s after the click")
    player.click("#play")
    time.sleep(0.3)
    first, t1 = int(player.evaluate("document.body.dataset.frame")), time.perf_counter()
    time.sleep(2.0)
    later, t2 = int(player.evaluate("document.body.dataset.frame")), time.perf_counter()
    assert player.evaluate("document.body.dataset.playing") == "1"
    fps = (later - first) / (t2 - t1)
    report(capsys, f"browser: the run plays at {fps:.1f} frames/s (15 p/s run, all frames kept)")
    assert fps >= 10.0
    report(capsys, f"browser: screenshots in {shots}")
    page.screenshot(path=shots / "run-1600.png")
    _no_exception(page)
    page.close()


def test_presenter_mode_keeps_image_and_dose_rate_above_the_fold(browser, server, shots):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{server}/?present=1", timeout=60_000)
    _main_image(page).wait_for(timeout=120_000)
    gauge = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').nth(1)
    gauge.wait_for(timeout=30_000)
    time.sleep(1.0)
    page.screenshot(path=shots / "present-1280.png")
    box = gauge.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 720, box
    image_box = _main_image(page).bounding_box()
    assert image_box["y"] < 200 and image_box["y"] + 0.8 * image_box["height"] <= 720
    assert page.locator('[data-testid="stToolbarActions"]').count() == 0  # no Deploy
    _no_exception(page)
    page.close()
