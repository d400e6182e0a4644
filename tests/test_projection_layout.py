"""A scene's fixed table layout (sim.projection.layout): accuracy against the exact per-energy
sum, when it is used, and that its results do not depend on what was projected before."""

from __future__ import annotations

import numpy as np
import pytest

from sim import chain, projection
from sim import dose as dose_mod
from sim.params import Params
from sim.projection import layout
from sim.projection.physics import exact_integrate
from sim.spectrum import beam

NAMES = ("quanta", "abs_energy_keV", "abs_energy2_keV2")


@pytest.fixture(scope="module")
def hip():
    p = Params().replace(**{"abc.enabled": False, "run.image_px": 128})
    sc = chain.scene(p.geometry, p.patient, 128)
    return sc, chain.receptor_of(p)


_CHECKED: dict = {}


def _checked(sc):
    """The scene's whole path maps prepared once (the chain prepares only its field box)."""
    if id(sc) not in _CHECKED:
        _CHECKED[id(sc)] = projection.prepare_paths(sc.paths)
    return _CHECKED[id(sc)]


def _at_patient(kvp: float, cu_mm: float):
    return beam(kvp, 12.0, 2.5, cu_mm)[1].filtered(dose_mod.table_layers())


def _weights(rx, s):
    w = rx.weights(s.energy_keV)
    return {k: w[k] for k in NAMES}


def _project(s, paths, w, monkeypatch) -> tuple[dict, bool]:
    """Outputs and whether the scene's layout served them (no table of the spectrum's own)."""
    own = []

    def spy(*a, **k):
        own.append(1)
        return projection.lut.integrate(*a, **k)

    monkeypatch.setattr(layout, "_integrate_own_table", spy)
    out = projection.integrate(s, paths, w, 100.0)
    monkeypatch.undo()
    return out, not own


@pytest.mark.parametrize(
    "kvp, cu_mm", [(60, 0.0), (70, 0.1), (80, 0.2), (90, 0.3), (100, 0.5), (120, 0.9), (150, 0.9)]
)
def test_fixed_layout_serves_the_fluoroscopy_range_within_its_accuracy(
    hip, kvp, cu_mm, monkeypatch
):
    """60-150 kV with 0-0.9 mm Cu: the scene's layout is used, and every output is within
    0.3 % of the exact per-energy sum (measured: at most 0.20 %, at 60 kV)."""
    sc, rx = hip
    s = _at_patient(kvp, cu_mm)
    w = _weights(rx, s)
    out, fixed = _project(s, _checked(sc), w, monkeypatch)
    assert fixed
    exact = exact_integrate(s, sc.paths, w, 100.0)
    for k in NAMES:
        live = exact[k] > 1e-6 * exact[k].max()
        err = np.abs(out[k][live] / exact[k][live] - 1.0)
        assert float(err.max()) < 3e-3, k


def test_a_spectrum_the_layout_does_not_suit_gets_its_own_table(hip, monkeypatch):
    """At 40 kV without copper the fixed layout's error estimate is over its tolerance: the
    spectrum is projected through its own table, as accurately as ever (0.5 %)."""
    sc, rx = hip
    s = _at_patient(40, 0.0)
    w = _weights(rx, s)
    out, fixed = _project(s, _checked(sc), w, monkeypatch)
    assert not fixed
    exact = exact_integrate(s, sc.paths, w, 100.0)
    live = exact["quanta"] > 1e-6 * exact["quanta"].max()
    assert float(np.abs(out["quanta"][live] / exact["quanta"][live] - 1.0).max()) < 5e-3


def test_results_do_not_depend_on_the_spectra_projected_before(hip):
    """The layout is laid out for a fixed beam mix, so a spectrum gives the same numbers
    whether it comes first or after others (the per-spectrum tables reuse nearby layouts)."""
    sc, rx = hip
    s = _at_patient(80, 0.2)
    w = _weights(rx, s)
    projection.forget_layouts()
    projection.clear_cache()
    layout._LAYOUTS.clear()
    fresh = projection.integrate(s, projection.prepare_paths(sc.paths), w, 100.0)
    for kvp in (71.3, 93.7, 64.2):
        other = _at_patient(kvp, 0.3)
        projection.integrate(other, _checked(sc), _weights(rx, other), 100.0)
    again = projection.integrate(s, _checked(sc), w, 100.0)
    for k in NAMES:
        assert np.array_equal(fresh[k], again[k]), k


def test_checked_paths_give_the_mapping_result(hip):
    """The same scene given as a mapping (its own table) or as checked paths (the fixed
    layout) agrees to the tables' accuracy."""
    sc, rx = hip
    s = _at_patient(85, 0.1)
    w = _weights(rx, s)
    a = projection.integrate(s, sc.paths, w, 120.0)
    b = projection.integrate(s, _checked(sc), w, 120.0)
    for k in NAMES:
        assert np.allclose(a[k], b[k], rtol=3e-3, atol=0.0), k


def test_checked_paths_keep_the_input_checks():
    """prepare_paths checks as integrate does: a negative path names the material."""
    with pytest.raises(ValueError, match="muscle"):
        projection.prepare_paths({"muscle": np.full((4, 4), -1.0, np.float32)})
