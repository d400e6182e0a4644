"""The fast paths of the ray tracer give the chords of its plain formulation.

The tracer skips work where the result is known (no clipping for shapes between source and
receptor, the root gap for plain quadrics, cuts only on the rays of their pixel boxes, clip
planes that only bound t from below by t <= 0, groups of sub-rays by the cuts they can meet,
corners and centres of small blocks as one list of rays). These tests trace every shape of
every phantom both ways and compare the chords (float32 round-off), and check a cylinder
seen along its axis (the rays parallel to it).
"""

import itertools
import math

import numpy as np
import pytest

from sim import phantoms as ph
from sim.geometry import DetectorGrid, Geometry, geometry_from
from sim.params import PHANTOMS, Params
from sim.phantoms import trace


def _plain_net_t(shape, o, dx, dy, dz):
    """The tracer's net ray-parameter length without shortcuts: every plane bound, t clipped
    to [0, 1], inclusion-exclusion over every cut on every ray."""
    t0, t1 = shape._clipped_interval(o, dx, dy, dz)
    t0, t1 = np.maximum(t0, 0.0), np.minimum(t1, 1.0)
    total = np.maximum(t1 - t0, 0.0)
    cuts = [c._clipped_interval(o, dx, dy, dz) for c in shape.cuts]
    for k in range(1, len(cuts) + 1):
        for subset in itertools.combinations(cuts, k):
            lo, hi = t0, t1
            for c0, c1 in subset:
                lo, hi = np.maximum(lo, c0), np.minimum(hi, c1)
            total = total + (-1.0) ** k * np.maximum(hi - lo, 0.0)
    return np.maximum(total, 0.0)


def _plain_chords(shape, skin_mm, sid_mm, x, y):
    """Chords [mm] of the rays to the receptor points (x, y) [mm] by :func:`_plain_net_t`."""
    t = _plain_net_t(shape, (0.0, 0.0, -skin_mm), x, y, sid_mm)
    return t * np.sqrt(x * x + y * y + sid_mm * sid_mm)


def _assert_close(fast, plain, what):
    scale = max(float(np.max(np.abs(plain))), 1.0)
    err = float(np.max(np.abs(np.asarray(fast, dtype=float) - plain)))
    assert err <= 2e-6 * scale, f"{what}: max difference {err:.3g} mm (scale {scale:.3g})"


def _scenes():
    for name in sorted(PHANTOMS):
        for px in (64, 256):
            p = Params().replace(**{"patient.phantom": name, "run.image_px": px})
            g = geometry_from(p)
            yield name, ph.build_phantom(p), g, DetectorGrid(px, g.fov_cm * 10.0)


@pytest.mark.parametrize(("name", "phantom", "geom", "grid"), list(_scenes()))
def test_blocks_match_the_plain_tracer(name, phantom, geom, grid):
    """Unsupersampled shapes: the cached chord block equals the plain chords of its pixels."""
    skin, sid = geom.source_skin_cm * 10.0, geom.sid_cm * 10.0
    x, y = grid.coords_mm()
    for i, shape in enumerate(phantom.shapes):
        if trace._n_sub(shape, skin, sid, grid) > 1:
            continue
        got = trace._compute_block(shape, skin, sid, grid)
        bb = trace._bbox(shape, skin, sid, grid)
        if bb is None:
            assert got is None
            continue
        r0, r1, c0, c1 = bb
        plain = _plain_chords(shape, skin, sid, x[None, c0:c1], y[r0:r1, None])
        if got is None:
            assert not np.any(plain.astype(np.float32)), f"{name} shape {i}"
            continue
        assert got[:2] == (r0, c0)
        _assert_close(got[2], plain, f"{name} shape {i}")


