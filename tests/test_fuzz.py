"""Fuzzed parameters: Hypothesis over the whole valid knob space (strategies from the knob table).

Properties: building ``Params`` from any in-range knob values raises nothing but
``ValueError``; ``sim.simulate`` and ``sim.run`` on any valid ``Params`` raise nothing and
produce no NaN or inf anywhere, an 8-bit image and non-negative doses, ABC never above the
Ka,r-rate limit and every technique within the tube ratings; physics invariants (air kerma
linear in mAs and inverse-square, HVL rising with filtration, a grid lowering the SPR).
The long tier found two engine problems, now fixed and kept as examples: a subnormal contrast
volume gave a zero-length barium column, and ABC exceeded the Ka,r-rate limit when even the
bottom of its curve did (continuous, unfiltered, source 25 cm from the IRP).

About 2,000 examples in all by default, deterministic (``derandomize=True``); the environment
variable ``FLUOROSIM_FUZZ_EXAMPLES`` sets another total (``make test-long`` runs 20,000),
shared between the properties in the proportions of :data:`SHARE`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sim
from sim import tube
from sim.chain import expected_frame
from sim.params import KNOBS, Knob, Params, technique_from
from sim.spectrum import Spectrum

TOTAL = int(os.environ.get("FLUOROSIM_FUZZ_EXAMPLES", "2000"))
"""Examples over all the properties of this file [-]."""

SHARE = {
    "construct": 0.30,
    "simulate": 0.30,
    "run": 0.10,
    "grid": 0.10,
    "spectrum": 0.20,
}
"""Fraction of :data:`TOTAL` for each property (the cheap ones get more) [-]."""

IMAGE_PX = (64, 96)
"""Image sides fuzzed [px] (small: the chain is the same at any size)."""

RUN_TIME_S = (0.1, 1.0)
"""Beam-on times of fuzzed runs [s]."""


def fuzz(name: str):
    """Hypothesis settings of one property: its share of the examples, deterministic."""
    return settings(
        max_examples=max(1, round(TOTAL * SHARE[name])),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --------------------------------------------------------------------------- strategies


def knob_values(k: Knob) -> st.SearchStrategy:
    """Every value a knob accepts (floats over their whole range, ends included)."""
    if k.kind is bool:
        return st.booleans()
    if k.choices is not None:
        return st.sampled_from(k.choices)
    if k.kind is int:
        return st.integers(int(k.min), int(k.max))
    return st.floats(k.min, k.max, allow_nan=False, allow_infinity=False)


def _between(k: Knob, lo: float | None = None, hi: float | None = None) -> st.SearchStrategy:
    lo = k.min if lo is None else max(k.min, lo)
    hi = k.max if hi is None else min(k.max, hi)
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def in_range(draw) -> dict:
    """Every knob in its own range, combinations unchecked (many are invalid)."""
    return {name: draw(knob_values(k)) for name, k in KNOBS.items()}


@st.composite
def valid(draw, run: bool = False) -> Params:
    """Valid parameters over the whole valid space: knobs drawn in their ranges, each knob that
    depends on others drawn within the range the others leave it."""
    v = {name: draw(knob_values(k)) for name, k in KNOBS.items()}
    v["run.image_px"] = draw(st.integers(*IMAGE_PX))
    if run:
        v["run.fluoro_time_s"] = draw(st.floats(*RUN_TIME_S))
        v["run.max_frames"] = draw(st.integers(1, 12))
    k = KNOBS
    sid = v["geometry.sid_cm"]
    v["geometry.source_iso_cm"] = draw(_between(k["geometry.source_iso_cm"], hi=sid - 1e-6))
    room = sid - 1.0 - k["geometry.source_skin_cm"].min  # 1 cm least air gap
    t = v["patient.thickness_cm"] = draw(_between(k["patient.thickness_cm"], hi=room))
    v["geometry.source_skin_cm"] = draw(_between(k["geometry.source_skin_cm"], hi=sid - 1 - t))
    if v["receptor.kind"] == "image_intensifier":
        v["geometry.fov_cm"] = draw(_between(k["geometry.fov_cm"], hi=40.0))
    continuous = v["tube.mode"] == "continuous"
    if not continuous:
        hi = 1000.0 / v["tube.pulse_rate_pps"]
        v["tube.pulse_ms"] = draw(_between(k["tube.pulse_ms"], hi=hi))
    if not v["abc.enabled"]:
        top = tube.max_ma(v["tube.kvp"], v["tube.pulse_ms"], v["tube.pulse_rate_pps"], continuous)
        v["tube.ma"] = draw(_between(k["tube.ma"], hi=top))
    try:
        return Params.from_dict(v)
    except ValueError:  # a bound met exactly and rounded over: rare
        assume(False)


# --------------------------------------------------------------------------- checks


def _finite(where: str, value) -> None:
    if isinstance(value, Spectrum):
        _finite(f"{where}.energy_keV", value.energy_keV)
        _finite(f"{where}.fluence", value.fluence)
        assert np.all(value.fluence >= 0), where
    elif isinstance(value, (bool, np.bool_, str)) or value is None:
        return
    elif isinstance(value, numbers.Number):
        assert math.isfinite(value), f"{where}={value}"
    elif isinstance(value, dict):
        for key, item in value.items():
            _finite(f"{where}.{key}", item)
    else:
        arr = np.asarray(value)
        assert arr.dtype.kind in "biuf", f"{where}: dtype {arr.dtype}"
        assert np.all(np.isfinite(arr)), f"{where}: {np.size(arr) - np.isfinite(arr).sum()} bad"


_BOTH = ("signal_px", "background_px")
UNDEFINED_WITHOUT = {
    "signal_mean": ("signal_px",),
    "background_mean": ("background_px",),
    "noise_std": ("background_px",),
    "snr": ("background_px",),
    "contrast": _BOTH,
    "cnr": _BOTH,
    "figure_of_merit": _BOTH,
}
"""Metrics that are NaN (undefined) when one of these regions lies wholly outside the beam
(and SNR, CNR and figure of merit when the image has no noise, ``run.noise`` off)."""


def check_result(p: Params, r) -> None:
    """No NaN or inf anywhere but a metric whose region lies outside the beam; an 8-bit image;
    doses >= 0; ABC under the Ka,r-rate limit and every technique within the tube ratings."""
    assert r.image.dtype == np.uint8 and r.image.shape == (p.run.image_px,) * 2
    for name, stage in r.stages.items():
        _finite(f"stages.{name}", stage)
    metrics = dict(r.metrics)
    no_noise = metrics["noise_std"] == 0
    for key, regions in UNDEFINED_WITHOUT.items():
        if math.isnan(metrics[key]):
            noiseless = key in ("snr", "cnr", "figure_of_merit") and no_noise
            assert noiseless or any(metrics[k] == 0 for k in regions), f"metrics.{key} NaN"
            del metrics[key]
    _finite("metrics", metrics)
    for section in ("technique", "dose"):
        _finite(section, getattr(r, section))
    for key, value in r.dose.items():
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            assert value >= 0, f"dose.{key}={value}"
    t = r.technique
    cont = p.tube.mode == "continuous"
    tube.check_loading(t["kvp"], t["ma"], t["pulse_ms"], t["pulse_rate_pps"], cont)
    if p.abc.enabled:
        assert r.dose["kar_rate_mGy_per_min"] <= r.dose["limit_mGy_per_min"] * 1.001


# --------------------------------------------------------------------------- properties


@fuzz("construct")
@given(values=in_range(), keep=st.sets(st.sampled_from(list(KNOBS)), min_size=1))
def test_building_params_raises_only_value_error(values, keep):
    """Any subset of in-range knob values: valid Params, or a ValueError naming a knob."""
    changes = {name: values[name] for name in keep}
    try:
        p = Params.from_dict(changes)
    except ValueError as exc:
        assert any(name in str(exc) for name in KNOBS), str(exc)
        return
    assert all(p.get(name) == pytest.approx(value) for name, value in changes.items())
    assert Params.from_dict(p.to_dict()) == p


@fuzz("simulate")
@given(p=valid())
def test_simulate_any_valid_params(p):
    check_result(p, sim.simulate(p))


FOUND = {
    # subnormal contrast volume: a barium column of zero length (phantoms)
    "swallow_subnormal_contrast": {
        "patient.phantom": "swallow",
        "patient.thickness_cm": 2.0,
        "patient.contrast_ml": 2.2250738585072014e-308,
    },
    # even the bottom of the ABC curve over the Ka,r-rate limit: continuous, no filtration,
    # the IRP 25 cm from the source (abc.solve lowers the current below the curve)
    "abc_bottom_over_the_limit": {
        "tube.kvp": 40.0,
        "tube.mode": "continuous",
        "tube.anode_angle_deg": 6.0,
        "filtration.al_mm": 0.0,
        "filtration.cu_mm": 0.0,
        "geometry.sid_cm": 80.0,
        "geometry.source_iso_cm": 40.0,
        "geometry.source_skin_cm": 30.0,
        "geometry.field_cm": 5.0,
        "geometry.fov_cm": 15.0,
        "geometry.table": False,
        "patient.phantom": "water_slab",
        "patient.thickness_cm": 2.0,
        "scatter.enabled": False,
        "grid.enabled": False,
        "abc.mode": "low",
        "abc.rate_exponent": 0.0,
    },
}
"""Cases the fuzzing found (both fixed in the engine), kept as plain tests."""


@pytest.mark.parametrize("name", sorted(FOUND))
def test_cases_found_by_fuzzing(name):
    p = Params.from_dict({**FOUND[name], "run.image_px": 64})
    check_result(p, sim.simulate(p))
    short = p.replace(**{"run.fluoro_time_s": 0.5, "run.max_frames": 4})
    check_result(short, sim.run(short))


@fuzz("run")
@given(p=valid(run=True))
def test_run_any_valid_params(p):
    r = sim.run(p)
    check_result(p, r)
    assert 1 <= len(r.frames) <= p.run.max_frames
    assert all(f.dtype == np.uint8 for f in r.frames)
    for name in ("kar_mGy", "kap_Gycm2", "skin_dose_mGy"):
        series = np.asarray(getattr(r.series, name))
        assert np.all(np.isfinite(series)) and np.all(series >= 0), name
        assert np.all(np.diff(series) >= -1e-12), f"{name} falls during the run"


@fuzz("grid")
@given(p=valid())
def test_a_grid_lowers_the_scatter_to_primary_ratio(p):
    """Same parameters, scatter on, grid in against grid out: the SPR at the receptor falls."""
    p = p.replace(**{"scatter.enabled": True})
    t = technique_from(p)  # the knobs' technique, its current within the ratings (ABC or not)
    t = dataclasses.replace(
        t, ma=min(t.ma, tube.max_ma(t.kvp, t.pulse_ms, t.pulse_rate_pps, t.continuous))
    )
    with_grid = expected_frame(p.replace(**{"grid.enabled": True}), t, 64).figures
    without = expected_frame(p.replace(**{"grid.enabled": False}), t, 64).figures
    assert without["spr"] > 0
    assert with_grid["spr_after_grid"] < without["spr_after_grid"]


K = KNOBS

CU_HARDENS_FROM_MM_AL = 0.5
"""Least Al for which added Cu must raise the HVL [mm]. In an almost unfiltered beam (found:
40 kV, 0.05 mm Al) thin Cu can lower it slightly: Cu's K edge at 8.98 keV removes the W L
lines (9.7-11.3 keV) and spares the photons below 9 keV, which real physics does too; from
0.2 mm Al on it never did (scan of 40-150 kV, 6-22 deg, 0-0.1 mm Cu); 0.5 mm with a margin.
Clinical beams have at least 2.5 mm Al."""


@fuzz("spectrum")
@given(
    kvp=knob_values(K["tube.kvp"]),
    angle=knob_values(K["tube.anode_angle_deg"]),
    al=knob_values(K["filtration.al_mm"]),
    cu=knob_values(K["filtration.cu_mm"]),
    mas=st.floats(1e-3, 1e3),
    d_cm=st.floats(10.0, 1000.0),
    extra_al=st.floats(0.1, 10.0),
    extra_cu=st.floats(0.01, 1.0),
)
def test_kerma_linear_in_mas_inverse_square_and_hvl_rises_with_filtration(
    kvp, angle, al, cu, mas, d_cm, extra_al, extra_cu
):
    s = sim.tube_spectrum(kvp=kvp, anode_angle_deg=angle).filtered({"Al": al, "Cu": cu})
    k100 = s.air_kerma_uGy_per_mAs(100.0)
    assert math.isfinite(k100) and k100 > 0
    assert s.scaled(mas).air_kerma_uGy_per_mAs(100.0) == pytest.approx(mas * k100, rel=1e-9)
    assert s.air_kerma_uGy_per_mAs(d_cm) == pytest.approx(k100 * (100.0 / d_cm) ** 2, rel=1e-9)
    hvl = s.hvl_mm_al()
    assert math.isfinite(hvl) and hvl > 0
    assert s.filtered({"Al": extra_al}).hvl_mm_al() > hvl  # always: the HVL's own material
    if al >= CU_HARDENS_FROM_MM_AL:
        assert s.filtered({"Cu": extra_cu}).hvl_mm_al() > hvl
