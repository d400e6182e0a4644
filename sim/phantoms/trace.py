"""Ray tracing: per-material path-length maps of a phantom on the receptor grid, region masks.

Rays from the point focal spot to every receptor pixel are intersected with each shape
analytically; thin objects are supersampled (partial volume).
"""

from __future__ import annotations

import functools
import itertools
import math
import zlib

import numpy as np
from scipy import ndimage

from sim.geometry import (
    TABLE_LAYERS_MM,
    DetectorGrid,
    Geometry,
    center_roi_mask,
    support_box,
)
from sim.memo import ByteCache
from sim.phantoms.model import Phantom
from sim.phantoms.shapes import (
    _MAX_SUB,
    _MAX_SUB_ADAPTIVE,
    _SUB_PER_FEATURE,
    _ZERO_MM,
    VOID,
    Box,
    Cylinder,
    Shape,
    Slab,
)
from sim.units import MM_PER_CM

_TILE = 1 << 15  # rays (or sub-rays) intersected at once: a tile's temporaries stay in cache
_SMALL_BLOCK = 1 << 11  # pixels of a block small enough to trace as one list of rays


# ------------------------------------------------------------------------------------------
# projection: chords of one shape on the receptor grid
# ------------------------------------------------------------------------------------------
def _held_bytes(value) -> int:
    """Bytes of a cached chord block (r0, c0, block), or of a dict of path maps."""
    if value is None:
        return 0
    if isinstance(value, dict):
        return sum(a.nbytes for a in value.values())
    return value[2].nbytes


_CHORDS = ByteCache(256 << 20, _held_bytes)
_MAPS = ByteCache(128 << 20, _held_bytes)


def clear_caches() -> None:
    """Drop the cached chord blocks and path-length maps."""
    _CHORDS.clear()
    _MAPS.clear()


def _net_t(shape: Shape, o, dx, dy, dz, clip=True, cut_boxes=None, cuts=None) -> np.ndarray:
    """Length in ray-parameter units of the shape (planes and cuts applied), t clipped to [0, 1].

    Parameters
    ----------
    clip
        Clip t to [0, 1] (the segment from the source to the receptor). False when the shape
        lies strictly between them (:func:`_between`): its intervals are inside [0, 1] then,
        and an empty interval stays empty unclipped.
    cut_boxes
        Per cut, the index ranges (r0, r1, c0, c1) of the rays, ``dy`` a column (n_r, 1)
        and ``dx`` a row (1, n_c), outside which the cut is missed (its length there is exactly
        zero); None: every cut is traced on every ray.
    cuts
        The cuts to apply, None for all (a subset: the others are missed by these rays).
    """
    cuts = shape.cuts if cuts is None else cuts
    if not (clip or shape.planes or cuts):
        return shape._length(o, dx, dy, dz)
    t0, t1 = shape._clipped_interval(o, dx, dy, dz, True)
    if clip:
        t0 = np.maximum(t0, 0.0)
        t1 = np.minimum(t1, 1.0)
    total = np.asarray(t1 - t0)
    np.maximum(total, 0.0, out=total)
    if not cuts:
        return total
    # inclusion-exclusion over the cuts: minus each cut's overlap, plus each pair's, ...
    if cut_boxes is None:
        ivs = [c._clipped_interval(o, dx, dy, dz, True) for c in cuts]
        full = np.broadcast_shapes(total.shape, *(np.shape(t) for iv in ivs for t in iv))
        if total.shape != full:
            total = np.broadcast_to(total, full).copy()
        for k in range(1, len(ivs) + 1):
            for subset in itertools.combinations(ivs, k):
                (c0, c1), rest = subset[0], subset[1:]
                lo, hi = np.maximum(t0, c0), np.minimum(t1, c1)  # new arrays
                for c0, c1 in rest:
                    lo = np.maximum(lo, c0, out=lo if lo.shape == np.shape(c0) else None)
                    hi = np.minimum(hi, c1, out=hi if hi.shape == np.shape(c1) else None)
                hi = np.subtract(hi, lo, out=hi if hi.shape == lo.shape else None)
                np.maximum(hi, 0.0, out=hi)
                if k % 2:
                    total -= hi
                else:
                    total += hi
        return np.maximum(total, 0.0, out=total)
    # ... each term only on the box of rays that can hit all its cuts
    total = np.array(np.broadcast_to(total, (np.shape(dy)[0], np.shape(dx)[1])))
    boxed = [
        (b, c._clipped_interval(o, dx[:, b[2] : b[3]], dy[b[0] : b[1]], dz, True))
        for c, b in zip(cuts, cut_boxes, strict=True)
        if b[0] < b[1] and b[2] < b[3]
    ]
    for k in range(1, len(boxed) + 1):
        for subset in itertools.combinations(boxed, k):
            r0, r1 = max(b[0] for b, _ in subset), min(b[1] for b, _ in subset)
            c0, c1 = max(b[2] for b, _ in subset), min(b[3] for b, _ in subset)
            if r0 >= r1 or c0 >= c1:
                continue
            lo, hi = _window(t0, r0, r1, c0, c1), _window(t1, r0, r1, c0, c1)
            for b, (a0, a1) in subset:
                lo = np.maximum(lo, _window(a0, r0 - b[0], r1 - b[0], c0 - b[2], c1 - b[2]))
                hi = np.minimum(hi, _window(a1, r0 - b[0], r1 - b[0], c0 - b[2], c1 - b[2]))
            hi = np.subtract(hi, lo)
            np.maximum(hi, 0.0, out=hi)
            if k % 2:
                total[r0:r1, c0:c1] -= hi
            else:
                total[r0:r1, c0:c1] += hi
    return np.maximum(total, 0.0, out=total)


