"""The websocket load test (tools/loadtest.py), short form: 5 sessions for 10 s move the
thickness slider; no errors, and every session gets at least one new main image."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_loadtest_short():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "loadtest.py"), "--sessions", "5",
         "--duration", "10", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["errors"] == 0, result["error_samples"]
    assert proc.returncode == 0
    assert result["loads"] == 5
    assert result["moves"] >= 5
    assert len(result["new_images_per_session"]) == 5
    assert min(result["new_images_per_session"]) >= 1, result
    assert result["p95_image_s"] is not None and result["p95_image_s"] < 30
    assert result["reruns_per_s"] > 0
