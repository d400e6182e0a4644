"""Shape primitives of the analytic phantoms: convex shapes with exact ray chords.

See the package docstring (:mod:`sim.phantoms`) for the coordinates and composition rules.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

VOID = "void"
"""Material name of a hole: its path is subtracted from the parent and not recorded."""

NEEDLE_22G_OD_MM = 0.718
"""Outer diameter of a 22 G needle [mm] (ISO 9626:2016 as tabulated [R])."""

NEEDLE_22G_ID_MM = 0.413
"""Inner diameter of a regular-wall 22 G needle [mm] (ISO 9626:2016 as tabulated [R])."""

SPINAL_NEEDLE_LENGTHS_MM = (88.9, 127.0, 152.4, 177.8)
"""Spinal-needle lengths 3.5, 5, 6 and 7 inch [mm] (common catalogue sizes [R]); the hip
uses the shortest that reaches the target with 15 mm to spare (guess)."""

_MAX_SUB = 16  # most sub-rays per pixel side
_MAX_SUB_ADAPTIVE = 6  # ... for the edge pixels of smooth shapes (films, discs)
_SUB_PER_FEATURE = 6.0  # sub-ray spacing = feature / 6
_MAX_CUTS = 6
_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
_ZERO_MM = 1e-4  # path lengths below this are float noise from parent subtraction [mm]

Vec = tuple[float, float, float]


# ------------------------------------------------------------------------------------------
# small vector helpers
# ------------------------------------------------------------------------------------------
def _vec(name: str, v, positive: bool = False) -> Vec:
    try:
        t = tuple(float(c) for c in v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={v!r} must be 3 numbers [mm]") from None
    if len(t) != 3 or not all(math.isfinite(c) for c in t):
        raise ValueError(f"{name}={v!r} must be 3 finite numbers [mm]")
    if positive and not all(c > 0 for c in t):
        raise ValueError(f"{name}={v!r} must be 3 positive numbers [mm]")
    return t


def _pos(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a positive number [mm]") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite number [mm]")
    return x


def _unit(v) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    return a / np.linalg.norm(a)


def _axes(name: str, axes) -> tuple[Vec, Vec, Vec] | None:
    if axes is None:
        return None
    rows = tuple(_vec(f"{name}[{i}]", a) for i, a in enumerate(axes))
    m = np.array(rows)
    if m.shape != (3, 3) or not np.allclose(m @ m.T, np.eye(3), atol=1e-6):
        raise ValueError(f"{name}={axes!r} must be 3 orthonormal vectors")
    return rows


def _axes_matrix(axes) -> np.ndarray:
    return np.eye(3) if axes is None else np.array(axes, dtype=float)


def rotation_y(angle_deg: float) -> tuple[Vec, Vec, Vec]:
    """Local axes rotated by ``angle_deg`` about the patient y axis (x toward +z) [deg]."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return ((c, 0.0, s), (0.0, 1.0, 0.0), (-s, 0.0, c))