def _window(a, r0: int, r1: int, c0: int, c1: int):
    """Rows r0:r1 and columns c0:c1 of ``a``, an array (or number) broadcastable to a grid of
    rays (an axis of length 1 is kept whole: it broadcasts)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    rows = slice(r0, r1) if a.shape[0] != 1 else slice(None)
    cols = slice(c0, c1) if a.shape[1] != 1 else slice(None)
    return a[rows, cols]


def _chord_mm(
    shape: Shape,
    skin_mm: float,
    sid_mm: float,
    x,
    y,
    ray_mm=None,
    clip=True,
    cut_boxes=None,
    out=None,
    cuts=None,
) -> np.ndarray:
    """Net chord [mm] of rays from the focal spot to receptor points (x, y) [mm].

    ``ray_mm``: the ray lengths |(x, y, sid)| if already known [mm]; ``clip``, ``cut_boxes``,
    ``cuts``: see :func:`_net_t`; ``out``: an array of the rays' shape to write to (float32:
    the float64 chord rounded once), or None.
    """
    o = (0.0, 0.0, -skin_mm)
    t = _net_t(shape, o, x, y, sid_mm, clip, cut_boxes, cuts)
    if ray_mm is None:
        ray_mm = np.sqrt(x * x + y * y + sid_mm * sid_mm)
    return np.multiply(t, ray_mm, out=out, casting="same_kind")


def _grid_chords(shape, skin_mm, sid_mm, x, y, ray_mm=None, clip=True, cut_boxes=None, out=None):
    """Net chords [mm] of the rays to the grid points (x[j], y[i]) [mm], tile by tile.

    A tile of about :data:`_TILE` rays keeps the temporaries of the intersection arithmetic
    small (the same numbers as the whole grid at once, fewer cache misses).

    Parameters
    ----------
    x, y
        Receptor coordinates of the columns and rows [mm], 1-D.
    ray_mm
        Ray lengths (n_y, n_x) [mm], or None (computed).
    cut_boxes
        Per cut, the rows and columns (r0, r1, c0, c1) of the grid outside which the cut is
        missed, or None (:func:`_net_t`).
    out
        Array (n_y, n_x) to write the chords to (float32: rounded once), or None (float64).
    """
    if out is None:
        out = np.empty((y.size, x.size))
    step = max(1, _TILE // max(x.size, 1))
    for s in range(0, y.size, step):
        e = min(s + step, y.size)
        boxes = None
        if cut_boxes is not None:  # the cut boxes in the tile's rows
            boxes = [(max(b[0], s) - s, min(b[1], e) - s, b[2], b[3]) for b in cut_boxes]
        ray = None if ray_mm is None else ray_mm[s:e]
        _chord_mm(shape, skin_mm, sid_mm, x[None, :], y[s:e, None], ray, clip, boxes, out[s:e])
    return out


def _corner_centre_chords(shape, skin_mm, sid_mm, xe, ye, xc, yc, clip):
    """Chords [mm] at the pixel corners (ye.size, xe.size) and centres (yc.size, xc.size),
    traced as one list of rays (a small block: half the calls of two grids)."""
    n_e = ye.size * xe.size
    xs = np.concatenate([np.tile(xe, ye.size), np.tile(xc, yc.size)])
    ys = np.concatenate([np.repeat(ye, xe.size), np.repeat(yc, xc.size)])
    both = _chord_mm(shape, skin_mm, sid_mm, xs, ys, clip=clip)
    return both[:n_e].reshape(ye.size, xe.size), both[n_e:].reshape(yc.size, xc.size)


@functools.lru_cache(maxsize=8)
def _ray_mm(grid: DetectorGrid, sid_mm: float) -> np.ndarray:
    """Length of the ray from the focal spot to each pixel centre [mm], (n_px, n_px)."""
    x, y = grid.coords_mm()
    out = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2 + sid_mm**2)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=8192)
def _aabb(shape: Shape):
    """``shape.aabb()`` as two lists of floats (lo, hi) [mm], None if unbounded (cached)."""
    box = shape.aabb()
    return None if box is None else (box[0].tolist(), box[1].tolist())


def _bbox(shape: Shape, skin_mm: float, sid_mm: float, grid: DetectorGrid):
    """Pixel (r0, r1, c0, c1) covering the shape's projection, None if off the grid."""
    n = grid.n_px
    box = _aabb(shape)
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
    zs = (skin_mm + lo[2], skin_mm + hi[2])
    px = [x * sid_mm / z for x in (lo[0], hi[0]) for z in zs]
    py = [y * sid_mm / z for y in (lo[1], hi[1]) for z in zs]
    p, half = grid.pixel_mm, grid.fov_mm / 2.0
    c0 = math.floor((min(px) + half) / p - 0.5) - 1
    c1 = math.ceil((max(px) + half) / p - 0.5) + 2
    r0 = math.floor((half - max(py)) / p - 0.5) - 1
    r1 = math.ceil((half - min(py)) / p - 0.5) + 2
    c0, r0 = max(c0, 0), max(r0, 0)
    c1, r1 = min(c1, n), min(r1, n)
    if c0 >= c1 or r0 >= r1:
        return None
    return r0, r1, c0, c1


