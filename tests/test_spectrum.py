"""Tests of sim.spectrum: SpekPy agreement, IEC beam qualities, invariants, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sim.spectrum import (
    ENERGY_EDGES_KEV,
    ENERGY_KEV,
    Spectrum,
    iec_beam,
    kerma_weights_uGy_mm2,
    rqr_filtration_mm_al,
    tube_spectrum,
)

_REFERENCE = Path(__file__).resolve().parents[1] / "assets" / "spectra" / "spekpy_reference.json"
_TOL = np.array([0.01, 0.01, 0.01, 0.01])
# HVL1, HVL2, mean energy, air kerma per mAs: the README's "Measured accuracy" claim, 1 % of
# SpekPy 2.5.4 (largest deviations measured over the stored grid: HVL1 -0.53 % (91.4 kV,
# 13 deg, 2.5 mm Al), HVL2 -0.46 %, mean energy +0.15 %, air kerma +0.98 % (40.3 kV,
# 3 mm Al + 0.1 mm Cu)). The project brief asked for 3 %, 3 %, 2 % and 10 %.


def _ours(kvp: float, angle: float, filters: dict) -> np.ndarray:
    s = tube_spectrum(kvp, angle).filtered(filters)
    return np.array([s.hvl_mm_al(), s.hvl2_mm_al(), s.mean_energy_keV(), s.air_kerma_uGy_per_mAs()])


def _reference_rows() -> list[dict]:
    return json.loads(_REFERENCE.read_text())["rows"]


def test_matches_spekpy_reference_grid() -> None:
    """HVL1, HVL2, mean energy and air kerma per mAs within 1 % of SpekPy (README claim).

    Reference: SpekPy 2.5.4, default physics (casim, PENELOPE mu; Poludniowski et al., Med.
    Phys. 48:3630, 2021), stored by ``tools/make_spectrum_table.py --reference`` for kVp 40-150
    every 5 kV at 12 deg and off-node kVp/angles, each with 2.5 mm Al and 3 mm Al + 0.1, 0.3,
    0.6 mm Cu. Tolerance 1 %, as the README's "Measured accuracy" states (see ``_TOL``).
    """
    rows = _reference_rows()
    assert len(rows) >= 100
    for r in rows:
        ref = np.array(
            [r["hvl1_mm_al"], r["hvl2_mm_al"], r["mean_energy_keV"], r["air_kerma_uGy_per_mAs"]]
        )
        rel = _ours(r["kvp"], r["anode_angle_deg"], r["filters_mm"]) / ref - 1.0
        assert np.all(np.abs(rel) < _TOL), (r, rel)


@pytest.mark.parametrize(("kvp", "angle"), [(40.0, 12.0), (72.5, 12.0), (130.0, 17.0)])
def test_matches_spekpy_live(kvp: float, angle: float) -> None:
    """Same comparison against a live SpekPy run (also checks the stored reference is real)."""
    spekpy = pytest.importorskip("spekpy")
    spek = spekpy.Spek(kvp=kvp, th=angle)
    spek.multi_filter([("Al", 3.0), ("Cu", 0.1)])
    ref = np.array([spek.get_hvl1(), spek.get_hvl2(), spek.get_emean(), spek.get_kerma()])
    rel = _ours(kvp, angle, {"Al": 3.0, "Cu": 0.1}) / ref - 1.0
    assert np.all(np.abs(rel) < _TOL), rel
    stored = [
        r
        for r in _reference_rows()
        if r["kvp"] == kvp and r["anode_angle_deg"] == angle and r["filters_mm"].get("Cu") == 0.1
    ]
    for r in stored:
        assert r["hvl1_mm_al"] == pytest.approx(ref[0], rel=1e-6)
        assert r["air_kerma_uGy_per_mAs"] == pytest.approx(ref[3], rel=1e-6)


def test_table_node_reproduces_spekpy_bins() -> None:
    """At a table node the unfiltered spectrum equals SpekPy's bin by bin (float32 storage)."""
    spekpy = pytest.importorskip("spekpy")
    from sim.units import CM2_PER_MM2

    k, phi = spekpy.Spek(kvp=90.0, th=14.0).get_spectrum(diff=False)  # per cm^2 per bin
    ours = tube_spectrum(90.0, 14.0).fluence
    np.testing.assert_allclose(ENERGY_KEV[: k.size], k)
    np.testing.assert_allclose(ours[: k.size], phi * CM2_PER_MM2, rtol=1e-5, atol=1e-3)
    assert np.all(ours[k.size :] == 0.0)


