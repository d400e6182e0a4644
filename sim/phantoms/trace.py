"""Ray tracing: per-material path-length maps of a phantom on the receptor grid, region masks.

Rays from the point focal spot to every receptor pixel are intersected with each shape
analytically; thin objects are supersampled (partial volume).
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import zlib
from collections import OrderedDict

import numpy as np
from scipy import ndimage

from sim.geometry import TABLE_LAYERS_MM, DetectorGrid, Geometry, center_roi_mask
from sim.phantoms.model import Phantom
from sim.phantoms.shapes import (
    _MAX_SUB,
    _MAX_SUB_ADAPTIVE,
    _RAY_CHUNK,
    _SUB_PER_FEATURE,
    _ZERO_MM,
    VOID,
    Box,
    Cylinder,
    Shape,
    Slab,
)
from sim.units import MM_PER_CM


# ------------------------------------------------------------------------------------------
# projection: chords of one shape on the receptor grid
# ------------------------------------------------------------------------------------------
class _ByteCache:
    """Thread-safe LRU cache bounded by the bytes of the numpy arrays it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.data: OrderedDict = OrderedDict()
        self.nbytes = 0
        self.lock = threading.Lock()

    @staticmethod
    def _size(value) -> int:
        if value is None:
            return 64
        if isinstance(value, dict):
            return sum(a.nbytes for a in value.values()) + 64
        return value[2].nbytes + 64

    def get(self, key):
        with self.lock:
            try:
                value = self.data.pop(key)
            except KeyError:
                return None, False
            self.data[key] = value
            return value, True

    def put(self, key, value) -> None:
        with self.lock:
            if key in self.data:
                self.nbytes -= self._size(self.data.pop(key))
            self.data[key] = value
            self.nbytes += self._size(value)
            while self.nbytes > self.max_bytes and len(self.data) > 1:
                _, old = self.data.popitem(last=False)
                self.nbytes -= self._size(old)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()
            self.nbytes = 0


_CHORDS = _ByteCache(256 << 20)
_MAPS = _ByteCache(128 << 20)


def clear_caches() -> None:
    """Drop the cached chord blocks and path-length maps."""
    _CHORDS.clear()
    _MAPS.clear()


def _net_t(shape: Shape, o, dx, dy, dz) -> np.ndarray:
    """Length in ray-parameter units of the shape (planes and cuts applied), t clipped to [0, 1]."""
    t0, t1 = shape._clipped_interval(o, dx, dy, dz)
    t0 = np.maximum(t0, 0.0)
    t1 = np.minimum(t1, 1.0)
    total = np.maximum(t1 - t0, 0.0)
    if not shape.cuts:
        return total
    cut_iv = [c._clipped_interval(o, dx, dy, dz) for c in shape.cuts]
    for k in range(1, len(cut_iv) + 1):
        sign = -1.0 if k % 2 else 1.0
        for subset in itertools.combinations(cut_iv, k):
            lo, hi = t0, t1
            for c0, c1 in subset:
                lo = np.maximum(lo, c0)
                hi = np.minimum(hi, c1)
            total = total + sign * np.maximum(hi - lo, 0.0)
    return np.maximum(total, 0.0)


def _chord_mm(shape: Shape, skin_mm: float, sid_mm: float, x, y, ray_mm=None) -> np.ndarray:
    """Net chord [mm] of rays from the focal spot to receptor points (x, y) [mm].

    ``ray_mm``: the ray lengths |(x, y, sid)| if already known [mm].
    """
    o = (0.0, 0.0, -skin_mm)
    t = _net_t(shape, o, x, y, sid_mm)
    if ray_mm is None:
        ray_mm = np.sqrt(x * x + y * y + sid_mm * sid_mm)
    return t * ray_mm


@functools.lru_cache(maxsize=8)
def _ray_mm(grid: DetectorGrid, sid_mm: float) -> np.ndarray:
    """Length of the ray from the focal spot to each pixel centre [mm], (n_px, n_px)."""
    x, y = grid.coords_mm()
    out = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2 + sid_mm**2)
    out.setflags(write=False)
    return out


