"""Generator and tube ratings: manual techniques beyond them are refused by name, ABC keeps
every technique it tries within them, defaults and presets are valid."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim import brightness as abc
from sim import tube
from sim.params import Params
from sim.presets import PRESETS

MANUAL = {"abc.enabled": False}
RATES_PPS = (0.5, 1.0, 3.0, 7.5, 15.0, 30.0)


def manual(**knobs) -> Params:
    return Params().replace(**MANUAL, **{k.replace("__", "."): v for k, v in knobs.items()})


def test_the_issue_example_is_refused_with_knobs_value_rating_and_fix():
    with pytest.raises(ValueError) as err:
        manual(tube__kvp=150.0, tube__ma=1000.0)
    msg = str(err.value)
    assert "tube.kvp × tube.ma = 150 kV × 1000 mA = 150 kW" in msg
    assert "generator's 80 kW rating" in msg
    allowed = tube.max_ma(150.0, 8.0, 15.0, continuous=False)
    assert f"lower tube.ma to at most {math.floor(allowed * 10) / 10:g} mA at 150 kV" in msg
    # the advice is enough: the value it names is accepted
    manual(tube__kvp=150.0, tube__ma=math.floor(allowed * 10) / 10)


@pytest.mark.parametrize(
    ("knobs", "needle"),
    [
        # generator power during a pulse (short, slow pulses: only the peak bites)
        ({"tube.kvp": 100.0, "tube.ma": 900.0, "tube.pulse_ms": 1.0, "tube.pulse_rate_pps": 1.0},
         "generator's 80 kW rating"),
        # energy of one long pulse at a low rate (mean power 2.4 kW is within its rating)
        ({"tube.kvp": 100.0, "tube.ma": 800.0, "tube.pulse_ms": 60.0, "tube.pulse_rate_pps": 0.5},
         "4.8 kJ per pulse exceeds the tube's 4 kJ single-pulse rating"),
        # mean power (anode heat) of fast pulses
        ({"tube.kvp": 100.0, "tube.ma": 400.0, "tube.pulse_ms": 20.0, "tube.pulse_rate_pps": 30.0},
         "= 24 kW exceeds the tube's 3 kW fluoroscopy (anode heat) rating"),
        # continuous fluoroscopy: the beam always on
        ({"tube.mode": "continuous", "tube.kvp": 80.0, "tube.ma": 50.0},
         "= 4 kW with the beam always on (tube.mode=continuous) exceeds the tube's 3 kW"),
    ],
)  # fmt: skip
def test_each_rating_names_its_knobs(knobs, needle):
    with pytest.raises(ValueError, match="tube.ma") as err:
        Params().replace(**MANUAL, **knobs)
    assert needle in str(err.value)


def test_max_ma_is_the_edge_of_every_rating():
    for kvp in (40.0, 70.0, 100.0, 150.0):
        for pulse_ms in (0.5, 8.0, 33.0, 100.0):
            for rate in RATES_PPS:
                if pulse_ms * rate > 1000.0:
                    continue
                top = tube.max_ma(kvp, pulse_ms, rate, continuous=False)
                tube.check_loading(kvp, top, pulse_ms, rate, False)
                with pytest.raises(ValueError, match="rating"):
                    tube.check_loading(kvp, top * 1.001, pulse_ms, rate, False)
        top = tube.max_ma(kvp, 8.0, 15.0, continuous=True)
        assert top == pytest.approx(tube.FLUORO_POWER_MAX_W / kvp)
        tube.check_loading(kvp, top, 8.0, 15.0, True)


def test_loading_in_physical_units():
    load = tube.loading(100.0, 500.0, 10.0, 15.0, continuous=False)
    assert load.power_kw == pytest.approx(50.0)  # 100 kV x 0.5 A
    assert load.pulse_energy_j == pytest.approx(500.0)  # 50 kW x 10 ms
    assert load.mean_power_w == pytest.approx(500.0 * 15.0)
    cont = tube.loading(80.0, 5.0, 8.0, 15.0, continuous=True)
    assert cont.mean_power_w == pytest.approx(400.0) and cont.power_kw == pytest.approx(0.4)


def test_abc_on_ignores_the_manual_knobs_and_defaults_and_presets_are_valid():
    Params().replace(**{"tube.kvp": 150.0, "tube.ma": 1000.0})  # ABC owns them
    Params()
    manual()  # the default manual technique: 80 kV, 10 mA, 8 ms at 15 pulses/s
    manual(tube__mode="continuous")
    for name in PRESETS:
        p = sim.preset_params(name)
        p.replace(**MANUAL)


@pytest.mark.parametrize("curve", abc.CURVE_NAMES)
@pytest.mark.parametrize("mode", ["pulsed", "continuous"])
def test_every_point_of_every_abc_curve_is_within_the_ratings(curve, mode):
    for rate in RATES_PPS:
        for cu in (0.0, 0.1, 1.0):
            p = Params().replace(
                **{
                    "abc.curve": curve,
                    "tube.mode": mode,
                    "tube.pulse_rate_pps": rate,
                    "filtration.cu_mm": cu,
                }
            )
            nodes = abc.curve_nodes(curve, cu)
            for effort in np.linspace(0.0, len(nodes) - 1.0, 8 * (len(nodes) - 1) + 1):
                t = abc.technique_at(p, float(effort), nodes)
                tube.check_loading(t.kvp, t.ma, t.pulse_ms, t.pulse_rate_pps, t.continuous)
                # and the technique is one a person could set by hand
                Params().replace(
                    **MANUAL,
                    **{
                        "tube.mode": mode,
                        "tube.pulse_rate_pps": rate,
                        "tube.kvp": t.kvp,
                        "tube.ma": max(t.ma, 0.1),
                        "tube.pulse_ms": t.pulse_ms if mode == "pulsed" else 8.0,
                    },
                )


@pytest.mark.parametrize("curve", abc.CURVE_NAMES)
@pytest.mark.parametrize(
    ("mode", "rate", "high_level"),
    [("pulsed", 15.0, False), ("pulsed", 30.0, True), ("pulsed", 3.0, True),
     ("continuous", 30.0, True)],
)  # fmt: skip
def test_abc_over_10_to_40_cm_never_exceeds_the_ratings(curve, mode, rate, high_level):
    p = Params().replace(
        **{
            "patient.phantom": "water_slab",
            "abc.curve": curve,
            "abc.high_level": high_level,
            "tube.mode": mode,
            "tube.pulse_rate_pps": rate,
        }
    )
    for t_cm in np.arange(10.0, 40.0 + 1e-9, 5.0):
        r = abc.solve(p, abc.slab_measure(p, float(t_cm)))
        t = r.technique
        tube.check_loading(t.kvp, t.ma, t.pulse_ms, t.pulse_rate_pps, t.continuous)
        assert r.kar_rate_mGy_per_min <= r.limit_mGy_per_min


def test_the_mean_power_rating_caps_the_top_of_the_curves_at_high_pulse_rates():
    """At 30 pulses/s the last node (125 kV, 100 mA, 20 ms) would load the anode with 7.5 kW:
    ABC takes the current down to the 3 kW rating there, and a patient thick enough to need it
    gets the capped technique (the Ka,r-rate limit then still ends the curve)."""
    p = Params().replace(
        **{"abc.curve": "low_dose", "abc.high_level": True, "tube.pulse_rate_pps": 30.0}
    )
    nodes = abc.curve_nodes("low_dose", 0.1)
    top = abc.technique_at(p, len(nodes) - 1.0, nodes)
    load = tube.loading(top.kvp, top.ma, top.pulse_ms, top.pulse_rate_pps, top.continuous)
    assert top.ma < nodes[-1].ma == abc.MA_MAX_PULSED
    assert load.mean_power_w == pytest.approx(tube.FLUORO_POWER_MAX_W)
    r = abc.solve(p, abc.slab_measure(p, 40.0))
    t = r.technique
    load = tube.loading(t.kvp, t.ma, t.pulse_ms, t.pulse_rate_pps, t.continuous)
    assert load.mean_power_w == pytest.approx(tube.FLUORO_POWER_MAX_W, rel=1e-6)
    assert r.kar_rate_mGy_per_min <= 176.0


def test_simulate_reports_a_technique_within_the_ratings():
    p = sim.preset_params("large_patient").replace(**{"run.image_px": 64})
    r = sim.simulate(p)
    t = r.technique
    cont = p.tube.mode == "continuous"
    tube.check_loading(t["kvp"], t["ma"], t["pulse_ms"], t["pulse_rate_pps"], cont)
