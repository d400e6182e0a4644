"""A real browser (Debian's chromium driven by Playwright) moves a slider and sees the image
change. Skipped where chromium or Playwright is missing (`make test` installs chromium as root)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium")
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
        for _ in range(120):
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


def test_moving_a_slider_changes_the_image(server):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.goto(server, timeout=60_000)
        image = page.locator('[data-testid="stImage"] img').first
        image.wait_for(timeout=90_000)
        before = image.get_attribute("src")
        label = "Added copper spectral filter [mm]"
        slider = page.locator(f'[data-testid="stSlider"] input[type="range"][aria-label="{label}"]')
        value = slider.input_value(timeout=30_000)
        slider.focus()
        page.keyboard.press("ArrowRight")
        sync_api.expect(slider).not_to_have_value(value, timeout=30_000)
        deadline = time.time() + 60
        while time.time() < deadline and image.get_attribute("src") == before:
            time.sleep(0.25)
        assert image.get_attribute("src") != before
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()