def _bbox(shape: Shape, skin_mm: float, sid_mm: float, grid: DetectorGrid):
    """Pixel (r0, r1, c0, c1) covering the shape's projection, None if off the grid."""
    n = grid.n_px
    box = shape.aabb()
    if box is None:
        return 0, n, 0, n
    lo, hi = box
    for *nv, d in shape.planes:  # an axis-aligned clip plane bounds the box (e.g. a half lung)
        axis = [i for i in range(3) if nv[i] != 0.0]
        if len(axis) == 1:
            i = axis[0]
            lo, hi = lo.copy(), hi.copy()
            if nv[i] > 0:
                hi[i] = min(hi[i], d / nv[i])
            else:
                lo[i] = max(lo[i], d / nv[i])
            if lo[i] > hi[i]:
                return None
    if skin_mm + lo[2] <= 1e-6 * sid_mm:
        return 0, n, 0, n
    zs = skin_mm + np.array([lo[2], hi[2]])
    xs = np.array([lo[0], hi[0]])
    ys = np.array([lo[1], hi[1]])
    px = (xs[:, None] * sid_mm / zs[None, :]).ravel()
    py = (ys[:, None] * sid_mm / zs[None, :]).ravel()
    p, half = grid.pixel_mm, grid.fov_mm / 2.0
    c0 = math.floor((px.min() + half) / p - 0.5) - 1
    c1 = math.ceil((px.max() + half) / p - 0.5) + 2
    r0 = math.floor((half - py.max()) / p - 0.5) - 1
    r1 = math.ceil((half - py.min()) / p - 0.5) + 2
    c0, r0 = max(c0, 0), max(r0, 0)
    c1, r1 = min(c1, n), min(r1, n)
    if c0 >= c1 or r0 >= r1:
        return None
    return r0, r1, c0, c1


def _n_sub(shape: Shape, skin_mm: float, sid_mm: float, grid: DetectorGrid) -> int:
    if shape.feature_mm <= 0:
        return 1
    box = shape.aabb()
    z_far = box[1][2] if box is not None else sid_mm - skin_mm
    pixel_obj = grid.pixel_mm * min(max(skin_mm + z_far, 1.0), sid_mm) / sid_mm
    return int(min(max(math.ceil(_SUB_PER_FEATURE * pixel_obj / shape.feature_mm), 1), _MAX_SUB))


