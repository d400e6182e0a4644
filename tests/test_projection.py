"""Tests of sim.projection: LUT against the exact per-energy sum, Beer-Lambert, beam hardening,
the iodine K edge, inverse square, caching and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import materials, projection
from sim.spectrum import ENERGY_KEV, Spectrum, tube_spectrum
from sim.units import MM_PER_CM

CONTRAST = materials.contrast_material(240.0)  # 240 mg I/ml: 24 mg I/cm^2 per mm
LUT_TOL = 5e-3  # project brief: LUT within 0.5 % of the exact per-energy sum
THIN_CSI_MM = 0.1  # a thin CsI layer: a weight that stresses low energies [mm]


def _spec(kvp: float, filters: dict | None = None) -> Spectrum:
    return tube_spectrum(kvp).filtered(filters or {"Al": 3.0, "Cu": 0.1})


def _weights() -> dict[str, np.ndarray]:
    """Fluence, energy, energy^2 and a weight peaked at low energy (like a thin absorber)."""
    e = ENERGY_KEV
    return {
        "fluence": np.ones_like(e),
        "energy": e.copy(),
        "energy2": e**2,
        "thin": 1.0 - np.exp(-materials.mu_per_mm("csi", e) * THIN_CSI_MM),
    }


def _mono(energy_keV: float) -> Spectrum:
    f = np.zeros_like(ENERGY_KEV)
    i = int(np.argmin(np.abs(ENERGY_KEV - energy_keV)))
    f[i] = 1000.0
    return Spectrum(ENERGY_KEV, f, kvp=150.0, anode_angle_deg=12.0)


def _random_paths(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Hip-range path combinations: soft tissue 0-400 mm, cortical bone 0-60 mm, cancellous
    0-50 mm, iodine 0-200 mg/cm^2 (contrast 0-8.3 mm), steel 0-2 mm, air."""

    def part(hi: float, frac: float) -> np.ndarray:
        return rng.uniform(0.0, hi, (n, n)) * (rng.random((n, n)) < frac)

    return {
        "soft_tissue": part(400.0, 1.0),
        "bone_cortical": part(60.0, 0.5),
        "bone_cancellous": part(50.0, 0.3),
        CONTRAST: part(200.0 / 24.0, 0.2),
        "steel": part(2.0, 0.05),
        "air": part(10.0, 0.05),
    }


def _max_rel(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] / b[k] - 1.0))) for k in b)


# --------------------------------------------------------------------------------------------
# LUT accuracy
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kvp", "filters"),
    [(50.0, {"Al": 2.5}), (80.0, {"Al": 3.0, "Cu": 0.1}), (120.0, {"Al": 3.0, "Cu": 0.6})],
)
def test_lut_matches_exact_on_random_hip_paths(kvp: float, filters: dict) -> None:
    """LUT within 0.5 % of the exact per-energy sum for every output (project brief), on
    random combinations of the hip ranges, including the sparse third axis and the pixels
    computed exactly (steel)."""
    rng = np.random.default_rng(int(kvp))
    paths = _random_paths(rng, 40)
    s = _spec(kvp, filters)
    got = projection.integrate(s, paths, _weights(), distance_cm=100.0)
    ref = projection.exact_integrate(s, paths, _weights(), distance_cm=100.0)
    assert all(v.dtype == np.float32 and v.shape == (40, 40) for v in got.values())
    assert _max_rel(got, ref) < LUT_TOL


def test_lut_matches_exact_with_dense_third_axis_and_lead() -> None:
    """Iodine everywhere (third axis interpolated densely) and lead bars (K edge 88.0 keV)
    on water at 120 kV: within 0.5 % of the exact sum."""
    rng = np.random.default_rng(7)
    n = 32
    paths = {
        "water": rng.uniform(0.0, 300.0, (n, n)),
        CONTRAST: rng.uniform(0.0, 8.0, (n, n)),
        "Pb": rng.uniform(0.0, 0.1, (n, n)) * (rng.random((n, n)) < 0.3),
        "Al": rng.uniform(0.0, 10.0, (n, n)) * (rng.random((n, n)) < 0.3),
    }
    s = _spec(120.0)
    got = projection.integrate(s, paths, _weights())
    ref = projection.exact_integrate(s, paths, _weights())
    assert _max_rel(got, ref) < LUT_TOL


