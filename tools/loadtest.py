"""Load test of the Streamlit app at the websocket level: a class of N students on one server.

Starts ``app.py`` on a free 127.0.0.1 port (or uses ``--url``), then drives N concurrent
sessions that speak Streamlit's own protocol on ``/_stcore/stream`` (protobuf ``BackMsg`` up,
``ForwardMsg`` down) the way the browser does:

- open the websocket with the subprotocols ``streamlit, PLACEHOLDER_AUTH_TOKEN``;
- load the page: a ``rerun_script`` BackMsg with an empty query string and page hash; the
  server answers ``new_session`` (session id, page hash), ``session_status_changed``, the
  deltas of the run and ``script_finished``;
- keep every widget state the page has shown (value from the proto on first sight or when the
  server sets it, else the session's own), and send them all with every rerun;
- move one slider, found by its widget key (the element id ends with ``-<key>``), to a new
  value on its min/max/step grid, after a think time: the first one uniform in [0, think]
  (students do not start together), then exponential with mean ``--think``.

Per move it measures the time from sending the BackMsg to the first delta that carries an
image element (``imgs``) in the main area (the new main image), and to ``script_finished``.
Errors: exception elements in deltas, script compilation errors, a run that finishes with an
error status, websocket errors and moves or loads that take more than 30 s. It samples the
server's resident memory (the process and its children) every 0.5 s.

    python tools/loadtest.py --sessions 30 --duration 60          # make loadtest
    python tools/loadtest.py --sessions 5 --duration 10 --json

Exit code 1 if there was any error. Only 127.0.0.1 is contacted (no proxies).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.RootContainer_pb2 import MAIN
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 30.0  # a load or a move slower than this is an error
HEALTH_TIMEOUT_S = 90.0  # server start-up
SAMPLE_S = 0.5  # RSS sampling period
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
MAX_ERROR_TEXTS = 10
SUCCESS = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}

# Direct connections only: no proxy from the environment, ever.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------------------------------------
# Statistics


@dataclass
class Stats:
    """Everything measured, shared by all sessions (one event loop, so no locks)."""

    image_s: list[float] = field(default_factory=list)  # move -> first main image
    finished_s: list[float] = field(default_factory=list)  # move -> script_finished
    load_s: list[float] = field(default_factory=list)  # page load -> script_finished
    reruns: int = 0  # finished reruns, loads included
    moves: int = 0
    moves_without_image: int = 0
    new_images: dict[int, int] = field(default_factory=dict)  # session -> changed main images
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count
    error_texts: list[str] = field(default_factory=list)
    peak_rss_bytes: int | None = None
    error_alerts: int = 0  # st.error boxes drawn (informative only)
    alert_texts: set[str] = field(default_factory=set)

    def error(self, kind: str, text: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.error_texts) < MAX_ERROR_TEXTS:
            self.error_texts.append(f"{kind}: {text}"[:300])

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation; None without values."""
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


# ---------------------------------------------------------------------------------------------
# Widget states as the browser keeps them


def _initial_string(p, options: list[str]) -> str | None:
    """Selectbox/radio: the option at the default index, if there is one."""
    if p.HasField("default") and 0 <= p.default < len(options):
        return options[p.default]
    return None


def widget_state(kind: str, p, use_value: bool) -> WidgetState | None:
    """The WidgetState a browser would hold for widget proto ``p`` of element type ``kind``.

    ``use_value``: the server set the value (``set_value``); otherwise the default. None for
    elements that hold no value between runs (buttons are triggers) or are not handled.
    """
    ws = WidgetState(id=p.id)
    if kind == "slider":
        if p.type == Slider.SELECT_SLIDER:
            return None  # its values are option strings; not needed here
        ws.double_array_value.data.extend(p.value if use_value else p.default)
    elif kind == "checkbox":
        ws.bool_value = p.value if use_value else p.default
    elif kind == "number_input":
        if use_value:
            ws.double_value = p.value
        elif p.HasField("default"):
            ws.double_value = p.default
        else:
            return None
    elif kind in ("selectbox", "radio"):
        value = p.raw_value if use_value else _initial_string(p, list(p.options))
        if value is None:
            return None
        ws.string_value = value
    elif kind in ("text_input", "text_area", "color_picker"):
        if use_value:
            ws.string_value = p.value
        elif kind == "color_picker" or p.HasField("default"):
            ws.string_value = p.default
        else:
            return None
    elif kind == "multiselect":
        options = list(p.options)
        values = list(p.raw_values) if use_value else [options[i] for i in p.default]
        ws.string_array_value.data.extend(values)
    elif kind == "button_group":
        options = [o.content for o in p.options]
        values = list(p.raw_values) if use_value else [options[i] for i in p.default]
        ws.string_array_value.data.extend(values)
    else:
        return None
    return ws


