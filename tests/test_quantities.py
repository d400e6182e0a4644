"""The quantity table: every reported key declared once, units matching the keys, rounding."""

import json
import re

import pytest

import sim
from sim.__main__ import main
from sim.quantities import QUANTITIES, SECTIONS, Quantity, labelled, quantity, significant

SMALL = {"run.image_px": 64, "run.fluoro_time_s": 1.0}

# The unit a key's name promises by its ending (longest ending first wins). Written once here
# and checked against the declarations; a key with none of these endings must not claim any of
# these units either.
UNIT_BY_SUFFIX = {
    "mGy_per_min": "mGy/min",
    "Gycm2_per_min": "Gy·cm²/min",
    "uGycm2_per_frame": "µGy·cm²",
    "uGy_per_frame": "µGy",
    "nGy_per_frame": "nGy",
    "uGy_per_s": "µGy/s",
    "mSv_per_Gycm2": "mSv/(Gy·cm²)",
    "Gycm2": "Gy·cm²",
    "mGy": "mGy",
    "uGy": "µGy",
    "mSv": "mSv",
    "frames_per_s": "frames/s",
    "pps": "pulses/s",
    "mas_per_frame": "mAs",
    "mm_al": "mm Al",
    "mm": "mm",
    "ms": "ms",
    "s": "s",
    "kvp": "kV",
    "ma": "mA",
}


def promised_unit(name: str) -> str | None:
    for suffix in sorted(UNIT_BY_SUFFIX, key=len, reverse=True):
        if name == suffix or name.endswith("_" + suffix):
            return UNIT_BY_SUFFIX[suffix]
    return None


def keys_of(summary: dict) -> set[str]:
    return {f"{section}.{name}" for section, values in summary.items() for name in values}


@pytest.fixture(scope="module")
def summaries() -> list[dict]:
    out = []
    for p in (sim.Params(), sim.preset_params("cardiac_cath")):
        for abc in (True, False):
            q = p.replace(**SMALL, **{"abc.enabled": abc})
            out += [sim.simulate(q).summary(), sim.run(q).summary()]
    return out


def test_every_reported_key_is_declared_and_every_declaration_is_reported(summaries):
    produced = set().union(*(keys_of(s) for s in summaries))
    assert produced - set(QUANTITIES) == set(), "reported but not declared"
    assert set(QUANTITIES) - produced == set(), "declared but never reported"
    for key in ("technique.abc_limited", "technique.abc_solves", "metrics.pulses"):
        assert key in produced
    for s in summaries:
        rows = labelled(s)
        assert [q.key for q, _ in rows] == [
            f"{sec}.{name}" for sec in SECTIONS for name in s.get(sec, {})
        ]
        assert all(q.format(v) for q, v in rows)


def test_labels_are_for_people_not_raw_keys():
    for key, q in QUANTITIES.items():
        assert q.key == key and q.section in SECTIONS
        assert q.label not in (key, q.name)
        assert not re.fullmatch(r"[a-z0-9_.]+", q.label), q.label
        assert q.meaning and "\n" not in q.meaning and len(q.meaning) < 100
        assert q.digits >= 1 and isinstance(q.digits, int)
    for section in SECTIONS:
        labels = [q.label for q in QUANTITIES.values() if q.section == section]
        assert len(labels) == len(set(labels)), f"duplicate labels in {section}"
    assert quantity("dose.kar_rate_mGy_per_min").label == "Ka,r rate"
    assert quantity("dose.kap_Gycm2").label == "Kerma-area product"
    assert quantity("metrics.cnr").label == "Contrast-to-noise ratio"


def test_units_match_the_key_suffix():
    table_units = set(UNIT_BY_SUFFIX.values())
    for key, q in QUANTITIES.items():
        promised = promised_unit(q.name)
        if promised is None:
            assert q.unit not in table_units, f"{key}: unit {q.unit!r} but no unit in its name"
        else:
            assert q.unit == promised, f"{key}: unit {q.unit!r}, name promises {promised!r}"
    assert quantity("dose.receptor_nGy_per_frame").unit == "nGy"
    assert quantity("dose.kap_Gycm2").unit == "Gy·cm²"
    assert quantity("metrics.cnr").unit == ""


def test_format_rounds_to_significant_digits():
    q = Quantity("dose.kar_rate_mGy_per_min", "Ka,r rate", "mGy/min", "test", 3)
    assert q.format(15.311878523629282) == "15.3 mGy/min"
    assert q.format(15.311878523629282, unit=False) == "15.3"
    assert q.format(0.0) == "0 mGy/min"
    assert q.format(99.96) == "100 mGy/min"
    assert q.format(float("nan")) == "n/a"
    assert q.format(None) == "n/a"
    assert significant(1594125.3, 3) == "1590000"
    assert significant(0.0039725, 2) == "0.004"
    assert significant(-0.012345, 3) == "-0.0123"
    assert significant(1.234567e-7, 3) == "1.23e-07"
    assert significant(2.5e9, 2) == "2.5e+09"
    with pytest.raises(ValueError):
        significant(1.0, 0)


def test_format_flags_text_and_counts():
    import numpy as np

    assert quantity("dose.over_limit").format(False) == "no"
    assert quantity("dose.srdl_any").format(np.True_) == "yes"
    assert quantity("dose.reaction_band").format("A2") == "A2"
    assert quantity("dose.frames").format(900) == "900"
    assert quantity("dose.frames").format(np.int64(12345678)) == "12345678"
    assert quantity("technique.kvp").format(np.float32(85.572976)) == "85.6 kV"
    with pytest.raises(ValueError, match="dose.frames"):
        quantity("dose.frames").format([1, 2])


def test_unknown_key_names_it_and_suggests():
    with pytest.raises(ValueError, match=r"'dose.kar_rate'.*did you mean.*kar_rate_mGy_per_min"):
        quantity("dose.kar_rate")
    with pytest.raises(ValueError, match="unknown sections"):
        labelled({"doses": {}})


LONG_NUMBER = re.compile(r"\d*\.?\d+(?:e[-+]?\d+)?")


def too_precise(text: str) -> list[str]:
    """Numbers in ``text`` with more than 6 significant digits."""
    out = []
    for m in LONG_NUMBER.findall(text):
        mantissa = m.split("e")[0]
        digits = mantissa.replace(".", "").lstrip("0")
        if "." not in mantissa:
            digits = digits.rstrip("0")
        if len(digits) > 6:
            out.append(m)
    return out


@pytest.mark.parametrize("sequence", [False, True])
def test_cli_text_is_labelled_and_rounded(capsys, sequence):
    args = ["run", "--set", "run.image_px=64", "--set", "run.fluoro_time_s=1"]
    assert main(args + (["--sequence"] if sequence else [])) == 0
    text = capsys.readouterr().out
    assert "Ka,r rate [mGy/min]: " in text
    assert "Kerma-area product [Gy·cm²]: " in text
    assert "kar_rate_mGy_per_min" not in text
    lines = text.splitlines()
    assert [line for line in lines if not line.startswith("  ")] == list(SECTIONS.values())
    assert too_precise(text) == []
    assert too_precise(f"x: {15.311878523629282}") == ["15.311878523629282"]  # the check bites


def test_cli_json_keeps_raw_keys_and_full_precision(capsys):
    args = ["run", "--set", "run.image_px=64", "--set", "run.fluoro_time_s=1", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    p = sim.Params().replace(**SMALL)
    assert report == json.loads(json.dumps(sim.simulate(p).summary()))
    assert "kar_rate_mGy_per_min" in report["dose"]