def test_single_and_two_material_tables() -> None:
    """1-D (water only) and 2-D (water + cortical bone) tables within 0.5 % of exact."""
    x = np.linspace(0.0, 400.0, 257, dtype=np.float32).reshape(1, -1)
    s = _spec(70.0, {"Al": 2.5})
    one = {"water": x}
    assert _max_rel(projection.integrate(s, one), projection.exact_integrate(s, one)) < LUT_TOL
    two = {"water": x, "bone_cortical": x[:, ::-1] * np.float32(60.0 / 400.0)}
    assert _max_rel(projection.integrate(s, two), projection.exact_integrate(s, two)) < LUT_TOL


def test_common_paths_folded_into_spectrum() -> None:
    """A slab present in every pixel (divergent: thickness / cos theta) is split into its
    minimum, filtered exactly into the spectrum, and the rest, tabulated; with an aluminium
    step wedge on top the result stays within 0.5 % of exact."""
    n = 48
    x = np.linspace(-150.0, 150.0, n)
    r2 = x[None, :] ** 2 + x[:, None] ** 2
    sid_mm = 1000.0
    inv_cos = np.sqrt(1.0 + r2 / sid_mm**2)
    paths = {
        "water": (200.0 * inv_cos).astype(np.float32),
        "Al": (np.floor((x[None, :] + 150.0) / 50.0) * 4.0 * inv_cos).astype(np.float32),
    }
    s = _spec(60.0, {"Al": 2.5})
    got = projection.integrate(s, paths, _weights())
    ref = projection.exact_integrate(s, paths, _weights())
    assert _max_rel(got, ref) < LUT_TOL
    lut = next(reversed(projection._CACHE.values()))
    assert lut.min_path_mm["water"] == pytest.approx(float(paths["water"].min()))


# --------------------------------------------------------------------------------------------
# physics
# --------------------------------------------------------------------------------------------
def test_beer_lambert_monoenergetic_water() -> None:
    """A monoenergetic beam follows exp(-mu t) exactly; mu of water at the 60.25 keV bin
    agrees with NIST XCOM within 0.5 %.

    Reference: Hubbell & Seltzer, NIST SRD 126, water: mu/rho = 0.2059 cm^2/g at 60 keV and
    0.1837 at 80 keV; log-log interpolation gives 0.2056 cm^2/g at 60.25 keV (rho = 1 g/cm^3).
    """
    s = _mono(60.25)
    t = np.array([[0.0, 10.0, 50.0, 100.0, 200.0, 300.0]], dtype=np.float32)
    out = projection.integrate(s, {"water": t})["fluence"]
    transmission = out / out[0, 0]
    mu = float(materials.mu_per_mm("water", np.array([60.25]))[0])
    np.testing.assert_allclose(transmission, np.exp(-mu * t), rtol=2e-5)
    mu_nist_per_mm = 0.2059 * (60.25 / 60.0) ** (math.log(0.1837 / 0.2059) / math.log(80.0 / 60.0))
    mu_nist_per_mm /= MM_PER_CM  # cm^2/g x 1 g/cm^3 -> 1/cm -> 1/mm
    measured = -math.log(float(transmission[0, 3])) / 100.0
    assert measured == pytest.approx(mu_nist_per_mm, rel=5e-3)


def test_beam_hardening_effective_mu_falls_with_thickness() -> None:
    """Effective attenuation -d ln T / dt of water falls with depth for a polyenergetic beam,
    and stays between mu at the highest and at the lowest energy carrying fluence."""
    s = _spec(80.0)
    t = np.arange(0.0, 301.0, 10.0, dtype=np.float32).reshape(1, -1)
    out = projection.integrate(s, {"water": t})["fluence"][0].astype(np.float64)
    mu_eff = -np.diff(np.log(out)) / 10.0
    assert np.all(np.diff(mu_eff) < 0.0)
    assert mu_eff[0] > 1.1 * mu_eff[-1]  # 0.0253 -> 0.0213 /mm at 80 kV, 3 mm Al + 0.1 mm Cu
    mu = materials.mu_per_mm("water", ENERGY_KEV)[s.fluence > 0.0]
    assert mu.min() < mu_eff.min() and mu_eff.max() < mu.max()
    # the transmitted spectrum hardens too
    e0 = projection.transmitted_spectrum(s, {}).mean_energy_keV()
    e200 = projection.transmitted_spectrum(s, {"water": 200.0}).mean_energy_keV()
    assert e200 > e0 + 5.0