WIDGET_KINDS = {
    "slider",
    "checkbox",
    "number_input",
    "selectbox",
    "radio",
    "text_input",
    "text_area",
    "color_picker",
    "multiselect",
    "button_group",
}


def grid_value(p, current: float | None, rng: random.Random) -> float:
    """A value on the widget's min/max/step grid, different from ``current`` when possible."""
    lo, hi = float(p.min), float(p.max)
    step = float(p.step) if p.step > 0 else (hi - lo) / 100.0
    n = max(int(round((hi - lo) / step)), 0)
    k = 0
    for _ in range(50):  # bounded: a grid of one point keeps its only value
        k = rng.randrange(n + 1)
        if current is None or abs(lo + k * step - current) > step / 2:
            break
    value = min(max(lo + k * step, lo), hi)
    return float(round(value)) if getattr(p, "data_type", None) == Slider.INT else round(value, 10)


# ---------------------------------------------------------------------------------------------
# One session


@dataclass
class Run:
    """One rerun this session asked for: a page load or a move."""

    kind: str  # "load" or "move"
    t0: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started: bool = False  # new_session seen
    t_image: float | None = None
    image_url: str | None = None
    t_finished: float | None = None
    status: int | None = None
    failure: str | None = None


class Session:
    """A browser tab, reduced to its websocket."""

    def __init__(
        self, idx: int, cfg: Config, stats: Stats, deadline: float, timeout: float = TIMEOUT_S
    ) -> None:
        self.idx = idx
        self.timeout = timeout
        self.cfg = cfg
        self.stats = stats
        self.deadline = deadline
        self.rng = random.Random(cfg.seed * 1000 + idx)
        self.states: dict[str, WidgetState] = {}  # widget id -> state the browser holds
        self.protos: dict[str, tuple[str, object]] = {}  # widget id -> (kind, last proto)
        self.seen: set[str] = set()  # widget ids drawn in the current run
        self.page_script_hash = ""
        self.session_id: str | None = None
        self.run: Run | None = None
        self.last_image_url: str | None = None
        self.closed = False
        stats.new_images.setdefault(idx, 0)

    # -- receiving -------------------------------------------------------------------------
    async def reader(self, ws) -> None:
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    self.stats.error("protocol", f"session {self.idx}: text frame")
                    continue
                self.handle(ForwardMsg.FromString(raw))
        except ConnectionClosed as exc:
            if not self.closed:
                self.stats.error("websocket", f"session {self.idx}: closed ({exc})")
        except Exception as exc:  # noqa: BLE001 - a broken message is a counted error
            self.stats.error("websocket", f"session {self.idx}: {type(exc).__name__}: {exc}")
        finally:
            if not self.closed:
                self.closed = True
                if self.run is not None and not self.run.done.is_set():
                    self.run.failure = "connection lost"
                    self.run.done.set()

    def handle(self, msg: ForwardMsg) -> None:
        now = time.perf_counter()
        kind = msg.WhichOneof("type")
        run = self.run
        if kind == "new_session":
            ns = msg.new_session
            if ns.initialize.session_id:
                self.session_id = ns.initialize.session_id
            self.page_script_hash = ns.page_script_hash or self.page_script_hash
            self.seen = set()
            if run is not None:
                run.started = True
        elif kind == "delta":
            self.handle_delta(msg, now)
        elif kind == "script_finished":
            status = msg.script_finished
            if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return  # superseded by another run, which will finish in its turn
            self.stats.reruns += 1
            if status == ForwardMsg.FINISHED_SUCCESSFULLY:
                # The browser forgets the widgets a full run did not draw.
                for wid in set(self.states) - self.seen:
                    self.states.pop(wid, None)
                    self.protos.pop(wid, None)
            else:
                if status not in SUCCESS:
                    name = ForwardMsg.ScriptFinishedStatus.Name(status)
                    self.stats.error("run-status", f"session {self.idx}: {name}")
            if run is not None and not run.done.is_set():
                run.t_finished, run.status = now, status
                run.done.set()
        elif kind == "session_event":
            if msg.session_event.HasField("script_compilation_exception"):
                exc = msg.session_event.script_compilation_exception
                self.stats.error("exception", f"session {self.idx}: {exc.type}: {exc.message}")
        elif kind == "page_not_found":
            self.stats.error("page-not-found", f"session {self.idx}")

    def handle_delta(self, msg: ForwardMsg, now: float) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        etype = element.WhichOneof("type")
        if etype == "exception":
            exc = element.exception
            if not exc.is_warning:
                self.stats.error("exception", f"session {self.idx}: {exc.type}: {exc.message}")
        elif etype == "alert" and element.alert.format == Alert.ERROR:
            # st.error: a message for the student (e.g. a dose limit), counted, not a failure
            self.stats.error_alerts += 1
            if len(self.stats.alert_texts) < MAX_ERROR_TEXTS:
                self.stats.alert_texts.add(element.alert.body[:200])
        elif etype == "imgs":
            path = list(msg.metadata.delta_path)
            run = self.run
            if path and path[0] == MAIN and run is not None and run.t_image is None:
                run.t_image = now
                run.image_url = element.imgs.imgs[0].url if element.imgs.imgs else ""
        elif etype in WIDGET_KINDS:
            p = getattr(element, etype)
            if not p.id:
                return
            self.seen.add(p.id)
            self.protos[p.id] = (etype, p)
            if p.id not in self.states or p.set_value:
                state = widget_state(etype, p, use_value=p.set_value)
                if state is not None:
                    self.states[p.id] = state

    # -- sending ---------------------------------------------------------------------------
    def back_msg(self) -> bytes:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        cs.page_script_hash = self.page_script_hash
        cs.widget_states.widgets.extend(self.states.values())
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url, ci.is_embedded, ci.color_scheme = self.cfg.page_url, False, "light"
        return msg.SerializeToString()

    async def rerun(self, ws, kind: str) -> Run | None:
        """Send one rerun with every widget state and wait (bounded) for it to finish."""
        run = Run(kind=kind, t0=time.perf_counter())
        self.run = run
        await ws.send(self.back_msg())
        try:
            await asyncio.wait_for(run.done.wait(), self.timeout)
        except TimeoutError:
            self.stats.error("timeout", f"session {self.idx}: {kind} took over {self.timeout:g} s")
            return None
        if run.failure is not None:
            return None  # counted by the reader
        return run

    def find_knob(self) -> tuple[str, object] | None:
        """The enabled slider whose id carries the knob's key: ends with ``-<key>`` (ids are
        ``$$ID-<hash>-<key>``), else contains it. Number inputs are accepted too."""
        key = self.cfg.knob
        for pick in (lambda w: w.endswith("-" + key), lambda w: key in w):
            for wid, (etype, p) in self.protos.items():
                if pick(wid) and etype in ("slider", "number_input") and not p.disabled:
                    return wid, p
        return None

    async def move(self, ws) -> bool:
        """Move the knob to a new value; False when the session cannot go on."""
        found = self.find_knob()
        if found is None:
            self.stats.error("knob", f"session {self.idx}: no enabled slider {self.cfg.knob!r}")
            return False
        wid, p = found
        state = self.states.get(wid)
        if state is not None and state.WhichOneof("value") == "double_array_value":
            current = state.double_array_value.data[0] if state.double_array_value.data else None
        elif state is not None and state.WhichOneof("value") == "double_value":
            current = state.double_value
        else:
            current = None
        value = grid_value(p, current, self.rng)
        new = WidgetState(id=wid)
        if self.protos[wid][0] == "slider":
            new.double_array_value.data.append(value)
        else:
            new.double_value = value
        self.states[wid] = new
        self.stats.moves += 1
        run = await self.rerun(ws, "move")
        if run is None:
            return False
        self.stats.finished_s.append(run.t_finished - run.t0)
        if run.t_image is None:
            self.stats.moves_without_image += 1
        else:
            self.stats.image_s.append(run.t_image - run.t0)
            if run.image_url != self.last_image_url:
                self.stats.new_images[self.idx] += 1
            self.last_image_url = run.image_url
        return True

    async def main(self) -> None:
        headers = {"User-Agent": "fluorosim-loadtest"}
        try:
            async with connect(
                self.cfg.ws_url,
                subprotocols=[Subprotocol("streamlit"), Subprotocol("PLACEHOLDER_AUTH_TOKEN")],
                origin=self.cfg.origin,
                additional_headers=headers,
                proxy=None,
                open_timeout=TIMEOUT_S,
                close_timeout=5,
                max_size=None,
            ) as ws:
                reader = asyncio.create_task(self.reader(ws))
                try:
                    await self.session(ws)
                finally:
                    self.closed = True
                    await ws.close()
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
        except (OSError, WebSocketException, TimeoutError) as exc:
            if not self.closed:
                self.stats.error("websocket", f"session {self.idx}: {type(exc).__name__}: {exc}")

    async def session(self, ws) -> None:
        run = await self.rerun(ws, "load")
        if run is None:
            return
        self.stats.load_s.append(run.t_finished - run.t0)
        self.last_image_url = run.image_url
        pause = self.rng.uniform(0.0, self.cfg.think)  # staggered first move
        while time.perf_counter() + pause < self.deadline:
            await asyncio.sleep(pause)
            if self.closed or not await self.move(ws):
                return
            pause = self.rng.expovariate(1.0 / self.cfg.think) if self.cfg.think > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# The server and its memory


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: SIGTERM when the load test dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_server(port: int, log) -> subprocess.Popen:
    venv_python = REPO / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    cmd = [
        python, "-m", "streamlit", "run", "app.py",
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches only us; we stop the server ourselves
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait_healthy(base: str, proc: subprocess.Popen | None, timeout: float) -> None:
    end = time.monotonic() + timeout
    url = base.rstrip("/") + "/_stcore/health"
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with _OPENER.open(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            kids += [int(x) for x in task.read_text().split()]
    return kids


def tree_rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` and all its descendants (psutil if present, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            p = psutil.Process(pid)
            procs = [p, *p.children(recursive=True)]
            return sum(q.memory_info().rss for q in procs if q.is_running())
        except psutil.Error:
            return None
    total, todo, done = 0, [pid], set()
    while todo and len(done) < 1000:
        q = todo.pop()
        if q in done:
            continue
        done.add(q)
        try:
            for line in Path(f"/proc/{q}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            if q == pid:
                return None
            continue
        todo += _children(q)
    return total


def listening_pid(port: int) -> int | None:
    """The pid listening on 127.0.0.1:``port`` (for ``--url``), if this user can see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].split(":")[1], 16) == port:
                    inodes.add(cols[9])
    if not inodes:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return int(proc.name)
    return None


async def sample_rss(pid: int | None, stats: Stats, stop: asyncio.Event) -> None:
    while pid is not None and not stop.is_set():
        rss = await asyncio.to_thread(tree_rss_bytes, pid)
        if rss is not None:
            stats.peak_rss_bytes = max(stats.peak_rss_bytes or 0, rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_S)


# ---------------------------------------------------------------------------------------------
# The test


@dataclass
class Config:
    sessions: int
    duration: float
    think: float
    knob: str
    base_url: str  # http://127.0.0.1:PORT[/base]
    seed: int
    warmup: bool

    @property
    def ws_url(self) -> str:
        u = urllib.parse.urlsplit(self.base_url)
        return f"ws://{u.netloc}{u.path.rstrip('/')}/_stcore/stream"

    @property
    def origin(self):
        u = urllib.parse.urlsplit(self.base_url)
        return f"{u.scheme}://{u.netloc}"

    @property
    def page_url(self) -> str:
        return self.base_url.rstrip("/") + "/"


async def drive(cfg: Config, server_pid: int | None) -> tuple[Stats, float]:
    if cfg.warmup:  # one page load first, so the numbers are not the server's cold start
        warm = Stats()
        await Session(-1, cfg, warm, deadline=0.0, timeout=3 * TIMEOUT_S).main()
    stats = Stats()
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(server_pid, stats, stop))
    t0 = time.perf_counter()
    deadline = t0 + cfg.duration
    sessions = [Session(i, cfg, stats, deadline) for i in range(cfg.sessions)]
    tasks = [asyncio.create_task(s.main()) for s in sessions]
    # Every session ends by itself (bounded waits); this is the backstop.
    done, pending = await asyncio.wait(tasks, timeout=cfg.duration + 3 * TIMEOUT_S + 30)
    for t in pending:
        stats.error("timeout", "a session did not end in time; cancelled")
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for t in done:
        if t.exception() is not None:
            stats.error("client", f"{type(t.exception()).__name__}: {t.exception()}")
    # The window is the test duration, longer if the last reruns ran past it (sessions whose
    # next move would fall after the deadline stop early, as if still thinking).
    elapsed = max(time.perf_counter() - t0, cfg.duration)
    stop.set()
    await sampler
    return stats, elapsed


def summary(cfg: Config, stats: Stats, elapsed: float) -> dict:
    per_session = [stats.new_images.get(i, 0) for i in range(cfg.sessions)]
    return {
        "sessions": cfg.sessions,
        "duration_s": cfg.duration,
        "think_s": cfg.think,
        "knob": cfg.knob,
        "url": cfg.base_url,
        "moves": stats.moves,
        "p50_image_s": percentile(stats.image_s, 50),
        "p95_image_s": percentile(stats.image_s, 95),
        "p95_finished_s": percentile(stats.finished_s, 95),
        "p50_finished_s": percentile(stats.finished_s, 50),
        "p95_load_s": percentile(stats.load_s, 95),
        "loads": len(stats.load_s),
        "moves_without_image": stats.moves_without_image,
        "new_images_per_session": per_session,
        "reruns": stats.reruns,
        "reruns_per_s": stats.reruns / elapsed if elapsed > 0 else 0.0,
        "peak_rss_mb": stats.peak_rss_bytes / 2**20 if stats.peak_rss_bytes else None,
        "errors": stats.error_count,
        "error_kinds": stats.errors,
        "error_samples": stats.error_texts,
        "error_alerts": stats.error_alerts,
        "error_alert_texts": sorted(stats.alert_texts),
        "elapsed_s": elapsed,
    }


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{1000 * v:.0f} ms"


def report(s: dict) -> str:
    rss = "-" if s["peak_rss_mb"] is None else f"{s['peak_rss_mb']:.0f} MB"
    lines = [
        f"fluorosim load test: {s['sessions']} sessions, {s['duration_s']:g} s, "
        f"mean think {s['think_s']:g} s, knob {s['knob']} ({s['url']})",
        f"  moves                     {s['moves']} ({s['moves_without_image']} without a main "
        f"image); page loads {s['loads']}, p95 {_ms(s['p95_load_s'])}",
        f"  time to new main image    p50 {_ms(s['p50_image_s'])}   p95 {_ms(s['p95_image_s'])}",
        f"  time to finished rerun    p50 {_ms(s['p50_finished_s'])}   "
        f"p95 {_ms(s['p95_finished_s'])}",
        f"  reruns per second         {s['reruns_per_s']:.2f} (server total, "
        f"{s['reruns']} in {s['elapsed_s']:.1f} s)",
        f"  peak server RSS           {rss}",
        f"  new images per session    min {min(s['new_images_per_session'], default=0)}, "
        f"max {max(s['new_images_per_session'], default=0)}",
        f"  errors                    {s['errors']}"
        + (f" {s['error_kinds']}" if s["errors"] else ""),
    ]
    lines += [f"    {t}" for t in s["error_samples"]]
    return "\n".join(lines)


def local_base_url(url: str) -> str:
    u = urllib.parse.urlsplit(url if "//" in url else "http://" + url)
    if u.scheme != "http" or u.hostname not in LOCAL_HOSTS or u.port is None:
        raise SystemExit(f"--url must be http://127.0.0.1:PORT[/path], not {url!r}")
    return f"http://127.0.0.1:{u.port}{u.path.rstrip('/')}"


def _sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=30, help="concurrent sessions (30)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of moves (60)")
    ap.add_argument("--think", type=float, default=3.0, help="mean think time [s] (3)")
    ap.add_argument("--knob", default="patient.thickness_cm", help="widget key of the slider")
    ap.add_argument("--url", help="use a running server, e.g. http://127.0.0.1:8501")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--seed", type=int, default=1, help="random seed (1)")
    ap.add_argument("--no-warmup", action="store_true", help="no page load before the test")
    args = ap.parse_args(argv)
    if args.sessions < 1 or args.duration <= 0 or args.think < 0:
        ap.error("--sessions >= 1, --duration > 0 and --think >= 0")

    signal.signal(signal.SIGTERM, _sigterm)
    proc = None
    log = tempfile.TemporaryFile()
    try:
        if args.url:
            base = local_base_url(args.url)
            wait_healthy(base, None, 10.0)
            server_pid = listening_pid(urllib.parse.urlsplit(base).port)
        else:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = start_server(port, log)
            server_pid = proc.pid
            wait_healthy(base, proc, HEALTH_TIMEOUT_S)
        cfg = Config(
            args.sessions, args.duration, args.think, args.knob, base, args.seed, not args.no_warmup
        )
        stats, elapsed = asyncio.run(drive(cfg, server_pid))
    except RuntimeError as exc:
        log.seek(0)
        tail = log.read().decode(errors="replace")[-3000:]
        print(f"loadtest: {exc}\n{tail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loadtest: interrupted", file=sys.stderr)
        return 130
    finally:
        if proc is not None:
            stop_server(proc)
        log.close()
    s = summary(cfg, stats, elapsed)
    print(json.dumps(s, indent=2) if args.json else report(s))
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
