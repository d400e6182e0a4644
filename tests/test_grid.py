"""Tests of sim.grid: transmissions, figures of merit, invariants, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import grid, materials, scatter
from sim.params import Params
from sim.spectrum import ENERGY_KEV, tube_spectrum

INCIDENT_80 = tube_spectrum(80.0).filtered({"Al": 3.0, "Cu": 0.1})
BEHIND_20CM = INCIDENT_80.filtered({"water": 200.0})
SCATTER_20CM = scatter.scatter_spectrum(INCIDENT_80, 20.0)


def _figures(spr=4.0, **kw):
    gt = grid.grid_transmission(None, ENERGY_KEV, **kw)
    return grid.grid_figures(gt, BEHIND_20CM, spr, scatter_spectrum=SCATTER_20CM)


@pytest.mark.parametrize("lines", [40, 60, 80])
@pytest.mark.parametrize("ratio", [8, 10, 12, 16])
def test_fibre_grid_tp_ts_in_published_ranges(ratio, lines):
    """80 kV behind 20 cm water, fibre interspace: Tp about 0.6-0.8 (brief; PUBLISHED.md (iv)
    [R] 0.6-0.75) and Ts about 0.05-0.25 (brief; [R] 0.05-0.15). Tolerance: Tp in [0.6, 0.8];
    Ts in [0.03, 0.25] (16:1 grids reach 0.04, below the typical-grid range)."""
    f = _figures(ratio=ratio, lines_per_cm=lines, interspace="fibre")
    assert 0.6 <= f["tp"] <= 0.8
    assert 0.03 <= f["ts"] <= 0.25
    if ratio <= 12:
        assert 0.05 <= f["ts"] <= 0.25


@pytest.mark.parametrize("lines", [40, 60, 80])
def test_aluminium_grid_transmits_less_primary(lines):
    """Aluminium interspaces absorb more primary than fibre (Court & Yamazaki, BJR 77:950,
    2004: fibre/carbon grids have the higher SNR improvement); Tp stays above 0.5."""
    al = _figures(ratio=12, lines_per_cm=lines, interspace="aluminium")
    fi = _figures(ratio=12, lines_per_cm=lines, interspace="fibre")
    assert 0.5 < al["tp"] < fi["tp"]


def test_ts_falls_with_ratio_and_tp_falls_slightly():
    ratios = [6, 8, 10, 12, 14, 16]
    figs = [_figures(ratio=r) for r in ratios]
    ts = [f["ts"] for f in figs]
    tp = [f["tp"] for f in figs]
    assert np.all(np.diff(ts) < 0.0)
    assert np.all(np.diff(tp) < 0.0)
    assert tp[-1] > 0.95 * tp[0]  # "slightly": the interspace gets taller
    assert ts[-1] < 0.5 * ts[0]


def test_selectivity_in_published_range():
    """Selectivity Sigma = Tp/Ts about 5-12 for fluoroscopy grids (PUBLISHED.md (iv) [R]),
    checked for 10:1-12:1 grids at the 60-80 lines/cm of fluoroscopy (a 40 lines/cm 12:1
    grid with its thicker strips reaches 13). Tolerance: the [R] range."""
    for r in (10, 12):
        for n in (60, 70, 80):
            sel = _figures(ratio=r, lines_per_cm=n)["selectivity"]
            assert 5.0 <= sel <= 12.0


def test_bucky_factor_for_20cm_water_large_field():
    """Bucky factor 2-6 (PUBLISHED.md (iv) [S] x-raygrid.com; 3-8 abdominal, Bushberg) for
    20 cm water and a large field (SPR from this project's model, 30 x 30 cm, 2 cm gap)."""
    spr = scatter.spr_center(20.0, 900.0, 80.0, 2.0)
    for r in (8, 10, 12):
        b = _figures(spr=spr, ratio=r)["bucky_factor"]
        assert 2.0 <= b <= 6.0


def test_figures_follow_jis_definitions():
    spr = 3.0
    f = _figures(spr=spr)
    tt = (f["tp"] + spr * f["ts"]) / (1.0 + spr)
    assert f["tt"] == pytest.approx(tt, rel=1e-12)
    assert f["bucky_factor"] == pytest.approx(1.0 / tt, rel=1e-12)
    assert f["contrast_improvement"] == pytest.approx(f["tp"] / tt, rel=1e-12)
    assert f["selectivity"] == pytest.approx(f["tp"] / f["ts"], rel=1e-12)
    assert f["image_improvement"] == pytest.approx(f["tp"] ** 2 / tt, rel=1e-12)
    assert f["spr_after"] == pytest.approx(spr * f["ts"] / f["tp"], rel=1e-12)
    assert f["contrast_improvement"] > 1.0


def test_no_scatter_means_no_contrast_gain():
    f = _figures(spr=0.0)
    assert f["contrast_improvement"] == pytest.approx(1.0)
    assert f["bucky_factor"] == pytest.approx(1.0 / f["tp"])


def test_disabled_grid_is_transparent():
    gt = grid.grid_transmission(Params().replace(**{"grid.enabled": False}), ENERGY_KEV)
    assert np.all(gt.tp_E == 1.0) and np.all(gt.ts_E == 1.0)
    f = grid.grid_figures(gt, BEHIND_20CM, 4.0)
    for key in ("tp", "ts", "tt", "bucky_factor", "contrast_improvement", "selectivity"):
        assert f[key] == pytest.approx(1.0)
    assert f["spr_after"] == pytest.approx(4.0)


def test_transmissions_are_fractions():
    gt = grid.grid_transmission(None, ENERGY_KEV, ratio=6, lines_per_cm=80)
    for a in (gt.tp_E, gt.ts_E):
        assert np.all((a >= 0.0) & (a <= 1.0))
    assert np.all(gt.ts_E < gt.tp_E)


def test_scatter_transmission_rises_with_energy_below_lead_k_edge():
    """Higher energies penetrate the strips: Ts rises with E, then drops at the Pb K edge
    (88.0 keV, NIST) where lead absorbs strongly again."""
    gt = grid.grid_transmission(None, ENERGY_KEV)
    below = (ENERGY_KEV > 30.0) & (ENERGY_KEV < 87.5)
    assert np.all(np.diff(gt.ts_E[below]) > 0.0)
    i = np.searchsorted(ENERGY_KEV, 88.0)
    assert gt.ts_E[i + 1] < 0.7 * gt.ts_E[i - 2]


def test_primary_transmission_formula():
    """Tp = [D exp(-mu_I h) + d exp(-mu_Pb h)] / (d + D) x covers (Day & Dance 1983)."""
    e = np.array([40.0, 60.0, 80.0])
    gt = grid.grid_transmission(None, e, ratio=10, lines_per_cm=50, interspace="aluminium")
    c = 10.0 / 50.0
    d = grid.LEAD_FRACTION * c
    big_d = c - d
    h = 10.0 * big_d
    mu = {m: materials.mu_per_mm(m, e) for m in ("Al", "Pb")}
    cover_mat, cover_mm = grid.COVERS_MM["aluminium"]
    expected = (big_d * np.exp(-mu["Al"] * h) + d * np.exp(-mu["Pb"] * h)) / c
    expected *= np.exp(-materials.mu_per_mm(cover_mat, e) * cover_mm)
    np.testing.assert_allclose(gt.tp_E, expected, rtol=1e-12)


def test_strip_average_matches_brute_force():
    """The exact piecewise integral over the entry position equals a fine Riemann sum."""
    rng = np.random.default_rng(3)
    c, d = 1.0 / 6.0, 0.036
    x = (np.arange(40000) + 0.5) / 40000 * c

    def lead_up_to(y):
        q = y / c
        k = np.floor(q)
        return k * d + np.minimum((q - k) * c, d)

    for _ in range(200):
        p, a = rng.uniform(0.0, 3.0), rng.uniform(0.002, 0.5)
        brute = np.exp(-(lead_up_to(x + p) - lead_up_to(x)) / a).mean()
        fast = float(grid._strip_average(np.array(p), np.array(a), c, d))
        assert fast == pytest.approx(brute, abs=1e-4)


def test_angular_distribution_is_normalised():
    assert grid.SCATTER_THETA_PDF.sum() == pytest.approx(1.0, abs=1e-3)
    centres = 0.5 * (grid.SCATTER_THETA_EDGES_DEG[:-1] + grid.SCATTER_THETA_EDGES_DEG[1:])
    mean = float(centres @ grid.SCATTER_THETA_PDF / grid.SCATTER_THETA_PDF.sum())
    assert 25.0 < mean < 45.0


def test_angular_distribution_matches_monte_carlo_file():
    """The embedded p(theta) is the one in assets/scatter/scatter_mc_water.npz."""
    z = np.load(materials.asset_path(*scatter.MC_FILE))
    e, t = list(z["energies_keV"]), list(z["thicknesses_cm"])
    acc = 0.0
    for ek in (50.0, 60.0, 70.0, 80.0):
        for tk in (15.0, 20.0, 25.0):
            p = z["angular_q"][e.index(ek), t.index(tk), 2].astype(float)
            acc = acc + p / p.sum()
    acc = acc / acc.sum()
    np.testing.assert_allclose(grid.SCATTER_THETA_PDF, acc, atol=6e-6)


def test_params_section_and_keywords_agree():
    p = Params().replace(**{"grid.ratio": 12.0, "grid.lines_per_cm": 70.0})
    a = grid.grid_transmission(p, ENERGY_KEV)
    b = grid.grid_transmission(p.grid, ENERGY_KEV)
    c = grid.grid_transmission(None, ENERGY_KEV, ratio=12.0, lines_per_cm=70.0)
    np.testing.assert_array_equal(a.ts_E, b.ts_E)
    np.testing.assert_array_equal(a.ts_E, c.ts_E)
    assert a.height_mm == pytest.approx(12.0 * a.interspace_mm)
    assert a.strip_mm + a.interspace_mm == pytest.approx(10.0 / 70.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"ratio": 20.0}, "grid.ratio"),
        ({"ratio": float("nan")}, "grid.ratio"),
        ({"lines_per_cm": 10.0}, "grid.lines_per_cm"),
        ({"interspace": "wood"}, "grid.interspace"),
        ({"strip_mm": 0.5}, "strip_mm"),
        ({"strip_mm": -0.01}, "strip_mm"),
    ],
)
def test_bad_grid_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        grid.grid_transmission(None, ENERGY_KEV, **kwargs)


def test_bad_energy_and_spr():
    with pytest.raises(ValueError, match="energy_keV"):
        grid.grid_transmission(None, [40.0, float("nan")])
    gt = grid.grid_transmission(None, ENERGY_KEV)
    with pytest.raises(ValueError, match="spr"):
        grid.grid_figures(gt, BEHIND_20CM, -1.0)
    with pytest.raises(ValueError, match="spr"):
        grid.grid_figures(gt, BEHIND_20CM, math.inf)