def test_transmission_in_unit_interval_and_zero_paths_unattenuated() -> None:
    """Zero paths give the unattenuated sum_E fluence w (100/d)^2; any paths give a
    transmission in [0, 1]."""
    s = _spec(90.0)
    w = _weights()
    zeros = {"soft_tissue": np.zeros((8, 8), np.float32)}
    open_field = projection.integrate(s, zeros, w, distance_cm=120.0)
    for k, wk in w.items():
        expected = float(s.fluence @ wk) * (100.0 / 120.0) ** 2
        np.testing.assert_allclose(open_field[k], expected, rtol=1e-6)
    paths = _random_paths(np.random.default_rng(3), 24)
    shaded = projection.integrate(s, paths, w, distance_cm=120.0)
    for k in w:
        ratio = shaded[k] / open_field[k][0, 0]
        assert np.all(ratio >= 0.0) and np.all(ratio <= 1.0)


def test_outputs_linear_in_weights_and_in_mas() -> None:
    """2 w gives 2 x the output; a spectrum scaled by the mAs scales the output and reuses
    the cached table, and so do maps whose maxima change a little (a moving needle)."""
    s = _spec(80.0)
    paths = _random_paths(np.random.default_rng(5), 16)
    w = {"e": ENERGY_KEV.copy()}
    one = projection.integrate(s, paths, w)["e"]
    two = projection.integrate(s, paths, {"e": 2.0 * ENERGY_KEV})["e"]
    np.testing.assert_allclose(two, 2.0 * one, rtol=1e-5)
    n_cached = len(projection._CACHE)
    three = projection.integrate(s.scaled(3.0), paths, w)["e"]
    assert len(projection._CACHE) == n_cached
    np.testing.assert_allclose(three, 3.0 * one, rtol=1e-5)
    moved = dict(paths)
    moved["steel"] = paths["steel"] * np.float32(0.995)  # a slightly shorter steel chord
    projection.integrate(s, moved, w)
    assert len(projection._CACHE) == n_cached


def test_inverse_square_and_per_pixel_map() -> None:
    """Output scales as (100 / d)^2, times the optional per-pixel inverse-square map."""
    s = _spec(70.0)
    paths = {"water": np.full((4, 4), 150.0, np.float32)}
    at100 = projection.integrate(s, paths, distance_cm=100.0)["fluence"]
    at200 = projection.integrate(s, paths, distance_cm=200.0)["fluence"]
    np.testing.assert_allclose(at200, at100 / 4.0, rtol=1e-6)
    inv = np.linspace(0.8, 1.0, 16, dtype=np.float32).reshape(4, 4)
    mapped = projection.integrate(s, paths, distance_cm=100.0, inv_square_map=inv)["fluence"]
    np.testing.assert_allclose(mapped, at100 * inv, rtol=1e-6)