# --- IEC qualities --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("quality", "snr2"),
    [("RQA3", 20673.0), ("RQA5", 29653.0), ("RQA7", 32490.0), ("RQA9", 31077.0)],
)
def test_iec_62220_fluence_per_air_kerma(quality: str, snr2: float) -> None:
    """Photon fluence per air kerma within 0.7 % of IEC 62220-1-1:2015 Table 3 [1/(mm^2 uGy)].

    Tolerance 0.7 %: the README's "Measured accuracy" claim (measured -0.61 % RQA3, -0.36 %
    RQA5, -0.22 % RQA7, -0.34 % RQA9). Values: IEC 62220-1-1:2015 Table 3 as quoted in public
    DQE-analysis code (status [S-indirect]); SpekPy itself reproduces them within 0.4 %.
    """
    assert iec_beam(quality).fluence_per_uGy() == pytest.approx(snr2, rel=0.007)


@pytest.mark.parametrize(
    ("quality", "hvl", "rel"),
    [("RQA3", 3.8, 0.03), ("RQA5", 6.8, 0.012), ("RQA7", 9.2, 0.03), ("RQA9", 11.6, 0.012)],
)
def test_iec_61267_rqa_hvl(quality: str, hvl: float, rel: float) -> None:
    """RQA first HVL against IEC 61267:2005: RQA5 6.8 and RQA9 11.6 mm Al within 1.2 % (the
    README's "Measured accuracy" claim; measured -1.17 % and -0.02 %). RQA3 3.8 and RQA7
    9.2 mm Al are only commonly quoted values (docs/references.md [Tab-BeamQuality], status
    [R]), not part of the claim: plausibility within 3 % (measured -2.0 % and -0.3 %)."""
    assert iec_beam(quality).hvl_mm_al() == pytest.approx(hvl, rel=rel)


@pytest.mark.parametrize(
    ("quality", "h"),
    [
        ("RQR2", 0.81),
        ("RQR3", 0.76),
        ("RQR5", 0.71),
        ("RQR7", 0.68),
        ("RQR9", 0.68),
        ("RQR10", 0.72),
    ],
)
def test_iec_61267_rqr_homogeneity(quality: str, h: float) -> None:
    """RQR homogeneity coefficient within 0.03 of IEC 61267:2005 (docs/references.md
    [Tab-BeamQuality], status [R])."""
    assert iec_beam(quality).homogeneity() == pytest.approx(h, abs=0.03)


@pytest.mark.parametrize(("kvp", "hvl"), [(50.0, 1.78), (70.0, 2.58), (90.0, 3.48), (120.0, 5.0)])
def test_rqr_filtration_hits_hvl(kvp: float, hvl: float) -> None:
    """The root-found total Al gives the nominal RQR HVL (IEC 61267) and about 2.5-3.5 mm Al."""
    t = rqr_filtration_mm_al(kvp, hvl)
    assert tube_spectrum(kvp).filtered({"Al": t}).hvl_mm_al() == pytest.approx(hvl, rel=1e-4)
    # IEC 61267 RQR beams correspond to ~2.5 mm Al total filtration (PTB-Dos-34,
    # docs/references.md [Ankerhold2000])
    assert 1.5 < t < 4.5


# --- invariants -----------------------------------------------------------------------------
def test_grid() -> None:
    """298 bins of 0.5 keV, centres 1.25 .. 149.75 keV, shared by all modules."""
    assert ENERGY_EDGES_KEV.shape == (299,) and ENERGY_KEV.shape == (298,)
    assert ENERGY_KEV[0] == 1.25 and ENERGY_KEV[-1] == 149.75
    np.testing.assert_allclose(np.diff(ENERGY_EDGES_KEV), 0.5)


