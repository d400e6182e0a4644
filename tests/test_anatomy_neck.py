"""Lateral neck of the barium swallow (sim.phantoms.swallow): the anatomy a radiographer
names, checked where it could go wrong (issue 8, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from sim import phantoms as ph
from sim.geometry import DetectorGrid, Geometry
from sim.phantoms import swallow

GEOM = Geometry(sid_cm=100.0, source_iso_cm=70.0, source_skin_cm=60.0, field_cm=20.0,
                fov_cm=30.0, table=False)  # fmt: skip
GRID = DetectorGrid(192, 300.0)
LEVELS = [row[0] for row in swallow.CERVICAL_LEVELS]


def _centre(shape) -> np.ndarray:
    lo, hi = shape.aabb()
    return 0.5 * (lo + hi)


def _bodies(p):
    """The vertebral bodies: the first (cortical) ellipsoid of each level."""
    out = {}
    for s in p.shapes:
        if s.label in LEVELS and isinstance(s, ph.Ellipsoid) and s.label not in out:
            out[s.label] = s
    return out


@pytest.fixture(scope="module")
def neck():
    return ph.make_phantom("swallow", thickness_cm=12.0, contrast_ml=10.0, needle_progress=0.5)


def test_the_neck_holds_c2_to_t1_in_order_with_discs_between(neck):
    bodies = _bodies(neck)
    assert list(bodies) == LEVELS
    ys = [_centre(b)[1] for b in bodies.values()]
    assert all(a > b for a, b in zip(ys, ys[1:], strict=False))  # C2 on top, T1 at the bottom
    # a disc (gap) between neighbouring bodies along the midline: no bone at its centre
    bone = [s for s in neck.shapes if s.material.startswith("bone")]
    for upper, lower in zip(bodies.values(), list(bodies.values())[1:], strict=False):
        mid = 0.5 * (_centre(upper) + _centre(lower))
        assert not any(b.contains(mid[None, :])[0] for b in bone)


def test_the_airway_is_air_in_front_of_the_spine_and_curves_with_it(neck):
    bodies = _bodies(neck)
    air = [s for s in neck.shapes if s.material == "air"]
    assert {s.label for s in air} >= {"pharynx", "larynx", "trachea"}
    z = 60.0
    for name in ("C3", "C5", "C7"):
        c = _centre(bodies[name])
        front = c[0] + bodies[name].semi_axes_mm[0]
        xs = np.linspace(c[0] - 80.0, c[0] + 80.0, 1601)
        pts = np.column_stack([xs, np.full_like(xs, c[1]), np.full_like(xs, z)])
        in_air = np.any([s.contains(pts) for s in air], axis=0)
        assert in_air.any(), name
        assert xs[in_air].min() > front + 5.0, name  # anterior to the body, past the lumen
    # the trachea bends back towards the thoracic inlet with the spine
    tr = swallow._neck_anatomy(120.0)[1]["trachea"]
    assert tr.x_at_y(-60.0) < tr.x_at_y(0.0) - 5.0


def test_the_airway_and_the_barium_show_in_the_path_maps(neck):
    maps = ph.path_lengths(neck, GEOM, GRID)
    assert maps["air"].max() > 15.0  # mm of air across the neck: the pharynx, the trachea
    assert maps["barium"].max() > 10.0
    assert maps["bone_cancellous"].max() > 10.0 and maps["bone_cortical"].max() > 5.0


def test_spinous_processes_point_posteriorly_and_c7_is_prominent(neck):
    bodies = _bodies(neck)
    tips = {}
    for name, body in bodies.items():
        parts = [s for s in neck.shapes if s.label == name and s.material == "bone_cortical"]
        lo = min(s.aabb()[0][0] for s in parts)  # most posterior bone of the level
        tips[name] = lo
        assert lo < _centre(body)[0] - 40.0, name  # well behind the body
    depth = {n: _centre(bodies[n])[0] - tips[n] for n in LEVELS}
    assert depth["C7"] > max(depth[n] for n in ("C3", "C4", "C5"))
    # and all of it inside the neck's muscle, under the fat and skin
    assert ph.overlap_report(neck, samples=1500) == []


def test_the_cancellous_cores_are_textured(neck):
    bodies = _bodies(neck)
    cores = [s for s in neck.shapes if s.label in bodies and s.material == "bone_cancellous"]
    textured = [s for s in cores if s.texture > 0]
    assert len({s.label for s in textured}) == len(LEVELS)
    for s in textured:
        assert 0.2 <= s.texture <= 0.35 and 0.6 <= s.texture_mm <= 1.2
    # the texture shows in the image: the body's cancellous path varies within it
    grid = DetectorGrid(256, 300.0)
    i = neck.shapes.index(textured[2])
    plain = ph.shape_path(neck, i, GEOM, grid)
    maps = ph.path_lengths(neck, GEOM, grid)
    inside = plain > 0.8 * plain.max()
    ratio = maps["bone_cancellous"][inside] / plain[inside]
    assert ratio.std() > 0.1


@pytest.mark.parametrize("ml", [2.0, 10.0, 20.0])
def test_the_bolus_descends_with_progress_and_holds_its_volume(ml):
    z = 60.0
    tops, vols = [], []
    for prog in (0.0, 0.25, 0.5, 0.75, 1.0):
        p = ph.make_phantom("swallow", thickness_cm=12.0, contrast_ml=ml, needle_progress=prog)
        bolus = [s for s in p.shapes if s.label == "contrast"]
        assert all(s.material == "barium" for s in bolus) and len(bolus) >= 3
        # exact volume: Monte Carlo over the bolus's bounding box
        lo = np.min([s.aabb()[0] for s in bolus], axis=0)
        hi = np.max([s.aabb()[1] for s in bolus], axis=0)
        pts = np.random.default_rng(1).uniform(lo, hi, size=(200_000, 3))
        inside = np.any([s.contains(pts) for s in bolus], axis=0)
        vols.append(inside.mean() * np.prod(hi - lo) / 1000.0)
        tops.append(pts[inside, 1].max())  # the cranial end of the barium
        if prog == 0.5:
            assert ph.overlap_report(p, samples=1500) == []
        assert lo[2] >= z - 10.0 and hi[2] <= z + 10.0
    assert np.all(np.diff(tops) < -5.0)  # moves down, the whole way
    assert tops[0] - tops[-1] == pytest.approx(swallow.BOLUS_TRAVEL_MM, abs=3.0)
    assert np.allclose(vols, ml, rtol=0.03)


def test_the_bolus_lies_behind_the_trachea_and_in_front_of_the_spine():
    p = ph.make_phantom("swallow", thickness_cm=12.0, contrast_ml=10.0, needle_progress=1.0)
    k = swallow._neck_anatomy(120.0)[1]
    bolus = [s for s in p.shapes if s.label == "contrast"]
    head = bolus[-1]  # the leading end: a rounded head, below the rest of the column
    assert isinstance(head, ph.Ellipsoid) and len(head.planes) == 1
    assert all(_centre(head)[1] < _centre(s)[1] for s in bolus[:-1])
    c = _centre(head)
    assert k["trachea"].x_at_y(c[1]) > c[0] + 10.0
    spine_front = swallow._spine_x(c[1], 1.0)[0] + 9.0
    assert c[0] - swallow.OESOPHAGUS_RADIUS_MM > spine_front


def test_the_neck_has_fat_around_muscle_and_scales_down():
    p = ph.make_phantom("swallow", thickness_cm=12.0, contrast_ml=0.0)
    assert p.shapes[0].material == "adipose" and p.shapes[1].material == "muscle"
    assert p.shapes[1].parent == 0
    small = ph.make_phantom("swallow", thickness_cm=6.0, contrast_ml=5.0, needle_progress=0.5)
    assert ph.overlap_report(small, samples=800) == []