def _n_sub(shape: Shape, skin_mm: float, sid_mm: float, grid: DetectorGrid) -> int:
    if shape.feature_mm <= 0:
        return 1
    box = _aabb(shape)
    z_far = box[1][2] if box is not None else sid_mm - skin_mm
    pixel_obj = grid.pixel_mm * min(max(skin_mm + z_far, 1.0), sid_mm) / sid_mm
    return int(min(max(math.ceil(_SUB_PER_FEATURE * pixel_obj / shape.feature_mm), 1), _MAX_SUB))


def _supersampled(shape, skin_mm, sid_mm, grid, rows, cols, n, clip=True) -> np.ndarray:
    """Mean chord over n x n sub-rays of the pixels (rows[k], cols[k]) (``clip``: see
    :func:`_net_t`), :data:`_TILE` sub-rays at a time.

    Many sub-rays and cuts: the pixels are traced in groups by the cuts whose pixel boxes
    (:func:`_bbox`, a pixel to spare) hold them; a group skips the others, which its
    sub-rays miss.
    """
    if shape.cuts and rows.size * n * n >= _TILE // 4:
        need = np.zeros(rows.size, dtype=np.int64)
        for i, cut in enumerate(shape.cuts):
            b = _bbox(cut, skin_mm, sid_mm, grid)
            if b is not None:
                inside = (rows >= b[0]) & (rows < b[1]) & (cols >= b[2]) & (cols < b[3])
                need |= inside.astype(np.int64) << i
        out = np.empty(rows.size, dtype=float)
        for key in np.unique(need).tolist():
            sel = np.flatnonzero(need == key)
            cuts = tuple(c for i, c in enumerate(shape.cuts) if key >> i & 1)
            out[sel] = _sub_rays(shape, skin_mm, sid_mm, grid, rows[sel], cols[sel], n, clip, cuts)
        return out
    return _sub_rays(shape, skin_mm, sid_mm, grid, rows, cols, n, clip, None)