def test_inverse_square() -> None:
    """Air kerma scales as 1/d^2."""
    s = tube_spectrum(80.0).filtered({"Al": 3.0})
    k100 = s.air_kerma_uGy_per_mAs()
    assert s.air_kerma_uGy_per_mAs(50.0) == pytest.approx(4.0 * k100, rel=1e-12)
    assert s.air_kerma_uGy_per_mAs(75.0) == pytest.approx(k100 * (100 / 75) ** 2, rel=1e-12)


def test_hvl_rises_with_filtration_and_kvp() -> None:
    """HVL1 rises with added Al/Cu; HVL1 and air kerma rise with kVp; h < 1."""
    hvls = [tube_spectrum(80.0).filtered({"Al": 3.0, "Cu": cu}).hvl_mm_al() for cu in (0, 0.1, 0.3)]
    assert np.all(np.diff(hvls) > 0)
    kvps = np.arange(40.0, 150.1, 5.0)
    beams = [tube_spectrum(k).filtered({"Al": 3.0}) for k in kvps]
    assert np.all(np.diff([b.hvl_mm_al() for b in beams]) > 0)
    assert np.all(np.diff([b.air_kerma_uGy_per_mAs() for b in beams]) > 0)
    assert all(0.5 < b.homogeneity() < 1.0 for b in beams)


def test_continuous_in_kvp() -> None:
    """Kerma and HVL change smoothly across a table node and across the W K edge."""
    for k in (80.0, 69.525, 70.0, 149.0):
        lo = tube_spectrum(k - 1e-3).filtered({"Al": 2.5})
        hi = tube_spectrum(k + 1e-3).filtered({"Al": 2.5})
        assert hi.air_kerma_uGy_per_mAs() / lo.air_kerma_uGy_per_mAs() == pytest.approx(1, abs=2e-4)
        assert hi.hvl_mm_al() / lo.hvl_mm_al() == pytest.approx(1.0, abs=2e-4)


def test_no_fluence_above_kvp() -> None:
    """Fluence is zero in every bin whose lower edge is at or above kVp; positive just below."""
    for kvp in (40.0, 63.7, 100.0, 150.0):
        phi = tube_spectrum(kvp).fluence
        assert np.all(phi[ENERGY_EDGES_KEV[:-1] >= kvp] == 0.0)
        assert phi[ENERGY_EDGES_KEV[1:] <= kvp][-1] > 0.0


def _line_contrast(s: Spectrum, line_keV: float) -> float:
    """Fluence in the bin holding ``line_keV`` over the mean of the bins two away."""
    i = int(np.searchsorted(ENERGY_EDGES_KEV, line_keV) - 1)
    return s.fluence[i] / (0.5 * (s.fluence[i - 2] + s.fluence[i + 2]))


def test_w_k_lines_above_k_edge_only() -> None:
    """W K-alpha1/2 (59.32/57.98 keV, X-ray Data Booklet) present above 69.525 kVp only."""
    for kvp in (67.0, 69.0, 69.4, 69.5):
        s = tube_spectrum(kvp).filtered({"Al": 2.5})
        assert _line_contrast(s, 59.32) == pytest.approx(1.0, abs=1e-3)
        assert _line_contrast(s, 57.98) == pytest.approx(1.0, abs=1e-3)
    # SpekPy's K-line yield rises steeply from the edge: ~1 % of the bin at 70 kV, x2 at 80 kV
    previous = 1.0
    for kvp in (71.0, 75.0, 80.0, 100.0, 120.0, 150.0):
        s = tube_spectrum(kvp).filtered({"Al": 2.5})
        contrast = _line_contrast(s, 59.32)
        assert contrast > max(previous, 1.1)
        assert _line_contrast(s, 57.98) > 1.05
        previous = contrast


