"""Tests of sim.grid: transmissions, figures of merit, invariants, bad input."""

from __future__ import annotations

import json
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
    """80 kV behind 20 cm water, fibre interspace: Tp about 0.6-0.8 (docs/references.md [Brief];
    docs/references.md [Tab-ScatterGrid], status R: 0.6-0.75) and Ts about 0.05-0.25 ([Brief];
    [R] 0.05-0.15). Tolerance: Tp in [0.6, 0.8];
    Ts in [0.03, 0.25] (16:1 grids reach 0.04, below the typical-grid range). Strips as
    published designs scale them, 0.22 of the period (55 um at 40 lines/cm, about 50 um in
    Bushberg et al. 2012, ch. 7; 28 um at 80, within the 20-37 um of Chan et al. 1985)."""
    strip_um = 0.22 * 1e4 / lines
    f = _figures(ratio=ratio, lines_per_cm=lines, interspace="fibre", strip_um=strip_um)
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
    """Selectivity Sigma = Tp/Ts about 5-12 for fluoroscopy grids (docs/references.md
    [Tab-ScatterGrid], status R),
    checked for 10:1-12:1 grids at the 60-80 lines/cm of fluoroscopy (a 40 lines/cm 12:1
    grid with its thicker strips reaches 13). Tolerance: the [R] range."""
    for r in (10, 12):
        for n in (60, 70, 80):
            sel = _figures(ratio=r, lines_per_cm=n)["selectivity"]
            assert 5.0 <= sel <= 12.0


def test_bucky_factor_for_20cm_water_large_field():
    """Bucky factor 2-6 (docs/references.md [XrayGrid], status S; 3-8 abdominal, [Bushberg2012])
    for 20 cm water and a large field (SPR from this project's model, 30 x 30 cm, 2 cm gap)."""
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
    gt = grid.grid_transmission(
        None, e, ratio=10, lines_per_cm=50, interspace="aluminium", strip_um=45.0
    )
    c = 10.0 / 50.0
    d = 0.045
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
        ({"strip_um": 500.0}, r"grid\.strip_um=500(\.0)? is out of range \[20, 60\] um"),
        ({"strip_um": 10.0}, r"grid\.strip_um=10(\.0)? is out of range \[20, 60\] um"),
        ({"strip_um": float("nan")}, r"grid\.strip_um=nan is invalid: expected \[20, 60\] um"),
        ({"strip_um": "thin"}, r"grid\.strip_um=.*expected \[20, 60\] um"),
    ],
)
def test_bad_grid_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        grid.grid_transmission(None, ENERGY_KEV, **kwargs)


def test_bad_strip_um_in_params_names_the_knob_and_its_range():
    """The range [20, 60] um: 20-37 um strips at 70-100 lines/cm (Chan et al., Radiology
    154:807, 1985) to about 50 um at 40 lines/cm (Bushberg et al. 2012, ch. 7), capped below half
    the 125 um period of an 80 lines/cm grid (docs/references.md [Chan1985b])."""
    for bad in (19.9, 60.1, -1.0):
        with pytest.raises(ValueError, match=r"grid\.strip_um=.* \[20, 60\] um"):
            Params().replace(**{"grid.strip_um": bad})


def test_bad_energy_and_spr():
    with pytest.raises(ValueError, match="energy_keV"):
        grid.grid_transmission(None, [40.0, float("nan")])
    gt = grid.grid_transmission(None, ENERGY_KEV)
    with pytest.raises(ValueError, match="spr"):
        grid.grid_figures(gt, BEHIND_20CM, -1.0)
    with pytest.raises(ValueError, match="spr"):
        grid.grid_figures(gt, BEHIND_20CM, math.inf)


# --------------------------------------------------------------------------------------------
# Oracles: Tp in closed form from the NIST tables (read here, not through sim.materials), and
# Ts / SPR against this project's grid Monte Carlo (stored: tests may not run it).
# --------------------------------------------------------------------------------------------
TAB_KEV = np.array([40.0, 50.0, 60.0, 80.0])
"""Energies tabulated in NIST SRD 126 (no interpolation, no absorption edge) [keV]."""

NIST_DENSITY_G_CM3 = {13: 2.699, 82: 11.35}
"""Aluminium and lead densities, NIST SRD 126 table 1 [g/cm^3]."""

DEFAULT_STRIP_UM = 36.7
"""The default lead strip (knob grid.strip_um): 0.22 of the 60 lines/cm period, as the grid
model had it before strip thickness became a knob [um]."""