def _sub_rays(shape, skin_mm, sid_mm, grid, rows, cols, n, clip, cuts) -> np.ndarray:
    """:func:`_supersampled` with only the cuts ``cuts`` (None: all)."""
    x, y = grid.coords_mm()
    p = grid.pixel_mm
    off = ((np.arange(n) + 0.5) / n - 0.5) * p
    out = np.empty(rows.size, dtype=float)
    per = max(1, _TILE // (n * n))
    for s in range(0, rows.size, per):
        xs = x[cols[s : s + per]][:, None, None] + off[None, None, :]  # (k, 1, n)
        ys = y[rows[s : s + per]][:, None, None] + off[None, :, None]  # (k, n, 1)
        chords = _chord_mm(shape, skin_mm, sid_mm, xs, ys, clip=clip, cuts=cuts)
        out[s : s + per] = np.broadcast_to(chords, (xs.shape[0], n, n)).mean(axis=(1, 2))
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


def _between(shape: Shape, skin_mm: float, sid_mm: float) -> bool:
    """The shape lies strictly between the focal spot and the receptor: the ray parameters of
    its intervals are inside (0, 1), and :func:`_net_t` need not clip them."""
    box = _aabb(shape)
    margin = 1e-6 * sid_mm
    return (
        box is not None and box[0][2] > margin - skin_mm and box[1][2] < sid_mm - skin_mm - margin
    )


def _cut_boxes(shape: Shape, skin_mm, sid_mm, grid, bb, edges: bool = False) -> list:
    """Per cut, the rows and columns (r0, r1, c0, c1) of the block ``bb`` outside which the
    rays miss the cut (:func:`_bbox`, which leaves a pixel to spare), empty if it misses.

    ``edges``: for the grid of pixel corners (one more row and column) instead of centres.
    None for a small block or no cuts: the cuts are traced on all its rays (the bookkeeping
    would cost more than it saves).
    """
    r0, r1, c0, c1 = bb
    if not shape.cuts or (r1 - r0) * (c1 - c0) < _TILE // 4:
        return None
    e = int(edges)
    out = []
    for cut in shape.cuts:
        cb = _bbox(cut, skin_mm, sid_mm, grid)
        if cb is None:
            out.append((0, 0, 0, 0))
            continue
        out.append(
            (
                max(cb[0] - r0, 0),
                min(cb[1] + e - r0, r1 - r0 + e),
                max(cb[2] - c0, 0),
                min(cb[3] + e - c0, c1 - c0 + e),
            )
        )
    return out


def _compute_block(shape: Shape, skin_mm: float, sid_mm: float, grid: DetectorGrid):
    bb = _bbox(shape, skin_mm, sid_mm, grid)
    if bb is None:
        return None
    r0, r1, c0, c1 = bb
    x, y = grid.coords_mm()
    n = _n_sub(shape, skin_mm, sid_mm, grid)
    ray = _ray_mm(grid, sid_mm)[r0:r1, c0:c1]
    clip = not _between(shape, skin_mm, sid_mm)
    if isinstance(shape, Slab) and not shape.planes and not shape.cuts:
        dt = float(_net_t(shape, (0.0, 0.0, -skin_mm), 0.0, 0.0, sid_mm))
        block = dt * ray
    elif n == 1:
        boxes = _cut_boxes(shape, skin_mm, sid_mm, grid, bb)
        block = np.empty((r1 - r0, c1 - c0), dtype=np.float32)
        _grid_chords(shape, skin_mm, sid_mm, x[c0:c1], y[r0:r1], ray, clip, boxes, block)
    elif isinstance(shape, Box):
        # small, sharp-edged (bars, steps): supersample every pixel of the bbox
        rr, cc = np.mgrid[r0:r1, c0:c1]
        vals = _supersampled(shape, skin_mm, sid_mm, grid, rr.ravel(), cc.ravel(), n, clip)
        block = vals.reshape(r1 - r0, c1 - c0)
    elif isinstance(shape, Cylinder) and shape.length_mm > 4 * max(
        shape.radius_mm, shape.radius2_mm
    ):
        # thin line (needle, vessel): supersample only pixels near the projected axis
        mask = _thin_line_mask(shape, skin_mm, sid_mm, grid, r0, r1, c0, c1)
        block = np.zeros((r1 - r0, c1 - c0))
        rr, cc = np.nonzero(mask)
        block[rr, cc] = _supersampled(shape, skin_mm, sid_mm, grid, rr + r0, cc + c0, n, clip)
    else:
        # adaptive: corners + centre; supersample pixels where the chord changes a lot
        p = grid.pixel_mm
        xe = np.append(x[c0:c1] - p / 2.0, x[c1 - 1] + p / 2.0)
        ye = np.append(y[r0:r1] + p / 2.0, y[r1 - 1] - p / 2.0)
        if (r1 - r0) * (c1 - c0) <= _SMALL_BLOCK:  # both grids in one go, as a list of rays
            corner, centre = _corner_centre_chords(
                shape, skin_mm, sid_mm, xe, ye, x[c0:c1], y[r0:r1], clip
            )
        else:
            boxes = _cut_boxes(shape, skin_mm, sid_mm, grid, bb, edges=True)
            corner = _grid_chords(shape, skin_mm, sid_mm, xe, ye, None, clip, boxes)
            boxes = _cut_boxes(shape, skin_mm, sid_mm, grid, bb)
            centre = _grid_chords(shape, skin_mm, sid_mm, x[c0:c1], y[r0:r1], ray, clip, boxes)
        k = (corner[:-1, :-1], corner[:-1, 1:], corner[1:, :-1], corner[1:, 1:])
        kmax, kmin = np.maximum(k[0], k[1]), np.minimum(k[0], k[1])
        block = k[0] + k[1]  # the mean of the corners, summed in the order of np.mean
        for a in (k[2], k[3]):
            np.maximum(kmax, a, out=kmax)
            np.minimum(kmin, a, out=kmin)
            block += a
        np.maximum(kmax, centre, out=kmax)
        np.minimum(kmin, centre, out=kmin)
        gmax = float(kmax.max()) if kmax.size else 0.0
        flag = ((kmin <= 0) & (kmax > 0)) | (kmax - kmin > 0.1 * gmax)
        block /= 4.0
        block += 2.0 * centre
        block /= 3.0
        rr, cc = np.nonzero(flag)
        if rr.size:
            n = min(n, _MAX_SUB_ADAPTIVE)
            block[rr, cc] = _supersampled(shape, skin_mm, sid_mm, grid, rr + r0, cc + c0, n, clip)
    block = block.astype(np.float32, copy=False)
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
    box = _aabb(shape)
    where = (
        (0.0, 0.0)
        if box is None
        else (0.5 * (box[0][0] + box[1][0]), 0.5 * (box[0][1] + box[1][1]))
    )
    ox, oy = _texture_offset(repr((shape.material, shape.label, round(where[0]), round(where[1]))))
    ix = (np.floor(np.asarray(x_mm, dtype=float) / d).astype(np.int64) + ox) % n
    iy = (np.floor(np.asarray(y_mm, dtype=float) / d).astype(np.int64) + oy) % n
    if ix.ndim == iy.ndim == 2 and ix.shape[0] == 1 and iy.shape[1] == 1:  # a grid
        field = np.take(tile[iy[:, 0]], ix[0], axis=1)  # rows, then columns: a faster gather
    else:
        field = np.asarray(tile[iy, ix])
    field *= shape.texture
    field += 1.0
    return np.maximum(field, _TEXTURE_FLOOR, out=field)


@functools.lru_cache(maxsize=4096)
def _texture_offset(name: str) -> tuple[int, int]:
    """Offset (column, row) of a texture in its tile, drawn from the text ``name`` [-]."""
    ox, oy = np.random.default_rng(zlib.crc32(name.encode())).integers(0, _TEXTURE_TILE, 2)
    return int(ox), int(oy)


def _textured_block(shape, skin_mm, sid_mm, grid, r0, c0, block) -> np.ndarray:
    """The shape's chord block times its texture, at the shape's mid-depth (cached)."""
    key = ("texture", shape, skin_mm, sid_mm, grid)
    value, hit = _CHORDS.get(key)
    if not hit:
        box = _aabb(shape)
        z = 0.5 * (box[0][2] + box[1][2]) if box is not None else 0.0
        to_patient = (skin_mm + z) / sid_mm  # receptor -> patient plane at that depth
        x, y = grid.coords_mm()
        rows, cols = block.shape
        xs = x[c0 : c0 + cols][None, :] * to_patient
        ys = y[r0 : r0 + rows][:, None] * to_patient
        field = texture_field(shape, xs, ys)  # float32, a new array
        value = np.multiply(block, field, out=field)
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
            _drop_noise(m)
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
            _drop_noise(view)
            if name not in nonzero and view.any():
                nonzero.add(name)
        for name in {t[0] for t in touched}:
            m = out[name]
            m.setflags(write=False)
            if name not in nonzero and not m.any():
                del out[name]
    _MAPS.put(key, out)
    return dict(out)


def _drop_noise(m: np.ndarray) -> None:
    """Set the path lengths below :data:`_ZERO_MM` (float noise of the parent subtraction) to
    zero, in place (as ``m[m < _ZERO_MM] = 0``, a few times faster)."""
    np.multiply(m, m >= _ZERO_MM, out=m)
    m += 0.0  # -0.0 -> 0.0


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
    _add_shape_path(out, phantom, index, geometry, grid)
    return out


def _add_shape_path(out: np.ndarray, phantom: Phantom, index: int, geometry, grid) -> None:
    """Add :func:`shape_path` of shape ``index`` to ``out`` on its block only."""
    got = _shape_block(
        phantom.shapes[index],
        geometry.source_skin_cm * MM_PER_CM,
        geometry.sid_cm * MM_PER_CM,
        grid,
    )
    if got is not None:
        r0, c0, block = got
        out[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]] += block


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
        reach = roi.radius_mm * m
        # the disc lies in the rows and columns within its radius: work on that block only
        rows = np.flatnonzero(np.abs(y - cy * m) <= reach)
        cols = np.flatnonzero(np.abs(x - cx * m) <= reach)
        mask = np.zeros((y.size, x.size), dtype=bool)
        if rows.size and cols.size:
            rs, cs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
            r2 = (x[None, cs] - cx * m) ** 2 + (y[rs, None] - cy * m) ** 2
            mask[rs, cs] = (r2 <= reach**2) & (r2 >= (roi.inner_mm * m) ** 2)
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
    if not mask.any():
        return out
    rows, cols = support_box(mask)
    pad = int(math.ceil(reach_px)) + 1
    n0, n1 = mask.shape
    r0, r1 = max(rows.start - pad, 0), min(rows.stop + pad, n0)
    c0, c1 = max(cols.start - pad, 0), min(cols.stop + pad, n1)
    box = crossed[r0:r1, c0:c1]
    if box.any():
        out[r0:r1, c0:c1] = ndimage.distance_transform_edt(~box) <= reach_px
    return out


def _labelled_path(phantom, labels, geometry, grid) -> np.ndarray:
    total = np.zeros((grid.n_px, grid.n_px), dtype=np.float32)
    for i in phantom.labelled(*labels):
        _add_shape_path(total, phantom, i, geometry, grid)
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