@pytest.mark.parametrize(("name", "phantom", "geom", "grid"), list(_scenes()))
def test_supersampling_matches_the_plain_tracer(name, phantom, geom, grid):
    """Supersampled shapes: corners and centres (as a list of rays or as grids) and sub-rays
    (grouped by the cuts they can meet or not) equal the plain chords."""
    skin, sid = geom.source_skin_cm * 10.0, geom.sid_cm * 10.0
    x, y = grid.coords_mm()
    p = grid.pixel_mm
    for i, shape in enumerate(phantom.shapes):
        n = trace._n_sub(shape, skin, sid, grid)
        bb = trace._bbox(shape, skin, sid, grid)
        if n == 1 or bb is None:
            continue
        r0, r1, c0, c1 = bb
        clip = not trace._between(shape, skin, sid)
        xe = np.append(x[c0:c1] - p / 2.0, x[c1 - 1] + p / 2.0)
        ye = np.append(y[r0:r1] + p / 2.0, y[r1 - 1] - p / 2.0)
        corner, centre = trace._corner_centre_chords(
            shape, skin, sid, xe, ye, x[c0:c1], y[r0:r1], clip
        )
        _assert_close(corner, _plain_chords(shape, skin, sid, xe[None, :], ye[:, None]), name)
        plain_centre = _plain_chords(shape, skin, sid, x[None, c0:c1], y[r0:r1, None])
        _assert_close(centre, plain_centre, f"{name} shape {i} centres")
        boxes = trace._cut_boxes(shape, skin, sid, grid, bb, edges=True)
        grid_corner = trace._grid_chords(shape, skin, sid, xe, ye, None, clip, boxes)
        _assert_close(grid_corner, corner, f"{name} shape {i} corner grid")
        rr, cc = np.mgrid[r0:r1, c0:c1]
        rows, cols = rr.ravel()[:: max(1, rr.size // 300)], cc.ravel()[:: max(1, rr.size // 300)]
        k = min(n, 4)
        got = trace._supersampled(shape, skin, sid, grid, rows, cols, k, clip)
        off = ((np.arange(k) + 0.5) / k - 0.5) * p
        xs = x[cols][:, None, None] + off[None, None, :]
        ys = y[rows][:, None, None] + off[None, :, None]
        plain = _plain_chords(shape, skin, sid, *np.broadcast_arrays(xs, ys)).mean(axis=(1, 2))
        _assert_close(got, plain, f"{name} shape {i} sub-rays")


def test_cut_groups_of_sub_rays_match_all_cuts_on_all_rays():
    """Many sub-rays: the groups by cut boxes give the chords of all cuts on all rays."""
    sphere = ph.Sphere(material="water", center_mm=(0.0, 0.0, 100.0), radius_mm=30.0)
    cuts = (
        ph.Sphere(material="water", center_mm=(-15.0, 0.0, 100.0), radius_mm=10.0),
        ph.Sphere(material="water", center_mm=(15.0, 5.0, 100.0), radius_mm=12.0),
        ph.Cylinder(
            material="water", start_mm=(-5.0, -40.0, 95.0), end_mm=(5.0, 40.0, 105.0), radius_mm=4
        ),
    )
    shape = ph.Sphere(
        material="water", center_mm=(0.0, 0.0, 100.0), radius_mm=30.0, cuts=cuts, feature_mm=1.0
    )
    grid = DetectorGrid(96, 150.0)
    skin, sid = 600.0, 1000.0
    r0, r1, c0, c1 = trace._bbox(sphere, skin, sid, grid)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    rows, cols = rr.ravel(), cc.ravel()
    grouped = trace._supersampled(shape, skin, sid, grid, rows, cols, 6, False)
    whole = trace._sub_rays(shape, skin, sid, grid, rows, cols, 6, True, None)
    assert rows.size * 36 >= trace._TILE // 4  # the grouped path ran
    _assert_close(grouped, whole, "grouped sub-rays")


def test_a_cylinder_seen_along_its_axis():
    """Rays parallel (and nearly parallel) to a cylinder's axis: the chord is its length."""
    geom = Geometry(
        sid_cm=100.0, source_iso_cm=70.0, source_skin_cm=60.0, patient_thickness_cm=22,
        table=False,
    )  # fmt: skip
    cyl = ph.Cylinder(
        material="water", start_mm=(0.0, 0.0, 50.0), end_mm=(0.0, 0.0, 150.0), radius_mm=5.0
    )
    grid = DetectorGrid(9, 63.0)  # the centre pixel's ray runs along the axis
    path = ph.path_lengths(ph.Phantom("axis", (cyl,)), geom, grid)["water"]
    assert path[4, 4] == pytest.approx(100.0, rel=1e-6)
    # the next pixels' rays (7 mm off at the receptor) enter by the end and leave by the side
    x, _ = grid.coords_mm()
    off = abs(x[5])
    z_exit = 5.0 * 1000.0 / off - 600.0  # where the ray leaves the radius-5 section
    assert 50.0 < z_exit < 150.0
    expected = (z_exit - 50.0) * math.hypot(off, 1000.0) / 1000.0
    assert path[4, 5] == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(path[4, 3], path[4, 5], rtol=1e-6)