def test_anode_angle_matters() -> None:
    """Smaller anode angle: more self-filtration, harder beam (higher HVL), less output."""
    beams = [tube_spectrum(80.0, a).filtered({"Al": 2.5}) for a in (6.0, 9.0, 12.0, 17.0, 22.0)]
    assert np.all(np.diff([b.hvl_mm_al() for b in beams]) < 0)
    assert np.all(np.diff([b.air_kerma_uGy_per_mAs() for b in beams]) > 0)


def test_scaled_and_fluence_per_uGy() -> None:
    """scaled() scales kerma linearly and leaves quality unchanged; weights are consistent."""
    s = tube_spectrum(70.0).filtered({"Al": 3.0})
    d = s.scaled(2.5)
    assert d.air_kerma_uGy_per_mAs() == pytest.approx(2.5 * s.air_kerma_uGy_per_mAs())
    assert d.fluence_per_uGy() == pytest.approx(s.fluence_per_uGy())
    assert d.hvl_mm_al() == pytest.approx(s.hvl_mm_al())
    np.testing.assert_array_equal(kerma_weights_uGy_mm2(), s.kerma_weights_uGy_mm2())
    k = float(s.fluence @ s.kerma_weights_uGy_mm2())
    assert k == pytest.approx(s.air_kerma_uGy_per_mAs())
    assert s.fluence.sum() / k == pytest.approx(s.fluence_per_uGy())


def test_filtration_is_recorded_and_composable() -> None:
    """Filtering twice equals filtering once with the summed thickness."""
    a = tube_spectrum(90.0).filtered({"Al": 1.0}).filtered({"Al": 2.0, "Cu": 0.2})
    b = tube_spectrum(90.0).filtered({"Al": 3.0, "Cu": 0.2})
    np.testing.assert_allclose(a.fluence, b.fluence, rtol=1e-12)
    assert a.filtration == (("Al", 1.0), ("Al", 2.0), ("Cu", 0.2))


def test_arrays_are_read_only() -> None:
    """A cached spectrum cannot be corrupted by a caller."""
    s = tube_spectrum(80.0)
    with pytest.raises(ValueError):
        s.fluence[10] = 1.0


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kvp": 200}, r"kvp=200 is out of range \[40, 150\] kV"),
        ({"kvp": 39.9}, r"kvp=39.9 is out of range \[40, 150\] kV"),
        ({"kvp": math.nan}, r"kvp=nan is out of range \[40, 150\] kV"),
        ({"kvp": math.inf}, r"kvp=inf is out of range"),
        ({"kvp": "eighty"}, r"kvp='eighty' is not a number"),
        ({"anode_angle_deg": 5}, r"anode_angle_deg=5 is out of range \[6, 22\] deg"),
        ({"anode_angle_deg": 30.0}, r"anode_angle_deg=30.0 is out of range \[6, 22\] deg"),
        ({"anode_angle_deg": math.nan}, r"anode_angle_deg=nan is out of range"),
    ],
)
def test_bad_tube_input(kwargs: dict, match: str) -> None:
    """Out-of-range or non-finite input raises ValueError naming argument, value and range."""
    with pytest.raises(ValueError, match=match):
        tube_spectrum(**kwargs)


def test_bad_filters() -> None:
    """Unknown material lists known names; negative or NaN thickness is refused."""
    s = tube_spectrum(80.0)
    with pytest.raises(ValueError, match="unobtainium"):
        s.filtered({"unobtainium": 1.0})
    with pytest.raises(ValueError, match=r"'Al'.*-1"):
        s.filtered({"Al": -1.0})
    with pytest.raises(ValueError, match=r"'Cu'.*nan"):
        s.filtered({"Cu": math.nan})
    with pytest.raises(ValueError, match="factor"):
        s.scaled(-1.0)
    with pytest.raises(ValueError, match="distance_cm"):
        s.air_kerma_uGy_per_mAs(0.0)
    with pytest.raises(ValueError, match="hvl_mm_al"):
        rqr_filtration_mm_al(80.0, 50.0)
