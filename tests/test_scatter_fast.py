"""Tests of the scatter estimate's fast paths: the water-equivalent thickness reduced once per
scene (``coarse_paths`` -> ``water_equivalent``) and the kernels built from ring transforms."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.fft

from sim import projection, scatter
from sim.chain import scene
from sim.params import Params
from sim.scatter_grid import KERNEL_M_STEP
from sim.spectrum import tube_spectrum

BEAMS = {kv: tube_spectrum(kv).filtered({"Al": 3.0, "Cu": 0.1}) for kv in (70.0, 90.0)}

ROUND_OFF = 1e-5
"""float32 round-off allowance, relative to the largest value of a map [-]."""


def _hip(image_px: int, field_cm: float | None = None, field_shape: str = "square"):
    """The default (hip) scene, optionally collimated tighter."""
    p = Params()
    g_knobs = p.geometry
    if field_cm is not None:
        g_knobs = dataclasses.replace(g_knobs, field_cm=field_cm, field_shape=field_shape)
    return scene(g_knobs, p.patient, image_px)


def _primary(sc_, spectrum):
    e = np.asarray(spectrum.energy_keV, dtype=float)
    w = {"quanta": np.ones_like(e), "energy": e}
    prim = projection.integrate(spectrum, sc_.paths, w, sc_.geometry.sid_cm)
    return {k: v * sc_.field_mask for k, v in prim.items()}, {"energy": e}


@pytest.mark.parametrize(
    ("image_px", "field_cm", "field_shape"),
    [(Params().run.image_px, None, "square"), (97, 12.0, "circle")],
)
def test_reduced_water_equivalent_gives_the_full_map_result(image_px, field_cm, field_shape):
    """Default hip scene at the run's image size (20 cm square field on 30 cm) and at 97 px
    (a padded coarse grid, odd FFT size) with a 12 cm circular field: the scatter estimate
    from the scene's reduced path lengths equals the one from the full-size water-equivalent
    map to float32 round-off, for two spectra."""
    sc_ = _hip(image_px, field_cm, field_shape)
    g, det, mask = sc_.geometry, sc_.grid, sc_.field_mask
    assert 0.0 < float(np.mean(mask)) < 1.0  # collimated
    reduced = scatter.coarse_paths(sc_.paths, g, det)
    for spectrum in BEAMS.values():
        prim, w = _primary(sc_, spectrum)
        t_map = scatter.water_equivalent_mm(sc_.paths, spectrum)
        full = scatter.scatter_estimate(prim, t_map, g, det, spectrum, mask, weights=w)
        weq = scatter.water_equivalent(reduced, spectrum)
        fast = scatter.scatter_estimate(prim, weq, g, det, spectrum, mask, weights=w)
        for key in prim:
            ref = full.maps[key]
            assert float(ref.max()) > 0.0
            np.testing.assert_allclose(fast.maps[key], ref, rtol=0, atol=ROUND_OFF * ref.max())
            assert fast.spr_by_key[key] == pytest.approx(full.spr_by_key[key], rel=ROUND_OFF)
        assert fast.spr == pytest.approx(full.spr, rel=ROUND_OFF)
        np.testing.assert_allclose(
            fast.spr_map, full.spr_map, rtol=0, atol=ROUND_OFF * full.spr_map.max()
        )
        np.testing.assert_allclose(fast.kernel, full.kernel, rtol=1e-12, atol=0)
        assert fast.water_eq_center_cm == pytest.approx(full.water_eq_center_cm, rel=1e-6)
        assert weq.centre_cm == fast.water_eq_center_cm
        assert fast.scatter_energy_factor == pytest.approx(full.scatter_energy_factor, rel=1e-6)
        np.testing.assert_allclose(fast.scatter_spectrum, full.scatter_spectrum, rtol=1e-5)


def test_water_equivalent_of_water_is_its_thickness():
    sc_ = _hip(96)
    water = np.full((96, 96), 180.0, dtype=np.float32)
    weq = scatter.water_equivalent(
        scatter.coarse_paths({"water": water}, sc_.geometry, sc_.grid), BEAMS[70.0]
    )
    assert weq.coarse_cm == pytest.approx(18.0, rel=1e-12)
    assert weq.centre_cm == pytest.approx(18.0, rel=1e-12)


def test_reduced_paths_refuse_another_grid_or_geometry():
    small, other = _hip(96), _hip(97)
    collimated = _hip(96, 12.0, "circle")
    weq = scatter.water_equivalent(
        scatter.coarse_paths(small.paths, small.geometry, small.grid), BEAMS[70.0]
    )
    beam = BEAMS[70.0]
    for sc_ in (other, collimated):
        prim, _ = _primary(sc_, beam)
        with pytest.raises(ValueError, match="coarse_paths"):
            scatter.scatter_estimate(prim, weq, sc_.geometry, sc_.grid, beam, sc_.field_mask)


def test_coarse_paths_bad_input():
    sc_ = _hip(96)
    g, det = sc_.geometry, sc_.grid
    ok = np.ones((96, 96), dtype=np.float32)
    with pytest.raises(ValueError, match="mapping"):
        scatter.coarse_paths({}, g, det)
    with pytest.raises(ValueError, match="shape"):
        scatter.coarse_paths({"water": ok[:10]}, g, det)
    with pytest.raises(ValueError, match=">= 0"):
        scatter.coarse_paths({"water": -ok}, g, det)
    with pytest.raises(ValueError, match=">= 0"):
        scatter.coarse_paths({"water": ok * np.nan}, g, det)
    with pytest.raises(ValueError):
        scatter.coarse_paths({"unobtainium": ok}, g, det)
    with pytest.raises(ValueError, match="CoarsePaths"):
        scatter.water_equivalent({"water": ok}, BEAMS[70.0])


def _kernel_by_sub_samples(shape_frac, r_cm, plan, m, m_rings):
    """The kernel by its definition: ring densities summed over 2 x 2 sub-samples of every
    cell of the FFT grid (rings at magnification ``m_rings``), offset 0 at index 0; the
    centre cell holds the exact fraction at ``m``."""
    n2, sub = plan.n_fft, 2
    edges = np.concatenate([[0.0], r_cm])
    fr = np.concatenate([[0.0], shape_frac])
    dens = np.append(np.diff(fr) / (math.pi * np.diff(edges**2)), 0.0)
    s = (np.arange(sub) + 0.5) / sub - 0.5
    xs = ((np.fft.fftfreq(n2, d=1.0 / n2)[:, None] + s) * plan.cell_cm).ravel()
    rho = np.hypot(xs[:, None], xs[None, :]) / m_rings
    ring = np.searchsorted(edges, rho, side="right") - 1
    d = dens[np.minimum(ring, dens.size - 1)]
    mass = d.reshape(n2, sub, n2, sub).sum(axis=(1, 3)) * (plan.cell_cm / sub) ** 2
    mass[0, 0] = m * m * np.interp(plan.cell_cm / math.sqrt(math.pi) / m, edges, fr)
    return mass


@pytest.mark.parametrize(
    "plan_key",
    [(96, 300.0, 20.0, "square", 1.2195), (100, 300.0, 12.0, "circle", 1.2195)],
)
def test_kernels_from_ring_transforms_match_sub_sampling(plan_key):
    """Even (120) and odd (125) FFT sizes: the kernels and their rfft2 from the precomputed
    ring transforms equal the direct sub-sample sum and its FFT."""
    m = plan_key[-1]
    plan = scatter._plan(*plan_key)
    spec, spec_id = scatter._spectral_for(BEAMS[90.0], None, 5.0)
    t_cm = (4.0, 17.25, 41.0)
    k_cells, kf, basis = scatter._kernels_fft(spec_id, t_cm, plan_key, m)
    for i, t in enumerate(t_cm):
        m_rings = round(m / KERNEL_M_STEP) * KERNEL_M_STEP
        ref = _kernel_by_sub_samples(scatter._shape_at(spec, t), spec.r_cm, plan, m, m_rings)
        got = k_cells[i][basis.shifted_index]
        np.testing.assert_allclose(got, np.fft.fftshift(ref), rtol=0, atol=1e-13 * ref.max())
        ref_f = scipy.fft.rfft2(ref)
        assert kf[i].shape == ref_f.shape
        scale = float(np.abs(ref_f).max())
        np.testing.assert_allclose(kf[i], ref_f.real, rtol=0, atol=1e-6 * scale)
        assert float(np.abs(ref_f.imag).max()) < 1e-12 * scale  # an even kernel: real DFT