AL_COVERS_MM = 0.5
"""Aluminium covers of an aluminium-interspace grid, both faces (sim.grid.COVERS_MM, a guess)."""


def _nist_mu_per_mm(z: int, e_keV: np.ndarray) -> np.ndarray:
    """mu [1/mm] read straight from assets/nist/elements/zNN.csv at tabulated energies."""
    table = np.loadtxt(materials.asset_path("nist", "elements", f"z{z:02d}.csv"), delimiter=",")
    out = []
    for e in e_keV:
        rows = np.flatnonzero(np.isclose(table[:, 0] * 1000.0, e, rtol=0.0, atol=1e-6))
        assert rows.size == 1, (z, e)  # tabulated once: not at an absorption edge
        out.append(table[rows[0], 1])
    return np.array(out) * NIST_DENSITY_G_CM3[z] / 10.0


def _tp_closed_form(ratio: float, lines_per_cm: float, strip_um: float) -> np.ndarray:
    """Day & Dance (1983) at normal incidence, aluminium interspace and covers: the open
    fraction 1 - d N through the interspace height h = r (1/N - d), plus the strips end-on."""
    period_mm = 10.0 / lines_per_cm
    d_mm = strip_um / 1000.0
    h_mm = ratio * (period_mm - d_mm)
    mu_al, mu_pb = _nist_mu_per_mm(13, TAB_KEV), _nist_mu_per_mm(82, TAB_KEV)
    open_fraction = 1.0 - d_mm / period_mm
    tp = open_fraction * np.exp(-mu_al * h_mm) + (1.0 - open_fraction) * np.exp(-mu_pb * h_mm)
    return tp * np.exp(-mu_al * AL_COVERS_MM)


def test_default_grid_primary_transmission_from_first_principles():
    """Tp of the default grid (10:1, 60 lines/cm, 36.7 um lead; interspace switched to aluminium
    so that every attenuation coefficient is a NIST element table) equals the closed form:
    0.714 at 60 keV. Tolerance 0.1 %: NIST's density 2.699 against the simulator's 2.6989 and
    the tables' 4 significant figures. A changed default strip (e.g. 0.30 of the period,
    50 um) moves Tp by 10 %."""
    p = Params().replace(**{"grid.interspace": "aluminium"})
    gt = grid.grid_transmission(p, TAB_KEV)
    np.testing.assert_allclose(gt.tp_E, _tp_closed_form(10.0, 60.0, DEFAULT_STRIP_UM), rtol=1e-3)
    assert gt.strip_mm == pytest.approx(DEFAULT_STRIP_UM / 1000.0)


@pytest.mark.parametrize("strip_um", [20.0, 36.7, 50.0, 60.0])
@pytest.mark.parametrize("lines", [30.0, 60.0, 80.0])
def test_strip_um_changes_tp_as_the_closed_form_says(strip_um, lines):
    """Tp(d) follows (1 - d N) exp(-mu_Al h(d)) over the knob's range (the interspace
    narrows and the strips get shorter at a fixed ratio). Tolerance 0.1 % as above."""
    p = Params().replace(
        **{
            "grid.interspace": "aluminium",
            "grid.ratio": 12.0,
            "grid.lines_per_cm": lines,
            "grid.strip_um": strip_um,
        }
    )
    gt = grid.grid_transmission(p, TAB_KEV)
    np.testing.assert_allclose(gt.tp_E, _tp_closed_form(12.0, lines, strip_um), rtol=1e-3)
    kw = grid.grid_transmission(
        None, TAB_KEV, ratio=12.0, lines_per_cm=lines, interspace="aluminium", strip_um=strip_um
    )
    np.testing.assert_array_equal(gt.tp_E, kw.tp_E)


def test_thicker_strips_pass_less_primary_and_less_scatter():
    figs = [_figures(strip_um=d) for d in (20.0, 36.7, 50.0, 60.0)]
    assert np.all(np.diff([f["tp"] for f in figs]) < 0.0)
    assert np.all(np.diff([f["ts"] for f in figs]) < 0.0)


GRID_MC = json.loads(materials.asset_path("scatter", "grid_mc.json").read_text())
"""Monte Carlo of the issue-11 grid: 80 kV + 2.5 mm Al, 20 cm water, 30 x 30 cm field, 2 cm
gap, 40 lines/cm, 36 um lead, 0.5 g/cm^3 fibre, no covers, ratios 8-15; scores weighted by
the air kerma per photon. Made by ``nice -n 10 .venv/bin/python tools/scatter_mc.py grid
--photons 20000000`` (its ``command`` and ``runtime_s`` fields)."""

