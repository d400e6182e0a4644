"""Sources live in the repository: no citation points outside it, every cited key exists.

Code, tests, data headers and the README cite sources as ``docs/references.md [FANC]``; the
entries (and the tables of published values the tests check) are in ``docs/references.md``.
A clone must hold everything it cites, so no file names a document or path outside the repo.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"

SCANNED = ("sim", "classroom", "tools", "tests", "docs", "assets", "deploy", ".streamlit")
"""Folders whose text files are checked (recursively)."""

SCANNED_FILES = ("app.py", "README.md", "Makefile", "pyproject.toml")
"""Single files at the repository root that are checked."""

TEXT_SUFFIXES = {".py", ".md", ".toml", ".csv", ".json", ".txt", ".conf", ".cfg", ".svg", ".ini"}
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv"}

# Written in pieces so that this file does not match its own patterns.
OUTSIDE = {
    "the project's table of published values outside the repo": "PUBLISHED" + r"\.md",
    "the design notes outside the repo": "DESIGN" + r"\.md",
    "the Streamlit notes outside the repo": "STREAMLIT-NOTES" + r"\.md",
    "a path to a sibling folder of the repo": r"\.\." + "/shared",
    "an absolute path of the build machine": "/" + "work/",
}

CITE = re.compile(r"docs/references\.md")
KEY = re.compile(r"\[([^\[\]\n]+)\]")
SEPARATOR = re.compile(r"[\s,;#\"*]*")


def _text_files() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for folder in SCANNED:
        base = ROOT / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
                continue
            if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
                files.append(path)
    return files


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _cited_keys(text: str) -> list[str]:
    """Keys in ``docs/references.md [FANC], [Bushberg2012]`` citations (brackets right after
    the path, separated by commas, semicolons, spaces, line breaks or comment marks)."""
    keys = []
    for match in CITE.finditer(text):
        pos = match.end()
        while True:
            sep = SEPARATOR.match(text, pos)
            key = KEY.match(text, sep.end())
            if key is None:
                break
            keys.append(key.group(1))
            pos = key.end()
    return keys


def _defined_keys() -> set[str]:
    text = _read(REFERENCES)
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    labels = set(re.findall(r"\*\*\[([^\]\n]+)\]\*\*", text))
    return anchors | labels


def test_references_file_exists_with_anchors():
    """docs/references.md exists, and each entry has a unique anchor matching its label."""
    assert REFERENCES.is_file(), "docs/references.md is missing"
    text = _read(REFERENCES)
    anchors = re.findall(r'<a id="([^"]+)"></a>', text)
    duplicates = sorted({a for a in anchors if anchors.count(a) > 1})
    assert not duplicates, f"anchors defined twice in docs/references.md: {duplicates}"
    labels = set(re.findall(r"\*\*\[([^\]\n]+)\]\*\*", text))
    labels |= set(re.findall(r"</a>\[([^\]\n]+)\]", text))
    assert labels == set(anchors), (
        "labels without an anchor or anchors without a label: "
        f"{sorted(labels.symmetric_difference(anchors))}"
    )


@pytest.mark.parametrize("what", sorted(OUTSIDE))
def test_nothing_points_outside_the_repo(what):
    """No file in the package, tests, tools, app, data or docs cites a document outside it."""
    pattern = re.compile(OUTSIDE[what])
    hits = []
    for path in _text_files():
        for number, line in enumerate(_read(path).splitlines(), start=1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, f"{what} is cited (cite docs/references.md instead):\n" + "\n".join(hits)


def test_every_cited_key_exists():
    """Every key cited anywhere after ``docs/references.md`` names an entry of that file."""
    defined = _defined_keys()
    cited: dict[str, list[str]] = {}
    for path in _text_files():
        for key in _cited_keys(_read(path)):
            cited.setdefault(key, []).append(str(path.relative_to(ROOT)))
    assert cited, "no file cites a key of docs/references.md"
    missing = {k: sorted(set(v)) for k, v in cited.items() if k not in defined}
    assert not missing, f"keys cited but not defined in docs/references.md: {missing}"


def test_cited_key_parser():
    """The citation parser reads comma lists, wrapped comment lines, and stops at prose."""
    text = (
        "see docs/references.md [FANC], [Tab-ReceptorDose]; more\n"
        "# grid (docs/references.md\n# [Tab-ScatterGrid]) and [NotACitation]\n"
        "[docs/references.md](docs/references.md) [Link]"
    )
    assert _cited_keys(text) == ["FANC", "Tab-ReceptorDose", "Tab-ScatterGrid"]