# ------------------------------------------------------------------------------------------
# shapes
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Shape:
    """Base of the analytic shapes: material, nesting, cuts, clip planes, thin-feature size.

    Parameters
    ----------
    material
        Material name (:func:`sim.materials.check_material`) or ``"void"``.
    parent
        Index of the enclosing shape in the phantom, or None (surrounded by air).
    cuts
        Convex shapes whose volume is removed from this one.
    planes
        Half-spaces ``(nx, ny, nz, d)``: points with ``n . p <= d`` [mm] are kept.
    feature_mm
        Smallest feature size; > 0 turns on supersampling of this shape [mm].
    label
        Free name, used by regions of interest.
    texture
        Relative amplitude of a density texture, 0 for none [-]: the shape's own path is
        multiplied by ``1 + texture * n(x, y)`` with ``n`` a smooth random field of unit
        spread (:func:`sim.phantoms.trace.texture_field`), the trabecular pattern of
        cancellous bone seen in projection. The chord itself stays exact (the parent loses the
        plain chord); only the density along it varies, with mean 1.
    texture_mm
        Correlation length of the texture in the patient [mm].
    """

    material: str
    parent: int | None = None
    cuts: tuple[Shape, ...] = ()
    planes: tuple[tuple[float, float, float, float], ...] = ()
    feature_mm: float = 0.0
    label: str = ""
    texture: float = 0.0
    texture_mm: float = 1.5

    def __post_init__(self) -> None:
        if not isinstance(self.material, str) or not self.material:
            raise ValueError(f"material={self.material!r} must be a material name")
        if self.parent is not None and (
            isinstance(self.parent, bool) or not isinstance(self.parent, int) or self.parent < 0
        ):
            raise ValueError(f"parent={self.parent!r} must be None or a shape index >= 0")
        cuts = tuple(self.cuts)
        if len(cuts) > _MAX_CUTS or not all(isinstance(c, Shape) for c in cuts):
            raise ValueError(f"cuts must be at most {_MAX_CUTS} shapes, got {self.cuts!r}")
        object.__setattr__(self, "cuts", cuts)
        planes = []
        for pl in self.planes:
            p = tuple(float(c) for c in pl)
            if len(p) != 4 or not all(math.isfinite(c) for c in p) or p[:3] == (0, 0, 0):
                raise ValueError(f"plane={pl!r} must be (nx, ny, nz, d) with n != 0")
            n = math.sqrt(p[0] ** 2 + p[1] ** 2 + p[2] ** 2)
            planes.append(tuple(c / n for c in p))
        object.__setattr__(self, "planes", tuple(planes))
        f = float(self.feature_mm)
        if not (math.isfinite(f) and f >= 0):
            raise ValueError(f"feature_mm={self.feature_mm!r} must be >= 0 [mm]")
        object.__setattr__(self, "feature_mm", f)
        a, w = float(self.texture), float(self.texture_mm)
        if not (math.isfinite(a) and 0.0 <= a <= 0.5 and math.isfinite(w) and w > 0.0):
            raise ValueError(
                f"texture={self.texture!r} must be in [0, 0.5] and texture_mm="
                f"{self.texture_mm!r} > 0 [mm]"
            )
        object.__setattr__(self, "texture", a)
        object.__setattr__(self, "texture_mm", w)

    # -- to be provided by subclasses -------------------------------------------------------
    def _interval(self, o: np.ndarray, dx, dy, dz) -> tuple[np.ndarray, np.ndarray]:
        """Ray parameters (t_in, t_out) of the primitive for rays ``o + t (dx, dy, dz)``."""
        raise NotImplementedError

    def _setup(self, o) -> tuple:
        """The numbers of the ray intersections that depend on the source position ``o`` [mm]
        alone (cached: :func:`_setup`)."""
        return ()

    def _length(self, o, dx, dy, dz) -> np.ndarray:
        """t_out - t_in of the primitive, 0 where missed (planes and cuts not applied, t not
        clipped); the quadrics have a shorter way."""
        t0, t1 = self._interval(o, dx, dy, dz)
        return np.maximum(t1 - t0, 0.0)

    def _inside(self, p: np.ndarray) -> np.ndarray:
        """Points (N, 3) inside the primitive (planes and cuts not applied)."""
        raise NotImplementedError

    def aabb(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Axis-aligned bounding box (lo, hi) of the primitive [mm], None if unbounded."""
        raise NotImplementedError

    def volume_mm3(self) -> float:
        """Volume of the primitive, planes and cuts not applied [mm^3]."""
        raise NotImplementedError

    # -- common -----------------------------------------------------------------------------
    def contains(self, points) -> np.ndarray:
        """Points (N, 3) [mm] inside the shape (primitive, planes and cuts applied)."""
        p = np.atleast_2d(np.asarray(points, dtype=float))
        inside = self._inside(p)
        for nx, ny, nz, d in self.planes:
            inside &= p @ np.array([nx, ny, nz]) <= d
        for c in self.cuts:
            inside &= ~c._inside_with_planes(p)
        return inside

    def _inside_with_planes(self, p: np.ndarray) -> np.ndarray:
        inside = self._inside(p)
        for nx, ny, nz, d in self.planes:
            inside &= p @ np.array([nx, ny, nz]) <= d
        return inside

    def _clipped_interval(self, o, dx, dy, dz, forward: bool = False):
        """Ray parameters (t_in, t_out) of the primitive cut by the clip planes.

        A plane ``n . p <= d`` bounds t from above on rays with ``n . dir > 0`` (``= 0`` taken
        as a tiny positive: a ray parallel to the plane is kept or dropped whole), from below
        on those with ``n . dir < 0``. When ``n . dir`` has one sign on all the rays (most
        planes: the rays diverge little) only one end moves.

        ``forward``: only the part t >= 0 of the intervals matters (the caller clips t, or
        the shape lies beyond the source). A plane with the source ``o`` on its kept side
        then bounds t from below only by a t <= 0, which is skipped.
        """
        t0, t1 = self._interval(o, dx, dy, dz)
        for nx, ny, nz, d in self.planes:
            nd = _dot((nx, ny, nz), dx, dy, dz)
            c = d - (nx * o[0] + ny * o[1] + nz * o[2])
            if forward and c > 0.0:  # t <= c / (n . dir) where n . dir > 0, else no bound
                lim = c / np.maximum(nd, 1e-300)
                t1 = np.minimum(t1, lim, out=lim if lim.shape == np.shape(t1) else None)
            elif nd.size and nd.min() > 0.0:
                lim = c / nd
                t1 = np.minimum(t1, lim, out=lim if lim.shape == np.shape(t1) else None)
            elif nd.size and nd.max() < 0.0:
                lim = c / nd
                t0 = np.maximum(t0, lim, out=lim if lim.shape == np.shape(t0) else None)
            else:  # the masks have the shape of nd, often a row or a column of the rays
                nd = np.where(nd == 0.0, 1e-300, nd)
                lim = c / nd
                t1 = np.minimum(t1, np.where(nd > 0.0, lim, np.inf))
                t0 = np.maximum(t0, np.where(nd < 0.0, lim, -np.inf))
        return t0, t1


def _quadratic(a, b, c0):
    """Roots t0 <= t1 of a t^2 + 2 b t + c0 = 0, a > 0 (the caller's duty); empty (t0 = t1 =
    -b / a) without real roots.

    In place on one buffer per root: t0 = (b + sq) (-1 / a) and t1 = (b - sq) (-1 / a) are
    (-b -/+ sq) / a bit for bit, and sq = 0 where the discriminant is not positive gives the
    empty interval.
    """
    sq = _sqrt_disc(a, b, c0)
    neg_inv = -1.0 / a
    t0 = np.add(b, sq)
    t0 *= neg_inv
    t1 = np.subtract(b, sq, out=sq)
    t1 *= neg_inv
    return t0, t1


def _sqrt_disc(a, b, c0) -> np.ndarray:
    """sqrt(max(b^2 - a c0, 0)), a new array of the shape of a and b broadcast together."""
    disc = np.asarray(b * b)
    if np.ndim(a) == 0 or np.shape(a) == disc.shape:
        disc -= a * c0
    else:
        disc = disc - a * c0
    return np.sqrt(np.maximum(disc, 0.0, out=disc), out=disc)


def _root_gap(a, b, c0) -> np.ndarray:
    """t1 - t0 = 2 sqrt(b^2 - a c0) / a of :func:`_quadratic` (0 without real roots), a > 0."""
    gap = _sqrt_disc(a, b, c0)
    gap /= a
    gap *= 2.0
    return gap


def _dot(e, dx, dy, dz):
    """e . (dx, dy, dz), zero components skipped; the z and x terms are summed before the y
    term, so that on a grid of rays (dx a row, dy a column, dz a number) one addition is
    full-size."""
    out = e[2] * dz if e[2] != 0.0 else 0.0
    if e[0] != 0.0:
        out = out + e[0] * dx
    if e[1] != 0.0:
        out = out + e[1] * dy
    return np.asarray(out, dtype=float)


def _quad(m, dx, dy, dz):
    """d^T m d for d = (dx, dy, dz) and a symmetric 3 x 3 ``m`` (nested lists of numbers).

    Grouped like :func:`_dot`: the z and x terms, then the y terms, then the x y term, so that
    on a grid of rays it takes one or three full-size operations.
    """
    (mxx, mxy, mxz), (_, myy, myz), (_, _, mzz) = m
    out = mzz * dz * dz
    if mxx != 0.0 or mxz != 0.0:
        out = out + (mxx * dx + 2.0 * mxz * dz) * dx
    if myy != 0.0 or myz != 0.0:
        out = out + (myy * dy + 2.0 * myz * dz) * dy
    if mxy != 0.0:
        cross = 2.0 * mxy * dx * dy
        if np.ndim(dz) == 0:  # cross has the full size
            cross += out
            out = cross
        else:
            out = out + cross
    return np.asarray(out, dtype=float)


def _quadric_form(w: np.ndarray, q: np.ndarray) -> tuple:
    """(m, p, c0) of an ellipsoid |w (x - centre)| = 1 (w: 3 x 3) seen from the source o.

    With q = w (o - centre), a ray o + t d meets the surface where a t^2 + 2 b t + c0 = 0,
    a = d^T m d (m = w^T w), b = p . d (p = w^T q) and c0 = |q|^2 - 1 (:func:`_quadric`).
    As a quadratic form of d, a loses relative precision where it is small, which only a
    degenerate quadric (a cylinder seen along its axis) has: the cylinder keeps w d.
    """
    return (w.T @ w).tolist(), (w.T @ q).tolist(), float(q @ q) - 1.0


def _quadric(form: tuple, dx, dy, dz):
    """Coefficients (a, b, c0) of a t^2 + 2 b t + c0 = 0 of the rays (dx, dy, dz) for a
    :func:`_quadric_form`."""
    m, p, c0 = form
    return _quad(m, dx, dy, dz), _dot(p, dx, dy, dz), c0


@functools.lru_cache(maxsize=8192)
def _setup_cached(shape: Shape, o: Vec):
    return shape._setup(o)


def _setup(shape: Shape, o) -> tuple:
    """``shape._setup(o)``: the numbers of its ray intersections that depend on the source
    position ``o`` [mm] alone, cached (computed once per shape and source-skin distance)."""
    return _setup_cached(shape, (float(o[0]), float(o[1]), float(o[2])))


@dataclass(frozen=True, kw_only=True)
class Slab(Shape):
    """Infinite slab between depths ``z0_mm`` and ``z1_mm`` (a uniform phantom layer)."""

    z0_mm: float
    z1_mm: float

    def __post_init__(self) -> None:
        super().__post_init__()
        z0, z1 = float(self.z0_mm), float(self.z1_mm)
        if not (math.isfinite(z0) and math.isfinite(z1) and z1 > z0):
            raise ValueError(f"z0_mm={self.z0_mm!r}, z1_mm={self.z1_mm!r}: need z0 < z1 [mm]")
        object.__setattr__(self, "z0_mm", z0)
        object.__setattr__(self, "z1_mm", z1)

    def _interval(self, o, dx, dy, dz):
        dzs = np.where(dz == 0.0, 1e-300, dz)
        ta, tb = (self.z0_mm - o[2]) / dzs, (self.z1_mm - o[2]) / dzs
        return np.minimum(ta, tb), np.maximum(ta, tb)

    def _inside(self, p):
        return (p[:, 2] >= self.z0_mm) & (p[:, 2] <= self.z1_mm)

    def aabb(self):
        return None

    def volume_mm3(self) -> float:
        return math.inf


@dataclass(frozen=True, kw_only=True)
class Box(Shape):
    """Rectangular box: centre, full side lengths along its local axes (rows of ``axes``)."""

    center_mm: Vec
    size_mm: Vec
    axes: tuple[Vec, Vec, Vec] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "center_mm", _vec("center_mm", self.center_mm))
        object.__setattr__(self, "size_mm", _vec("size_mm", self.size_mm, positive=True))
        object.__setattr__(self, "axes", _axes("axes", self.axes))

    def _setup(self, o):
        u = _axes_matrix(self.axes)
        q = u @ (np.asarray(o, dtype=float) - np.asarray(self.center_mm))
        return tuple((u[i].tolist(), float(q[i]), self.size_mm[i] / 2.0) for i in range(3))

    def _interval(self, o, dx, dy, dz):
        lo, hi = -np.inf, np.inf
        for ui, qi, h in _setup(self, o):  # the slab |u_i . (p - centre)| <= h of each axis
            di = _dot(ui, dx, dy, dz)
            if not di.all():
                di = np.where(di == 0.0, 1e-300, di)
            ta, tb = (-h - qi) / di, (h - qi) / di
            lo = np.maximum(lo, np.minimum(ta, tb))
            hi = np.minimum(hi, np.maximum(ta, tb))
        return lo, hi

    def _inside(self, p):
        u = _axes_matrix(self.axes)
        local = (p - np.asarray(self.center_mm)) @ u.T
        return np.all(np.abs(local) <= np.asarray(self.size_mm) / 2.0, axis=1)

    def aabb(self):
        u = _axes_matrix(self.axes)
        half = np.abs(u.T) @ (np.asarray(self.size_mm) / 2.0)
        c = np.asarray(self.center_mm)
        return c - half, c + half

    def volume_mm3(self) -> float:
        return float(np.prod(self.size_mm))


@dataclass(frozen=True, kw_only=True)
class Ellipsoid(Shape):
    """Ellipsoid: centre, semi-axes along its local axes (rows of ``axes``)."""

    center_mm: Vec
    semi_axes_mm: Vec
    axes: tuple[Vec, Vec, Vec] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "center_mm", _vec("center_mm", self.center_mm))
        object.__setattr__(
            self, "semi_axes_mm", _vec("semi_axes_mm", self.semi_axes_mm, positive=True)
        )
        object.__setattr__(self, "axes", _axes("axes", self.axes))

    def _setup(self, o):
        w = _axes_matrix(self.axes) / np.asarray(self.semi_axes_mm)[:, None]
        return _quadric_form(w, w @ (np.asarray(o, dtype=float) - np.asarray(self.center_mm)))

    def _interval(self, o, dx, dy, dz):
        return _quadratic(*_quadric(_setup(self, o), dx, dy, dz))

    def _length(self, o, dx, dy, dz):
        return _root_gap(*_quadric(_setup(self, o), dx, dy, dz))

    def _inside(self, p):
        u = _axes_matrix(self.axes) / np.asarray(self.semi_axes_mm)[:, None]
        local = (p - np.asarray(self.center_mm)) @ u.T
        return np.sum(local**2, axis=1) <= 1.0

    def aabb(self):
        u = _axes_matrix(self.axes)
        half = np.sqrt((u.T**2) @ (np.asarray(self.semi_axes_mm) ** 2))
        c = np.asarray(self.center_mm)
        return c - half, c + half

    def volume_mm3(self) -> float:
        return 4.0 / 3.0 * math.pi * float(np.prod(self.semi_axes_mm))


@dataclass(frozen=True, kw_only=True)
class Sphere(Shape):
    """Sphere: centre and radius [mm]."""

    center_mm: Vec
    radius_mm: float

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "center_mm", _vec("center_mm", self.center_mm))
        object.__setattr__(self, "radius_mm", _pos("radius_mm", self.radius_mm))

    def _setup(self, o):
        q = np.asarray(o, dtype=float) - np.asarray(self.center_mm)
        return _IDENTITY, q.tolist(), float(q @ q) - self.radius_mm**2

    def _interval(self, o, dx, dy, dz):
        return _quadratic(*_quadric(_setup(self, o), dx, dy, dz))

    def _length(self, o, dx, dy, dz):
        return _root_gap(*_quadric(_setup(self, o), dx, dy, dz))

    def _inside(self, p):
        return np.sum((p - np.asarray(self.center_mm)) ** 2, axis=1) <= self.radius_mm**2

    def aabb(self):
        c = np.asarray(self.center_mm)
        return c - self.radius_mm, c + self.radius_mm

    def volume_mm3(self) -> float:
        return 4.0 / 3.0 * math.pi * self.radius_mm**3


@dataclass(frozen=True, kw_only=True)
class Cylinder(Shape):
    """Finite (elliptic) cylinder from ``start_mm`` to ``end_mm`` with flat ends.

    ``radius_mm`` lies along ``ref`` (made perpendicular to the axis), ``radius2_mm`` (default:
    ``radius_mm``, a circular cylinder) along axis x ref.
    """

    start_mm: Vec
    end_mm: Vec
    radius_mm: float
    radius2_mm: float | None = None
    ref: Vec | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        p0 = _vec("start_mm", self.start_mm)
        p1 = _vec("end_mm", self.end_mm)
        if p0 == p1:
            raise ValueError(f"start_mm={p0} equals end_mm: a cylinder needs a length")
        object.__setattr__(self, "start_mm", p0)
        object.__setattr__(self, "end_mm", p1)
        object.__setattr__(self, "radius_mm", _pos("radius_mm", self.radius_mm))
        r2 = self.radius_mm if self.radius2_mm is None else _pos("radius2_mm", self.radius2_mm)
        object.__setattr__(self, "radius2_mm", r2)
        if self.ref is not None:
            ref = _vec("ref", self.ref)
            u = _unit(np.subtract(p1, p0))
            if np.linalg.norm(np.cross(u, ref)) < 1e-9 * max(np.linalg.norm(ref), 1e-300):
                raise ValueError(f"ref={self.ref!r} must not be parallel to the cylinder axis")
            object.__setattr__(self, "ref", ref)

    @property
    def length_mm(self) -> float:
        """Axis length [mm]."""
        return float(np.linalg.norm(np.subtract(self.end_mm, self.start_mm)))

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Orthonormal (u, e1, e2): axis, direction of ``radius_mm``, of ``radius2_mm``."""
        return _cyl_frame(self.start_mm, self.end_mm, self.ref)

    def _interval(self, o, dx, dy, dz):
        return self._solve(o, dx, dy, dz, False)

    def _length(self, o, dx, dy, dz):
        return self._solve(o, dx, dy, dz, True)

    def _setup(self, o):
        u, e1, e2 = self.frame()
        q = np.asarray(o, dtype=float) - np.asarray(self.start_mm)
        w1, w2 = e1 / self.radius_mm, e2 / self.radius2_mm
        q1, q2 = float(w1 @ q), float(w2 @ q)
        c0 = q1 * q1 + q2 * q2 - 1.0
        return w1.tolist(), w2.tolist(), q1, q2, c0, u.tolist(), float(u @ q), self.length_mm

    def _solve(self, o, dx, dy, dz, length: bool):
        """(t_in, t_out), or with ``length`` t_out - t_in (0 where missed)."""
        w1, w2, q1, q2, c0, u, s0, s1 = _setup(self, o)
        # the section in its own coordinates (not the quadratic form of d: a stays accurate
        # for rays along the axis)
        d1, d2 = _dot(w1, dx, dy, dz), _dot(w2, dx, dy, dz)
        a = d1 * d1 + d2 * d2
        b = q1 * d1 + q2 * d2
        # the flat ends: the axial coordinate s0 + t sd must stay in [0, s1] ...
        sd = _dot(u, dx, dy, dz)
        # ... as it does for t in [0, 1] on every ray (s is linear in t) when the ends lie
        # beyond source and receptor
        sd_lo, sd_hi = (float(sd.min()), float(sd.max())) if sd.size else (0.0, 0.0)
        capped = not (sd.size and 0.0 <= s0 <= s1 and sd_lo >= -s0 and sd_hi <= s1 - s0)
        parallel = a.size and a.min() <= 1e-24  # a ray along the axis
        if length and not (capped or parallel):
            return _root_gap(a, b, c0)
        if parallel:  # inside the section for all t, or never
            par = a <= 1e-24
            t0, t1 = _quadratic(np.where(par, 1.0, a), b, c0)
            inside = c0 <= 0.0
            t0 = np.where(par, -np.inf if inside else 0.0, t0)
            t1 = np.where(par, np.inf if inside else 0.0, t1)
        else:
            t0, t1 = _quadratic(a, b, c0)
        if capped and (sd_lo > 0.0 or sd_hi < 0.0):  # the ends in the same order on all rays
            ta, tb = (0.0 - s0) / sd, (s1 - s0) / sd
            lo, hi = (ta, tb) if sd_lo > 0.0 else (tb, ta)
            own = lo.shape == np.shape(t0) == np.shape(t1)  # write to lo and hi
            t0 = np.maximum(t0, lo, out=lo if own else None)
            t1 = np.minimum(t1, hi, out=hi if own else None)
        elif capped:
            sd = np.where(sd == 0.0, 1e-300, sd)
            ta, tb = (0.0 - s0) / sd, (s1 - s0) / sd
            t0, t1 = np.maximum(t0, np.minimum(ta, tb)), np.minimum(t1, np.maximum(ta, tb))
        return np.maximum(t1 - t0, 0.0) if length else (t0, t1)

    def _inside(self, p):
        u, e1, e2 = self.frame()
        q = p - np.asarray(self.start_mm)
        s = q @ u
        rr = (q @ e1 / self.radius_mm) ** 2 + (q @ e2 / self.radius2_mm) ** 2
        return (s >= 0) & (s <= self.length_mm) & (rr <= 1.0)

    def aabb(self):
        _, e1, e2 = self.frame()  # the end ellipses' extents (r sqrt(1 - u^2) if circular)
        half = np.sqrt((self.radius_mm * e1) ** 2 + (self.radius2_mm * e2) ** 2)
        ends = np.array([self.start_mm, self.end_mm])
        return ends.min(axis=0) - half, ends.max(axis=0) + half

    def volume_mm3(self) -> float:
        return math.pi * self.radius_mm * self.radius2_mm * self.length_mm


@dataclass(frozen=True, kw_only=True)
class Needle(Cylinder):
    """Solid thin cylinder of a needle (default: 22 G stainless steel, supersampled).

    Use :func:`needle_shapes` for a hollow needle (steel tube with a void lumen).
    """

    material: str = "steel"
    radius_mm: float = NEEDLE_22G_OD_MM / 2.0
    feature_mm: float = NEEDLE_22G_ID_MM


@functools.lru_cache(maxsize=4096)
def _cyl_frame(p0: Vec, p1: Vec, ref: Vec | None):
    # in plain floats: numpy's overhead on 3-vectors is most of the time of a new cylinder
    u = _unit3([b - a for a, b in zip(p0, p1, strict=True)])
    if ref is None:
        i = min(range(3), key=lambda k: abs(u[k]))
        trial = [float(k == i) for k in range(3)]
    else:
        trial = [float(c) for c in ref]
    tu = trial[0] * u[0] + trial[1] * u[1] + trial[2] * u[2]
    e1 = _unit3([trial[k] - tu * u[k] for k in range(3)])
    e2 = [u[1] * e1[2] - u[2] * e1[1], u[2] * e1[0] - u[0] * e1[2], u[0] * e1[1] - u[1] * e1[0]]
    out = tuple(np.array(a) for a in (u, e1, e2))
    for a in out:
        a.setflags(write=False)
    return out


def _unit3(v: list) -> list:
    n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return [c / n for c in v]


def needle_shapes(
    start_mm: Vec,
    end_mm: Vec,
    parent: int | None,
    first_index: int,
    outer_mm: float = NEEDLE_22G_OD_MM,
    inner_mm: float = NEEDLE_22G_ID_MM,
    label: str = "needle",
) -> tuple[Shape, Shape]:
    """Hollow needle segment: steel tube ``Needle`` plus its ``void`` lumen as a child.

    Parameters
    ----------
    start_mm, end_mm
        Segment ends [mm].
    parent
        Index of the shape the segment lies in (None in air).
    first_index
        Index the tube will have in the phantom (the lumen's parent).
    outer_mm, inner_mm
        Outer and inner diameters [mm] (default 22 G, ISO 9626).

    References
    ----------
    ISO 9626:2016 (22 G: OD 0.718 mm, regular-wall ID 0.413 mm, as tabulated [R]).
    """
    tube = Needle(
        start_mm=start_mm,
        end_mm=end_mm,
        radius_mm=outer_mm / 2.0,
        parent=parent,
        feature_mm=inner_mm,
        label=label,
    )
    lumen = Cylinder(
        material=VOID,
        start_mm=start_mm,
        end_mm=end_mm,
        radius_mm=inner_mm / 2.0,
        parent=first_index,
        feature_mm=inner_mm,
        label=label,
    )
    return tube, lumen


class _ShapeList(list):
    """Shapes of a phantom under construction; ``add`` returns the index a child names as its
    ``parent``."""

    def __init__(self, shapes: tuple = (), scale: float = 1.0) -> None:
        super().__init__(shapes)
        self.scale = scale

    def add(self, shape: Shape) -> int:
        """Append ``shape``; its index [-]."""
        self.append(shape)
        return len(self) - 1

    def add_shelled(self, outer: Shape, shell_mm: float, core: str = "bone_cancellous") -> int:
        """Append a bone of cortical ``outer`` with a ``core`` inside, the shell scaled with the
        anatomy; the index of the outer shape [-]."""
        i = self.add(outer)
        self.add(shelled(outer, shell_mm * self.scale, core, i))
        return i


def shelled(
    outer: Shape, shell_mm: float, core_material: str, outer_index: int, label: str = ""
) -> Shape:
    """The core of ``outer`` shrunk by ``shell_mm`` (same cuts and planes), as its child.

    Spheres and cylinders shrink their radii, ellipsoids and boxes their semi-axes (an
    ellipsoidal shell is then not of exactly constant thickness).
    """
    t = _pos("shell_mm", shell_mm)
    common = {
        "material": core_material,
        "parent": outer_index,
        "cuts": outer.cuts,
        "planes": outer.planes,
        "feature_mm": outer.feature_mm,
        "label": label or outer.label,
    }
    if isinstance(outer, Sphere):
        return Sphere(center_mm=outer.center_mm, radius_mm=outer.radius_mm - t, **common)
    if isinstance(outer, Ellipsoid):
        semi = tuple(a - t for a in outer.semi_axes_mm)
        return Ellipsoid(center_mm=outer.center_mm, semi_axes_mm=semi, axes=outer.axes, **common)
    if isinstance(outer, Cylinder):
        return Cylinder(
            start_mm=outer.start_mm,
            end_mm=outer.end_mm,
            radius_mm=outer.radius_mm - t,
            radius2_mm=outer.radius2_mm - t,
            ref=outer.ref,
            **common,
        )
    if isinstance(outer, Box):
        size = tuple(s - 2 * t for s in outer.size_mm)
        return Box(center_mm=outer.center_mm, size_mm=size, axes=outer.axes, **common)
    raise ValueError(f"cannot shell a {type(outer).__name__}")


# ------------------------------------------------------------------------------------------
# helpers shared by the anatomy modules
# ------------------------------------------------------------------------------------------
def _t(v) -> Vec:
    return tuple(float(c) for c in v)


def _line_exit(p: np.ndarray, d: np.ndarray, cx: float, cz: float, a: float, b: float) -> float:
    """Largest lam >= 0 with p + lam d on the elliptic cylinder ((x-cx)/a)^2+((z-cz)/b)^2=1."""
    qx, qz = (p[0] - cx) / a, (p[2] - cz) / b
    dx, dz = d[0] / a, d[2] / b
    aa = dx * dx + dz * dz
    bb = qx * dx + qz * dz
    cc = qx * qx + qz * qz - 1.0
    return (-bb + math.sqrt(max(bb * bb - aa * cc, 0.0))) / aa