def test_iodine_k_edge() -> None:
    """Behind 50 mg/cm^2 of iodine the spectrum drops across the K edge (33.17 keV) by
    exp(-0.05 g/cm^2 x delta mu/rho); the LUT reproduces it for one-bin weights.

    Reference: NIST SRD 126, iodine mu/rho 6.553 / 35.82 cm^2/g below / above the K edge at
    33.17 keV, 8.561 at 30 keV, 22.10 at 40 keV; log-log extrapolation to the bin centres
    32.75 and 33.25 keV gives 6.779 and 35.60 cm^2/g, so the ratio of the transmissions
    above / below is exp(-0.05 x 28.82) = 0.2367.
    """
    s = _spec(70.0)
    t_mm = 0.05 / materials.density_g_cm3("I") * MM_PER_CM  # 50 mg/cm^2 of iodine [mm]
    behind = projection.transmitted_spectrum(s, {"I": t_mm})
    below = int(np.argmin(np.abs(ENERGY_KEV - 32.75)))
    above = below + 1
    trans = behind.fluence / np.where(s.fluence > 0.0, s.fluence, 1.0)
    assert trans[above] / trans[below] == pytest.approx(0.2367, rel=0.02)
    assert "I" in dict(behind.filtration)
    # the same through the LUT, for contrast medium of the same iodine mass (8.33 mm at 240)
    w = {"below": np.eye(ENERGY_KEV.size)[below], "above": np.eye(ENERGY_KEV.size)[above]}
    c_mm = np.array([[0.0, 50.0 / 24.0]], np.float32)
    out = projection.integrate(s, {CONTRAST: c_mm}, w)
    ratio = (out["above"][0, 1] / out["above"][0, 0]) / (out["below"][0, 1] / out["below"][0, 0])
    ref = projection.transmitted_spectrum(s, {CONTRAST: float(c_mm[0, 1])}).fluence
    ref = ref / np.where(s.fluence > 0.0, s.fluence, 1.0)
    assert ratio == pytest.approx(ref[above] / ref[below], rel=1e-4)
    assert ratio < 0.3


def test_transmitted_spectrum_matches_integrate() -> None:
    """A uniform map through integrate equals the sum of the single-ray transmitted spectrum."""
    s = _spec(100.0)
    path = {"soft_tissue": 180.0, "bone_cortical": 12.0, CONTRAST: 2.0}
    behind = projection.transmitted_spectrum(s, path)
    maps = {m: np.full((3, 3), v, np.float32) for m, v in path.items()}
    out = projection.integrate(s, maps, {"energy": ENERGY_KEV.copy()})["energy"]
    np.testing.assert_allclose(out, float(behind.fluence @ ENERGY_KEV), rtol=LUT_TOL)


def test_build_lut_evaluate() -> None:
    """build_lut gives a table whose evaluate matches integrate; paths beyond the covered
    range are refused."""
    s = _spec(80.0)
    lut = projection.build_lut(s, {"soft_tissue": 300.0, "bone_cortical": 40.0})
    assert {a.material for a in lut.axes} == {"soft_tissue", "bone_cortical"}
    assert lut.error_estimate < LUT_TOL
    paths = {"soft_tissue": np.full((2, 2), 250.0, np.float32)}
    np.testing.assert_allclose(
        lut.evaluate(paths)["fluence"], projection.integrate(s, paths)["fluence"], rtol=LUT_TOL
    )
    with pytest.raises(ValueError, match="beyond"):
        lut.evaluate({"soft_tissue": np.full((2, 2), 400.0, np.float32)})
    with pytest.raises(ValueError, match="not built for"):
        lut.evaluate({"water": np.ones((2, 2), np.float32)})


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"paths": {"water": -np.ones((2, 2))}}, "paths\\['water'\\]"),
        ({"paths": {"water": np.full((2, 2), np.nan)}}, "finite"),
        ({"paths": {"water": np.ones((2, 2)), "Al": np.ones((3, 3))}}, "shape"),
        ({"paths": {"unobtainium": np.ones((2, 2))}}, "unobtainium"),
        ({"paths": {}}, "empty"),
        ({"weights": {"w": np.ones(5)}}, "shape"),
        ({"weights": {"w": -np.ones(ENERGY_KEV.size)}}, "weights\\['w'\\]"),
        ({"weights": {"w": np.full(ENERGY_KEV.size, np.inf)}}, "finite"),
        ({"distance_cm": 0.0}, "distance_cm"),
        ({"distance_cm": float("nan")}, "distance_cm"),
        ({"inv_square_map": np.ones((3, 3))}, "inv_square_map"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    args = {"paths": {"water": np.ones((2, 2), np.float32)}, "weights": None, "distance_cm": 100.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        projection.integrate(_spec(80.0), **args)


def test_bad_transmitted_spectrum_input() -> None:
    with pytest.raises(ValueError, match="path_mm\\['water'\\]"):
        projection.transmitted_spectrum(_spec(80.0), {"water": -1.0})
    with pytest.raises(ValueError, match="path_mm\\['water'\\]"):
        projection.transmitted_spectrum(_spec(80.0), {"water": float("nan")})
