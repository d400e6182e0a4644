"""The engine keeps one module per responsibility: none grows past 1,000 lines (issue 8)."""

from __future__ import annotations

from pathlib import Path

MAX_LINES = 1000


def test_no_module_of_the_engine_is_over_1000_lines():
    root = Path(__file__).resolve().parents[1] / "sim"
    sizes = {p.relative_to(root): len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    assert len(sizes) > 20
    too_long = {str(p): n for p, n in sizes.items() if n > MAX_LINES}
    assert not too_long, too_long