def _supersampled(shape, skin_mm, sid_mm, grid, rows, cols, n) -> np.ndarray:
    """Mean chord over n x n sub-rays of the pixels (rows[k], cols[k])."""
    x, y = grid.coords_mm()
    p = grid.pixel_mm
    off = ((np.arange(n) + 0.5) / n - 0.5) * p
    out = np.empty(rows.size, dtype=float)
    per = max(1, _RAY_CHUNK // (n * n))
    for s in range(0, rows.size, per):
        xs = x[cols[s : s + per]][:, None, None] + off[None, None, :]
        ys = y[rows[s : s + per]][:, None, None] + off[None, :, None]
        xs, ys = np.broadcast_arrays(xs, ys)
        out[s : s + per] = _chord_mm(shape, skin_mm, sid_mm, xs, ys).mean(axis=(1, 2))
    return out


def _thin_line_mask(shape: Cylinder, skin_mm, sid_mm, grid, r0, r1, c0, c1) -> np.ndarray:
    """Pixels of the bbox within reach of the projected axis of a thin cylinder."""
    x, y = grid.coords_mm()
    p0, p1 = np.asarray(shape.start_mm), np.asarray(shape.end_mm)
    z0, z1 = skin_mm + p0[2], skin_mm + p1[2]
    r = max(shape.radius_mm, shape.radius2_mm)
    a = p0[:2] * sid_mm / z0
    b = p1[:2] * sid_mm / z1
    reach = 1.3 * r * sid_mm / max(min(z0, z1) - r, 1e-3) + 0.75 * grid.pixel_mm
    px = x[c0:c1][None, :]
    py = y[r0:r1][:, None]
    ab = b - a
    L2 = float(ab @ ab)
    if L2 <= 0:
        d2 = (px - a[0]) ** 2 + (py - a[1]) ** 2
    else:
        t = np.clip(((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / L2, 0.0, 1.0)
        d2 = (px - a[0] - t * ab[0]) ** 2 + (py - a[1] - t * ab[1]) ** 2
    return d2 <= reach * reach


def _compute_block(shape: Shape, skin_mm: float, sid_mm: float, grid: DetectorGrid):
    bb = _bbox(shape, skin_mm, sid_mm, grid)
    if bb is None:
        return None
    r0, r1, c0, c1 = bb
    x, y = grid.coords_mm()
    n = _n_sub(shape, skin_mm, sid_mm, grid)
    ray = _ray_mm(grid, sid_mm)[r0:r1, c0:c1]
    if isinstance(shape, Slab) and not shape.planes and not shape.cuts:
        dt = float(_net_t(shape, (0.0, 0.0, -skin_mm), 0.0, 0.0, sid_mm))
        block = dt * ray
    elif n == 1:
        block = _chord_mm(shape, skin_mm, sid_mm, x[None, c0:c1], y[r0:r1, None], ray)
    elif isinstance(shape, Box):
        # small, sharp-edged (bars, steps): supersample every pixel of the bbox
        rr, cc = np.mgrid[r0:r1, c0:c1]
        vals = _supersampled(shape, skin_mm, sid_mm, grid, rr.ravel(), cc.ravel(), n)
        block = vals.reshape(r1 - r0, c1 - c0)
    elif isinstance(shape, Cylinder) and shape.length_mm > 4 * max(
        shape.radius_mm, shape.radius2_mm
    ):
        # thin line (needle, vessel): supersample only pixels near the projected axis
        mask = _thin_line_mask(shape, skin_mm, sid_mm, grid, r0, r1, c0, c1)
        block = np.zeros((r1 - r0, c1 - c0))
        rr, cc = np.nonzero(mask)
        block[rr, cc] = _supersampled(shape, skin_mm, sid_mm, grid, rr + r0, cc + c0, n)
    else:
        # adaptive: corners + centre; supersample pixels where the chord changes a lot
        p = grid.pixel_mm
        xe = np.append(x[c0:c1] - p / 2.0, x[c1 - 1] + p / 2.0)
        ye = np.append(y[r0:r1] + p / 2.0, y[r1 - 1] - p / 2.0)
        corner = _chord_mm(shape, skin_mm, sid_mm, xe[None, :], ye[:, None])
        centre = _chord_mm(shape, skin_mm, sid_mm, x[None, c0:c1], y[r0:r1, None], ray)
        k = np.stack([corner[:-1, :-1], corner[:-1, 1:], corner[1:, :-1], corner[1:, 1:], centre])
        kmax, kmin = k.max(axis=0), k.min(axis=0)
        gmax = float(kmax.max()) if kmax.size else 0.0
        flag = ((kmin <= 0) & (kmax > 0)) | (kmax - kmin > 0.1 * gmax)
        block = (k[:4].mean(axis=0) + 2.0 * centre) / 3.0
        rr, cc = np.nonzero(flag)
        if rr.size:
            n = min(n, _MAX_SUB_ADAPTIVE)
            block[rr, cc] = _supersampled(shape, skin_mm, sid_mm, grid, rr + r0, cc + c0, n)
    block = block.astype(np.float32)
    if not block.any():
        return None
    block.setflags(write=False)
    return r0, c0, block


def _shape_block(shape: Shape, skin_mm: float, sid_mm: float, grid: DetectorGrid):
    """Cached (r0, c0, chord block [mm] float32) of one shape, or None if it misses the grid."""
    key = (shape, skin_mm, sid_mm, grid)
    value, hit = _CHORDS.get(key)
    if not hit:
        value = _compute_block(shape, skin_mm, sid_mm, grid)
        _CHORDS.put(key, value)
    return value


_TEXTURE_TILE = 1024  # samples per side of the periodic texture tile [-]
_TEXTURE_STEP = 0.25  # tile spacing in units of texture_mm [-]
_TEXTURE_FLOOR = 0.2  # lowest density factor of a texture [-]


@functools.lru_cache(maxsize=8)
def _texture_tile(texture_mm: float) -> np.ndarray:
    """A periodic Gaussian random field of unit spread and correlation length ``texture_mm``
    on a square tile of spacing ``_TEXTURE_STEP * texture_mm`` (float32, read-only)."""
    n, d = _TEXTURE_TILE, _TEXTURE_STEP * texture_mm
    white = np.random.default_rng(20261205).standard_normal((n, n))
    k = np.fft.fftfreq(n, d)
    gauss = np.exp(-((math.pi * texture_mm) ** 2) * (k[:, None] ** 2 + k[None, :] ** 2))
    field = np.real(np.fft.ifft2(np.fft.fft2(white) * gauss))
    field = (field / field.std()).astype(np.float32)
    field.setflags(write=False)
    return field


def texture_field(shape: Shape, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Density factor of a textured shape at patient-plane points (x, y) [mm] (mean ~1).

    A Gaussian random field of correlation length ``texture_mm`` and unit spread (one periodic
    tile per length, :func:`_texture_tile`, read at the nearest sample), scaled by ``texture``
    and floored at :data:`_TEXTURE_FLOOR`. Each shape reads the tile at its own offset, drawn
    from its material, label and lateral position, so the pattern is the same in every frame,
    moves with the shape and does not change when only the shape's depth does (a new patient
    thickness).

    References
    ----------
    Trabecular spacing 0.5-1.5 mm and the projected texture of cancellous bone: R. Müller et
    al., Bone 23:59 (1998) (docs/references.md [Muller1998]); the field is a modelling choice
    (# guess: amplitude and length set by eye to look like a radiograph).
    """
    tile = _texture_tile(float(shape.texture_mm))
    n, d = _TEXTURE_TILE, _TEXTURE_STEP * shape.texture_mm
    box = shape.aabb()
    where = (
        (0.0, 0.0)
        if box is None
        else (0.5 * (box[0][0] + box[1][0]), 0.5 * (box[0][1] + box[1][1]))
    )
    seed = zlib.crc32(
        repr((shape.material, shape.label, round(where[0]), round(where[1]))).encode()
    )
    ox, oy = np.random.default_rng(seed).integers(0, n, 2)
    ix = (np.floor(np.asarray(x_mm, dtype=float) / d).astype(np.int64) + ox) % n
    iy = (np.floor(np.asarray(y_mm, dtype=float) / d).astype(np.int64) + oy) % n
    field = tile[iy, ix]
    return np.maximum(1.0 + shape.texture * field, _TEXTURE_FLOOR)


def _textured_block(shape, skin_mm, sid_mm, grid, r0, c0, block) -> np.ndarray:
    """The shape's chord block times its texture, at the shape's mid-depth (cached)."""
    key = ("texture", shape, skin_mm, sid_mm, grid)
    value, hit = _CHORDS.get(key)
    if not hit:
        box = shape.aabb()
        z = 0.5 * (box[0][2] + box[1][2]) if box is not None else 0.0
        to_patient = (skin_mm + z) / sid_mm  # receptor -> patient plane at that depth
        x, y = grid.coords_mm()
        rows, cols = block.shape
        xs = x[c0 : c0 + cols][None, :] * to_patient
        ys = y[r0 : r0 + rows][:, None] * to_patient
        value = (block * texture_field(shape, xs, ys)).astype(np.float32)
        value.setflags(write=False)
        _CHORDS.put(key, value)
    return value


def _table_shapes(geometry: Geometry) -> tuple[Shape, ...]:
    shapes, z = [], 0.0
    for material, t_mm in reversed(TABLE_LAYERS_MM):
        shapes.append(Slab(material=material, z0_mm=z - t_mm, z1_mm=z, label="table"))
        z -= t_mm
    return tuple(shapes) if geometry.table else ()


def path_lengths(
    phantom: Phantom, geometry: Geometry, grid: DetectorGrid, include_table: bool = False
) -> dict[str, np.ndarray]:
    """Per-material path lengths of the divergent rays to every receptor pixel [mm].

    Parameters
    ----------
    phantom
        The phantom (:func:`build_phantom`).
    geometry
        Source-skin distance and SID place the phantom.
    include_table
        Also trace the table and pad (:data:`sim.geometry.TABLE_LAYERS_MM`, just below the
        entrance surface) when ``geometry.table`` is on. Off by default: the chain filters
        the spectrum by the table instead (normal incidence), so tracing it here as well
        would count it twice.
    grid
        Receptor grid.

    Returns
    -------
    dict
        Material -> read-only float32 (n_px, n_px) path length [mm], non-negative; materials
        whose map is all zero are omitted. Cached by (phantom, distances, grid).

    References
    ----------
    Ray-quadric and slab intersections (Shirley 2005, sec. 10.3; Kay & Kajiya 1986). The
    obliquity of off-axis rays (1/cos theta) is part of the chord.
    """
    skin_mm = geometry.source_skin_cm * MM_PER_CM
    sid_mm = geometry.sid_cm * MM_PER_CM
    table = _table_shapes(geometry) if include_table else ()
    key = (phantom, skin_mm, sid_mm, grid, table)
    value, hit = _MAPS.get(key)
    if hit:
        return dict(value)
    # the leading shapes that do not depend on needle or contrast are summed once and reused
    k = phantom.static_shapes
    base_key = ("base", phantom.shapes[:k], skin_mm, sid_mm, grid, table)
    base, hit = _MAPS.get(base_key)
    if not hit:
        base = _accumulate({}, phantom.shapes, table + phantom.shapes[:k], skin_mm, sid_mm, grid)
        for name in list(base):
            m = base[name]
            m[m < _ZERO_MM] = 0.0
            m.setflags(write=False)
            if not m.any():
                del base[name]
        _MAPS.put(base_key, base)
    out = dict(base)
    if k < len(phantom.shapes):
        touched = []
        _accumulate(out, phantom.shapes, phantom.shapes[k:], skin_mm, sid_mm, grid, touched)
        nonzero = set()
        for name, r0, r1, c0, c1 in touched:
            view = out[name][r0:r1, c0:c1]
            view[view < _ZERO_MM] = 0.0
            if name not in nonzero and view.any():
                nonzero.add(name)
        for name in {t[0] for t in touched}:
            m = out[name]
            m.setflags(write=False)
            if name not in nonzero and not m.any():
                del out[name]
    _MAPS.put(key, out)
    return dict(out)


def _accumulate(maps, all_shapes, shapes, skin_mm, sid_mm, grid, touched=None):
    """Add the chords of ``shapes`` to ``maps`` (material -> float32), minus their parents'."""
    n = grid.n_px

    def acc(material: str, r0: int, c0: int, block: np.ndarray, sign: float) -> None:
        if material == VOID:
            return
        m = maps.get(material)
        if m is None:
            m = maps[material] = np.zeros((n, n), dtype=np.float32)
        elif not m.flags.writeable:  # shared with a cached sum: copy on write
            m = maps[material] = m.copy()
        r1, c1 = r0 + block.shape[0], c0 + block.shape[1]
        view = m[r0:r1, c0:c1]
        if sign > 0:
            view += block
        else:
            view -= block
        if touched is not None:
            touched.append((material, r0, r1, c0, c1))

    for shape in shapes:
        got = _shape_block(shape, skin_mm, sid_mm, grid)
        if got is None:
            continue
        r0, c0, block = got
        own = block
        if shape.texture > 0.0:
            own = _textured_block(shape, skin_mm, sid_mm, grid, r0, c0, block)
        acc(shape.material, r0, c0, own, 1.0)
        if shape.parent is not None:
            acc(all_shapes[shape.parent].material, r0, c0, block, -1.0)
    return maps


def shape_path(phantom: Phantom, index: int, geometry: Geometry, grid: DetectorGrid):
    """Net chord map [mm] of one shape (cuts and planes applied, children not subtracted)."""
    out = np.zeros((grid.n_px, grid.n_px), dtype=np.float32)
    got = _shape_block(
        phantom.shapes[index],
        geometry.source_skin_cm * MM_PER_CM,
        geometry.sid_cm * MM_PER_CM,
        grid,
    )
    if got is not None:
        r0, c0, block = got
        out[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]] = block
    return out


def roi_masks(phantom: Phantom, geometry: Geometry, grid: DetectorGrid) -> dict[str, np.ndarray]:
    """Pixel masks of the phantom's regions of interest, plus ``"center"`` (ABC field).

    Each region is a disc or annulus at a depth, magnified by SID / (source_skin + depth),
    optionally restricted to pixels crossed (``labels``) or not crossed (``exclude_labels``)
    by labelled shapes, or near them (``near_labels``). A region can be empty (it projects
    outside the image): the metrics then read it as undefined, never as a stand-in pixel.
    ``"center"`` is :func:`sim.geometry.center_roi_mask`.

    Returns
    -------
    dict
        Name -> bool (n_px, n_px).
    """
    x, y = grid.coords_mm()
    skin_mm = geometry.source_skin_cm * MM_PER_CM
    sid_mm = geometry.sid_cm * MM_PER_CM
    out: dict[str, np.ndarray] = {}
    for roi in phantom.rois:
        cx, cy, cz = roi.center_mm
        m = sid_mm / max(skin_mm + cz, 1e-6)
        r2 = (x[None, :] - cx * m) ** 2 + (y[:, None] - cy * m) ** 2
        mask = (r2 <= (roi.radius_mm * m) ** 2) & (r2 >= (roi.inner_mm * m) ** 2)
        if roi.labels:
            path = _labelled_path(phantom, roi.labels, geometry, grid)
            inside = path[mask]
            top = float(inside.max()) if inside.size else 0.0
            if top > 0:
                mask &= path >= roi.fraction * top
        if roi.exclude_labels:
            mask &= _labelled_path(phantom, roi.exclude_labels, geometry, grid) <= 0
        if roi.near_labels:
            crossed = _labelled_path(phantom, roi.near_labels, geometry, grid) > 0
            if crossed.any():
                mask &= _near(crossed, mask, roi.near_mm * m / grid.pixel_mm)
        out[roi.name] = mask
    out["center"] = np.array(center_roi_mask(geometry, grid))
    return out


def _near(crossed: np.ndarray, mask: np.ndarray, reach_px: float) -> np.ndarray:
    """Pixels of ``mask`` within ``reach_px`` of a ``crossed`` pixel (Euclidean distance).

    Only the box around the mask, widened by the reach, can hold a crossed pixel near enough,
    so the distance transform runs there (exact, and a few times faster than on the grid).
    """
    out = np.zeros_like(mask)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return out
    pad = int(math.ceil(reach_px)) + 1
    n0, n1 = mask.shape
    r0, r1 = max(int(rows.min()) - pad, 0), min(int(rows.max()) + pad + 1, n0)
    c0, c1 = max(int(cols.min()) - pad, 0), min(int(cols.max()) + pad + 1, n1)
    box = crossed[r0:r1, c0:c1]
    if box.any():
        out[r0:r1, c0:c1] = ndimage.distance_transform_edt(~box) <= reach_px
    return out


def _labelled_path(phantom, labels, geometry, grid) -> np.ndarray:
    total = np.zeros((grid.n_px, grid.n_px), dtype=np.float32)
    for i in phantom.labelled(*labels):
        total += shape_path(phantom, i, geometry, grid)
    return total


# ------------------------------------------------------------------------------------------
# checks used by tests and phantom authors
# ------------------------------------------------------------------------------------------
def _sample_in(shape: Shape, n: int, rng: np.random.Generator) -> np.ndarray:
    box = shape.aabb()
    if box is None:
        return np.empty((0, 3))
    lo, hi = box
    pts = rng.uniform(lo, hi, size=(n, 3))
    return pts[shape.contains(pts)]


def overlap_report(phantom: Phantom, samples: int = 4000, seed: int = 0) -> list[str]:
    """Sampled violations of the composition rules (empty list = none found).

    Checks that every child lies inside its parent and that no two shapes overlap unless one
    is an ancestor of the other. Shapes of unbounded extent (slabs) are only checked as
    parents. Sampling finds overlaps larger than about 1/``samples`` of a shape's volume.
    """
    rng = np.random.default_rng(seed)
    shapes = phantom.shapes
    pts = [_sample_in(s, samples, rng) for s in shapes]

    def ancestors(i: int) -> set[int]:
        out = set()
        while shapes[i].parent is not None:
            i = shapes[i].parent
            out.add(i)
        return out

    anc = [ancestors(i) for i in range(len(shapes))]
    problems = []
    for i, s in enumerate(shapes):
        if s.parent is not None and pts[i].size:
            outside = ~shapes[s.parent].contains(pts[i])
            if outside.any():
                problems.append(
                    f"shape {i} ({s.label or s.material}) pokes out of its parent {s.parent}"
                    f" at {outside.mean():.1%} of its volume"
                )
        for j in range(i):
            if j in anc[i] or not pts[i].size:
                continue
            if i in anc[j]:
                continue
            both = shapes[j].contains(pts[i])
            if both.any():
                problems.append(
                    f"shapes {j} ({shapes[j].label or shapes[j].material}) and {i}"
                    f" ({s.label or s.material}) overlap ({both.mean():.1%} of shape {i})"
                )
    return problems
