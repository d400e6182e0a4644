"""Tests of sim.geometry: magnification, field size and area, masks, focal blur, bad input."""

import math

import numpy as np
import pytest

from sim.geometry import (
    DetectorGrid,
    Geometry,
    center_roi_mask,
    detector_grid_from,
    field_mask,
    geometry_from,
    off_axis_fluence_map,
)
from sim.params import Params


def test_magnification_is_sid_over_sod():
    """M = SID / SOD (Bushberg et al. 2012, sec. 7.6): exact."""
    g = Geometry(sid_cm=120.0, source_iso_cm=80.0)
    assert g.magnification(80.0) == pytest.approx(1.5, rel=1e-12)
    assert g.iso_magnification == pytest.approx(1.5, rel=1e-12)
    assert g.magnification(120.0) == pytest.approx(1.0, rel=1e-12)
    d = np.array([40.0, 60.0, 100.0])
    np.testing.assert_allclose(g.magnification(d), 120.0 / d, rtol=1e-12)


def test_distances_irp_exit_air_gap():
    """IRP 15 cm before the isocentre (IEC 60601-2-43); exit = skin + thickness."""
    g = Geometry(sid_cm=110.0, source_iso_cm=75.0, source_skin_cm=65.0, patient_thickness_cm=22)
    assert g.irp_cm == pytest.approx(60.0)
    assert g.exit_cm == pytest.approx(87.0)
    assert g.air_gap_cm == pytest.approx(23.0)


@pytest.mark.parametrize("shape", ["square", "circle"])
def test_field_area_scales_with_distance_squared_kap_invariant(shape):
    """Area ∝ d^2, so kerma (∝ 1/d^2) x area (KAP) is the same at every distance."""
    g = Geometry(field_cm=25.0, field_shape=shape)
    kap = [g.field_area_cm2_at(d) / d**2 for d in (30.0, 55.0, 77.7, 100.0)]
    np.testing.assert_allclose(kap, kap[0], rtol=1e-12)
    assert g.field_side_cm_at(50.0) == pytest.approx(12.5)


def test_circle_and_square_area():
    """Square side^2; circle pi D^2 / 4 at the receptor."""
    assert Geometry(field_cm=20.0).field_area_cm2 == pytest.approx(400.0)
    assert Geometry(field_cm=20.0, field_shape="circle").field_area_cm2 == pytest.approx(
        math.pi * 100.0
    )
    assert Geometry(fov_cm=25.0).fov_area_cm2 == pytest.approx(625.0)


@pytest.mark.parametrize(
    ("field_cm", "shape", "n"),
    [(20.0, "square", 512), (13.3, "square", 200), (17.0, "circle", 256)],
)
def test_mask_area_matches_field_area(field_cm, shape, n):
    """Sum of the anti-aliased mask x pixel area = field area within 1 %."""
    g = Geometry(field_cm=field_cm, field_shape=shape, fov_cm=30.0)
    grid = DetectorGrid(n, 300.0)
    m = field_mask(g, grid)
    assert m.dtype == np.float32 and m.shape == (n, n)
    assert m.min() >= 0.0 and m.max() <= 1.0
    area_cm2 = float(m.sum(dtype=np.float64)) * grid.pixel_area_mm2 / 100.0
    assert area_cm2 == pytest.approx(g.field_area_cm2, rel=0.01)
    # a field wider than the FOV fills it
    assert field_mask(Geometry(field_cm=48.0, fov_cm=30.0), grid).min() == 1.0


def test_focal_blur_formula():
    """U = f (M - 1) at the receptor, f (M - 1) / M at the object (Bushberg 2012, sec. 7.6)."""
    g = Geometry(sid_cm=100.0, focal_spot_mm=1.2)
    assert g.focal_blur_mm(50.0) == pytest.approx(1.2)  # M = 2
    assert g.focal_blur_object_mm(50.0) == pytest.approx(0.6)
    assert g.focal_blur_mm(100.0) == pytest.approx(0.0)
    assert Geometry(focal_spot_mm=0.3).focal_blur_mm(50.0) < g.focal_blur_mm(50.0)


def test_grid_coordinates():
    """Pixel centres symmetric about the axis; x to the right, y up (row 0 on top)."""
    grid = DetectorGrid(4, 40.0)
    x, y = grid.coords_mm()
    np.testing.assert_allclose(x, [-15.0, -5.0, 5.0, 15.0])
    np.testing.assert_allclose(y, [15.0, 5.0, -5.0, -15.0])
    assert grid.pixel_mm == pytest.approx(10.0)
    assert grid.index_of(15.0, 15.0) == pytest.approx((0.0, 3.0))
    with pytest.raises(ValueError):
        x[0] = 1.0  # read-only cache


def test_from_params_and_center_roi():
    p = Params().replace(**{"geometry.fov_cm": 25.0, "run.image_px": 128})
    g, grid = geometry_from(p), detector_grid_from(p)
    assert g.sid_cm == p.geometry.sid_cm and g.focal_spot_mm == p.tube.focal_spot_mm
    assert grid.n_px == 128 and grid.fov_mm == pytest.approx(250.0)
    roi = center_roi_mask(g, grid)
    assert roi.dtype == bool and 0 < roi.sum() < 0.2 * roi.size
    cos3 = off_axis_fluence_map(g, grid)
    assert cos3.max() <= 1.0 and cos3.min() > 0.9


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"source_skin_cm": 80.0, "patient_thickness_cm": 25.0}, r"source_skin_cm \+ patient"),
        ({"sid_cm": 90.0, "source_iso_cm": 95.0, "source_skin_cm": 50.0}, "source_iso_cm=95"),
        ({"sid_cm": 200.0}, "geometry.sid_cm=200"),
        ({"field_cm": float("nan")}, "geometry.field_cm"),
        ({"field_shape": "hexagon"}, "geometry.field_shape"),
        ({"focal_spot_mm": 2.0}, "tube.focal_spot_mm"),
    ],
)
def test_bad_input_names_the_knobs(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Geometry(**kwargs)


def test_bad_distance_and_grid():
    g = Geometry()
    for d in (0.0, -5.0, 150.0, float("inf")):
        with pytest.raises(ValueError, match="distance_cm"):
            g.magnification(d)
    with pytest.raises(ValueError, match="n_px"):
        DetectorGrid(0, 300.0)
    with pytest.raises(ValueError, match="fov_mm"):
        DetectorGrid(64, float("nan"))