MC_RATIOS = ["8", "10", "12", "15"]


def _mc_grid(ratio: str) -> tuple[np.ndarray, np.ndarray]:
    cfg = GRID_MC["config"]
    return grid._tp_ts(
        ENERGY_KEV,
        float(ratio),
        cfg["lines_per_cm"],
        cfg["interspace"],
        cfg["strip_um"] / 1000.0,
        fibre_density=cfg["interspace_density_g_cm3"],
        covers=False,
    )


@pytest.mark.parametrize("ratio", MC_RATIOS)
def test_scatter_transmission_on_the_monte_carlo_photons(ratio):
    """The model's T(E, theta) (Day & Dance strip average, septal penetration) weighted by the
    kerma of the scatter entering the grid in the Monte Carlo, binned 2 keV x 1 deg, against
    the Ts the Monte Carlo got by tracking those photons through the strips (0.140, 0.105,
    0.083, 0.060 at ratios 8, 10, 12, 15; GRID_MC). This isolates the grid physics from how
    the chain models the scatter's energies and angles. Tolerance 3 %: MC standard error
    below 1.5 %, binning below 0.5 %. With lead's total attenuation (coherent scattering
    counted as removal, as before issue 11) the model is 7 % low."""
    cfg = GRID_MC["config"]
    weight = np.array(GRID_MC["e_theta_kerma"])
    e_edges = np.array(GRID_MC["e_edges_keV"])
    t_edges = np.radians(GRID_MC["e_theta_edges_deg"])
    e_mid = 0.5 * (e_edges[1:] + e_edges[:-1])
    t_mid = 0.5 * (t_edges[1:] + t_edges[:-1])
    mu_i, mu_c, cover_mm = grid._interspace_and_cover(
        e_mid, cfg["interspace"], cfg["interspace_density_g_cm3"], False
    )
    t = grid._scatter_t(
        e_mid,
        t_mid,
        float(ratio),
        cfg["lines_per_cm"],
        cfg["strip_um"] / 1000.0,
        mu_i,
        mu_c,
        cover_mm,
    )
    ts_model = float((weight * t).sum() / weight.sum())
    ref = GRID_MC["ratios"][ratio]["kerma"]
    assert ref["ts_se"] < 0.015 * ref["ts"]
    assert ts_model == pytest.approx(ref["ts"], rel=0.03)


@pytest.mark.parametrize("ratio", MC_RATIOS)
def test_ts_and_spr_behind_the_grid_match_the_monte_carlo(ratio):
    """As the chain computes them (grid_figures: scatter spectrum of sim.scatter, the embedded
    p(theta), air-kerma weights): Ts within 10 % of the Monte Carlo's (issue 11, item 5: the
    chain was 20 % low) and the SPR behind the grid, SPR_front x Ts / Tp with the Monte Carlo's
    SPR in front (4.3), within 10 % of the Monte Carlo's (which also counts the primaries the
    grid scatters, 0.6 % of Tp). Tp within 1 % (the closed form; MC standard error 0.1 %).
    Reference values: GRID_MC (e.g. ratio 10: Tp 0.837, Ts 0.105, SPR behind 0.54). The model
    is +2 to -5 % in Ts and +1 to -7 % in SPR behind at ratios 8-15 (its p(theta) is that of a
    5 cm gap, wider angles here at 2 cm); with lead's total attenuation it was -5 to -9 % and
    -5 to -11 %."""
    cfg = GRID_MC["config"]
    incident = tube_spectrum(cfg["kvp"]).filtered({"Al": cfg["al_mm"]})
    behind = incident.filtered({"water": 10.0 * cfg["water_cm"]})
    scatter_spec = scatter.scatter_spectrum(incident, cfg["water_cm"])
    tp_e, ts_e = _mc_grid(ratio)
    lines, d = cfg["lines_per_cm"], cfg["strip_um"] / 1000.0
    c = 10.0 / lines
    gt = grid.GridTransmission(
        ENERGY_KEV, tp_e, ts_e, True, float(ratio), lines, "fibre", d, c - d, float(ratio) * (c - d)
    )
    spr_front = GRID_MC["spr_before_kerma"]
    f = grid.grid_figures(gt, behind, spr_front, scatter_spectrum=scatter_spec)
    ref = GRID_MC["ratios"][ratio]["kerma"]
    assert f["tp"] == pytest.approx(ref["tp"], rel=0.01)
    assert f["ts"] == pytest.approx(ref["ts"], rel=0.10)
    assert f["spr_after"] == pytest.approx(ref["spr_after"], rel=0.10)
