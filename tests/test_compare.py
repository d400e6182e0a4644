"""A/B breakdown: telescoping factors, one cause per knob, and the physics each cause carries."""

import math
from collections import Counter

import pytest

import sim
from sim.compare import CAUSES, DEFAULT_KEYS, Breakdown, breakdown
from sim.params import KNOBS

KAR_RATE = "dose.kar_rate_mGy_per_min"
SKIN = "dose.skin_dose_mGy"
KAP = "dose.kap_Gycm2"
SPR = "metrics.spr_after_grid"

BASE = sim.Params().replace(**{"run.image_px": 128})
MANUAL = BASE.replace(**{"abc.enabled": False})


def counting(calls: list):
    def simulate(p):
        calls.append(p)
        return sim.simulate(p)

    return simulate


def product(factors) -> float:
    return math.prod(factors)


def test_every_knob_belongs_to_exactly_one_cause():
    counts = Counter(k for c in CAUSES for k in c.knobs)
    assert set(counts) == set(KNOBS)
    assert [k for k, n in counts.items() if n != 1] == []
    labels = [c.label for c in CAUSES]
    assert len(labels) == len(set(labels)) and labels[-1] == "other settings"


@pytest.fixture(scope="module")
def far_apart() -> tuple[sim.Params, sim.Params, Breakdown]:
    """The adult hip against a cardiac case without grid: most causes change."""
    b = sim.preset_params("cardiac_cath").replace(
        **{
            "run.image_px": 128,
            "grid.enabled": False,
            "geometry.fov_cm": 25.0,
            "filtration.cu_mm": 0.3,
            "receptor.kind": "image_intensifier",
        }
    )
    return BASE, b, breakdown(BASE, b)


def test_factors_telescope_to_b_over_a(far_apart):
    a, b, bd = far_apart
    assert bd.causes == tuple(c.label for c in CAUSES)  # no merge needed here
    assert sum(bd.changed) >= 6
    ra, rb = sim.simulate(a), sim.simulate(b)
    for key in DEFAULT_KEYS:
        assert bd.defined[key]
        assert len(bd.factors[key]) == len(bd.causes)
        assert product(bd.factors[key]) == pytest.approx(bd.total[key], rel=1e-9)
        assert bd.total[key] == pytest.approx(bd.b[key] / bd.a[key], rel=1e-12)
        section, name = key.split(".")
        independent = getattr(rb, section)[name] / getattr(ra, section)[name]
        assert bd.total[key] == pytest.approx(independent, rel=0.01)
    for i, changed in enumerate(bd.changed):
        if not changed:
            assert all(bd.factors[k][i] == 1.0 for k in DEFAULT_KEYS)


def test_inverse_square_moves_skin_dose_not_kar():
    # Ka,r is defined at the fixed IRP (15 cm before the isocentre): moving the patient
    # toward the source raises the skin dose by the inverse square, not the Ka,r.
    b = MANUAL.replace(**{"geometry.source_skin_cm": 45.0})
    bd = breakdown(MANUAL, b)
    assert bd.causes[bd.changed.index(True)] == "inverse square" and sum(bd.changed) == 1
    assert bd.factor(KAR_RATE, "inverse square") == pytest.approx(1.0, abs=1e-12)
    assert bd.factor(KAP, "inverse square") == pytest.approx(1.0, abs=1e-12)
    assert bd.factor(SKIN, "inverse square") == pytest.approx((60 / 45) ** 2, rel=0.05)


def test_doubling_the_pulse_rate_doubles_the_kar_rate():
    b = MANUAL.replace(**{"tube.pulse_rate_pps": 30.0})
    bd = breakdown(MANUAL, b)
    assert bd.factor(KAR_RATE, "pulse rate") == pytest.approx(2.0, rel=0.01)
    assert bd.factor("metrics.cnr", "pulse rate") == pytest.approx(1.0, rel=1e-9)  # per frame


def test_removing_the_grid_with_abc_lowers_kar_and_raises_spr():
    bd = breakdown(BASE, BASE.replace(**{"grid.enabled": False}))
    assert bd.factor(KAR_RATE, "grid") < 0.8  # ABC no longer makes up for the grid's loss
    assert bd.factor(SPR, "grid") > 2.0
    assert bd.factor("metrics.cnr", "grid") < 1.0


def test_halving_the_field_side_quarters_the_kap():
    bd = breakdown(MANUAL, MANUAL.replace(**{"geometry.field_cm": 10.0}))
    assert bd.factor(KAP, "collimation") == pytest.approx(0.25, rel=0.05)
    assert bd.factor(KAR_RATE, "collimation") == pytest.approx(1.0, abs=1e-12)
    assert bd.factor(SPR, "collimation") < 1.0


def test_invalid_intermediate_state_merges_causes():
    # 40 cm of patient does not fit 60 cm from the source with a 100 cm SID; it does at 45 cm.
    b = BASE.replace(**{"patient.thickness_cm": 40.0, "geometry.source_skin_cm": 45.0})
    bd = breakdown(BASE, b)
    assert "patient attenuation + inverse square" in bd.causes
    assert "patient attenuation" not in bd.causes and "inverse square" not in bd.causes
    i = bd.causes.index("patient attenuation + inverse square")
    assert set(bd.knobs[i]) == {"patient.thickness_cm", "geometry.source_skin_cm"}
    for key in DEFAULT_KEYS:
        assert product(bd.factors[key]) == pytest.approx(bd.total[key], rel=1e-9)


def test_unchanged_causes_met_during_a_merge_are_kept_once():
    # A 45 cm field of view does not fit an image intensifier: FOV waits for the receptor.
    a = MANUAL.replace(**{"receptor.kind": "image_intensifier", "geometry.fov_cm": 30.0})
    b = MANUAL.replace(**{"geometry.fov_cm": 45.0})
    calls: list = []
    bd = breakdown(a, b, simulate=counting(calls))
    assert "magnification / FOV + receptor" in bd.causes
    parts = [part for label in bd.causes for part in label.split(" + ")]
    assert sorted(parts) == sorted(c.label for c in CAUSES)
    assert len(calls) == 2 and sum(bd.changed) == 1
    assert calls[-1] == b


def test_nothing_changed_simulates_once():
    calls: list = []
    bd = breakdown(BASE, BASE, simulate=counting(calls))
    assert len(calls) == 1 and not any(bd.changed)
    assert all(f == 1.0 for key in DEFAULT_KEYS for f in bd.factors[key])
    assert bd.total == dict.fromkeys(DEFAULT_KEYS, 1.0) and bd.a == bd.b


def test_one_simulation_per_changed_cause():
    b = MANUAL.replace(**{"tube.pulse_rate_pps": 7.5, "grid.ratio": 12.0, "tube.kvp": 90.0})
    calls: list = []
    bd = breakdown(MANUAL, b, simulate=counting(calls))
    assert len(calls) == 1 + sum(bd.changed) == 4
    assert [c for c, ch in zip(bd.causes, bd.changed, strict=True) if ch] == [
        "pulse rate",
        "grid",
        "manual technique",
    ]


def test_zero_before_a_step_gives_nan_and_says_so():
    a = MANUAL.replace(**{"scatter.enabled": False})
    bd = breakdown(a, a.replace(**{"tube.pulse_rate_pps": 30.0}))
    assert bd.a[SPR] == 0.0 and bd.b[SPR] == 0.0
    assert math.isnan(bd.factor(SPR, "pulse rate")) and math.isnan(bd.total[SPR])
    assert bd.defined[SPR] is False
    assert bd.defined[KAR_RATE] is True


def test_runs_break_down_too():
    small = MANUAL.replace(
        **{"run.image_px": 64, "run.fluoro_time_s": 1.0, "run.max_frames": 4}
    )  # 15 pulses in 1 s; 10 p/s: 20 pulses in 2 s
    b = small.replace(**{"run.fluoro_time_s": 2.0, "tube.pulse_rate_pps": 10.0})
    bd = breakdown(small, b, keys=("dose.kar_mGy", KAR_RATE), simulate=sim.run)
    assert bd.factor("dose.kar_mGy", "pulse rate") == pytest.approx(10 / 15, rel=1e-6)
    assert bd.factor("dose.kar_mGy", "fluoroscopy time") == pytest.approx(2.0, rel=1e-6)
    assert bd.factor(KAR_RATE, "fluoroscopy time") == pytest.approx(1.0, rel=1e-9)
    assert product(bd.factors["dose.kar_mGy"]) == pytest.approx(bd.total["dose.kar_mGy"])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"keys": ("dose.kar_rate",)}, "did you mean"),
        ({"keys": ("dose.region",)}, "not a number"),
        ({"keys": ()}, "keys is empty"),
    ],
)
def test_bad_keys_fail_with_a_message(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        breakdown(BASE, BASE, **kwargs)


def test_bad_params_and_unknown_cause():
    with pytest.raises(ValueError, match="two sim.Params"):
        breakdown(BASE, {"tube.kvp": 90})
    bd = breakdown(BASE, BASE)
    with pytest.raises(ValueError, match="no cause"):
        bd.factor(KAP, "magic")
