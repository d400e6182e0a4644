"""Analytic phantoms and their divergent-beam path-length maps.

A phantom is data: a tuple of convex analytic shapes (slab, box, ellipsoid, sphere, finite
elliptic cylinder, needle), each of a named material, plus regions of interest. Rays from the
point focal spot to every receptor pixel are intersected with each shape analytically, giving
per-material path-length maps [mm] on the receptor grid (:func:`path_lengths`).

Coordinates (patient, [mm])
---------------------------
``x`` lateral (``+x`` = the patient's left = image right), ``y`` cranio-caudal (``+y``
cranial = image up), ``z`` depth along the central ray from the patient's ENTRANCE surface
(``z = 0``) to the exit surface (``z = thickness``). The patient lies supine on the table with
the C-arm source below it (the table, between source and patient, is in the beam), so the
entrance surface is posterior and the anterior skin is at ``z = thickness``. The focal spot is
at ``(0, 0, -source_skin)``; the receptor plane at ``z = sid - source_skin``. A ``Phantom``
therefore does not depend on distances, and its shapes are cached by value.

Composition rules
-----------------
* ``parent``: index of the shape a shape sits inside (listed before it). The child's net path
  is added to its own material and subtracted from its parent's material. The child must lie
  inside the parent (nesting: cancellous core inside a cortical shell inside soft tissue).
* ``cuts``: convex shapes whose volume is removed from this shape (e.g. the femoral neck minus
  the femoral head). The removed path is computed exactly by inclusion-exclusion over the cut
  intervals (each convex shape meets a ray in one interval), so cuts may overlap each other;
  the cuts' own cuts are ignored.
* ``planes``: half-spaces ``n . p <= d`` intersected with the shape (a hemispherical
  acetabulum is a sphere and a plane).
* Sibling shapes (same parent, not cut by each other) must not overlap:
  :func:`overlap_report` checks a phantom by sampling.
* Material ``"void"`` (:data:`VOID`) is a hole: its path is removed from the parent and not
  recorded (the lumen of a hollow needle).

Thin objects (needle, bar patterns, contrast films, disc edges) carry ``feature_mm``: their
pixels are supersampled with up to 16 x 16 sub-rays so that path lengths are pixel averages
(partial volume) instead of aliased point samples.

References
----------
.. [1] Ray-quadric and ray-box intersection: P. Shirley, *Fundamentals of Computer Graphics*,
   2nd ed., A K Peters, 2005, sec. 10.3; T. L. Kay, J. T. Kajiya, "Ray tracing complex
   scenes", SIGGRAPH 1986 (slab method); segment distance: C. Ericson, *Real-Time Collision
   Detection*, Morgan Kaufmann, 2005, sec. 5.1.9.
.. [2] H. Gray, *Anatomy of the Human Body*, 20th ed., 1918, sec. II.6.c (femur: neck-shaft
   angle ~125-130 deg, anteversion ~12-15 deg). D. W. Murray, "The definition and
   measurement of acetabular orientation", J Bone Joint Surg Br 75:228 (1993) (acetabular
   inclination ~45 deg, anteversion ~15-20 deg).
.. [3] Adult femoral head diameter ~ 43-56 mm, mean ~ 48 mm; hip joint space 3-5 mm [R]
   (textbook values, e.g. Gray 1918 and standard radiographic anatomy).
.. [4] Leeds Test Objects TOR 18FG: resolution limit 0.5-5.0 lp/mm, 18 low-contrast details
   of 8 mm diameter, lead circle for circular geometry (product description,
   https://hnamedical.com/product/tor-18fg/) [S].
.. [5] C. D. Murray, "The physiological principle of minimum work", PNAS 12:207 (1926)
   (r_parent^3 = sum r_child^3 at vessel bifurcations).
.. [6] 22-gauge needle: outer diameter 0.718 mm, regular-wall inner diameter 0.413 mm, as
   tabulated from ISO 9626:2016 [R].
.. [7] Lumbar vertebrae: C. G. Hinck, W. M. Clark, C. E. Hopkins, "Normal interpediculate
   distances (minimum and maximum) in children and adults", AJR 97:141 (1966); M. M. Panjabi
   et al., "Human lumbar vertebrae: quantitative three-dimensional anatomy", Spine 17:299
   (1992); skin-to-epidural depth ~ 5 cm: G. R. Harrison, N. W. B. Clowes, Anaesthesia 40:685
   (1985) [R].
.. [8] Trachea: J. F. Breatnach, G. C. Abbott, R. G. Fraser, "Dimensions of the normal human
   trachea", AJR 142:903 (1984) [R]. Barium sulfate suspensions: see
   :func:`sim.materials.barium_material`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from sim import materials
from sim.geometry import TABLE_LAYERS_MM, DetectorGrid, Geometry, center_roi_mask
from sim.params import PHANTOMS
from sim.units import CM_PER_MM, MM_PER_CM
from sim.validate import check_number

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
_RAY_CHUNK = 1 << 20  # sub-rays evaluated at once
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
    """

    material: str
    parent: int | None = None
    cuts: tuple[Shape, ...] = ()
    planes: tuple[tuple[float, float, float, float], ...] = ()
    feature_mm: float = 0.0
    label: str = ""

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

    # -- to be provided by subclasses -------------------------------------------------------
    def _interval(self, o: np.ndarray, dx, dy, dz) -> tuple[np.ndarray, np.ndarray]:
        """Ray parameters (t_in, t_out) of the primitive for rays ``o + t (dx, dy, dz)``."""
        raise NotImplementedError

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

    def _clipped_interval(self, o, dx, dy, dz):
        t0, t1 = self._interval(o, dx, dy, dz)
        for nx, ny, nz, d in self.planes:
            nd = _dot((nx, ny, nz), dx, dy, dz)
            nd = np.where(nd == 0.0, 1e-300, nd)
            lim = (d - (nx * o[0] + ny * o[1] + nz * o[2])) / nd
            t1 = np.where(nd > 0, np.minimum(t1, lim), t1)
            t0 = np.where(nd < 0, np.maximum(t0, lim), t0)
        return t0, t1


def _quadratic(a, b, c0):
    """Roots t0 <= t1 of a t^2 + 2 b t + c0 = 0 (a > 0); empty (t0 = t1) without real roots."""
    disc = b * b - a * c0
    sq = np.sqrt(np.maximum(disc, 0.0))
    inv = 1.0 / np.where(a > 0, a, 1.0)
    t0 = (-b - sq) * inv
    t1 = np.where(disc > 0, (-b + sq) * inv, t0)
    return t0, t1


def _dot(e, dx, dy, dz):
    """e . (dx, dy, dz), skipping zero components (keeps broadcast shapes small)."""
    out = 0.0
    if e[0] != 0.0:
        out = out + e[0] * dx
    if e[1] != 0.0:
        out = out + e[1] * dy
    if e[2] != 0.0:
        out = out + e[2] * dz
    return np.asarray(out, dtype=float)


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

    def _interval(self, o, dx, dy, dz):
        u = _axes_matrix(self.axes)
        q = np.asarray(o, dtype=float) - np.asarray(self.center_mm)
        lo, hi = -np.inf, np.inf
        for i in range(3):
            qi = u[i] @ q
            di = _dot(u[i], dx, dy, dz)
            di = np.where(di == 0.0, 1e-300, di)
            h = self.size_mm[i] / 2.0
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

    def _interval(self, o, dx, dy, dz):
        u = _axes_matrix(self.axes) / np.asarray(self.semi_axes_mm)[:, None]
        q = u @ (np.asarray(o, dtype=float) - np.asarray(self.center_mm))
        d = [_dot(u[i], dx, dy, dz) for i in range(3)]
        a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        b = q[0] * d[0] + q[1] * d[1] + q[2] * d[2]
        c0 = float(q @ q) - 1.0
        return _quadratic(a, b, c0)

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

    def _interval(self, o, dx, dy, dz):
        q = np.asarray(o, dtype=float) - np.asarray(self.center_mm)
        a = dx * dx + dy * dy + dz * dz
        b = q[0] * dx + q[1] * dy + q[2] * dz
        c0 = float(q @ q) - self.radius_mm**2
        return _quadratic(a, b, c0)

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
        u, e1, e2 = self.frame()
        q = np.asarray(o, dtype=float) - np.asarray(self.start_mm)
        r1, r2 = self.radius_mm, self.radius2_mm
        q1, q2 = (e1 @ q) / r1, (e2 @ q) / r2
        d1 = _dot(e1, dx, dy, dz) / r1
        d2 = _dot(e2, dx, dy, dz) / r2
        a = d1 * d1 + d2 * d2
        b = q1 * d1 + q2 * d2
        c0 = q1 * q1 + q2 * q2 - 1.0
        t0, t1 = _quadratic(a, b, c0)
        # ray parallel to the axis: inside the section for all t, or never
        par = a <= 1e-24
        if np.any(par):
            inside = c0 <= 0.0
            t0 = np.where(par, -np.inf if inside else 0.0, t0)
            t1 = np.where(par, np.inf if inside else 0.0, t1)
        s0 = float(u @ q)
        sd = _dot(u, dx, dy, dz)
        sd = np.where(sd == 0.0, 1e-300, sd)
        ta, tb = (0.0 - s0) / sd, (self.length_mm - s0) / sd
        lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
        if np.all(lo <= 0.0) and np.all(hi >= 1.0):  # the ends lie beyond source and receptor
            return t0, t1
        return np.maximum(t0, lo), np.minimum(t1, hi)

    def _inside(self, p):
        u, e1, e2 = self.frame()
        q = p - np.asarray(self.start_mm)
        s = q @ u
        rr = (q @ e1 / self.radius_mm) ** 2 + (q @ e2 / self.radius2_mm) ** 2
        return (s >= 0) & (s <= self.length_mm) & (rr <= 1.0)

    def aabb(self):
        u, _, _ = self.frame()
        r = max(self.radius_mm, self.radius2_mm)
        half = r * np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0))
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
    u = _unit(np.subtract(p1, p0))
    if ref is None:
        trial = np.eye(3)[int(np.argmin(np.abs(u)))]
    else:
        trial = np.asarray(ref, dtype=float)
    e1 = _unit(trial - (trial @ u) * u)
    e2 = np.cross(u, e1)
    for a in (u, e1, e2):
        a.setflags(write=False)
    return u, e1, e2


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
# regions of interest and phantoms
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Roi:
    """A region of interest: a disc or annulus at depth ``center_mm[2]``, projected.

    Parameters
    ----------
    name
        ``"signal"``, ``"background"``, ...
    center_mm
        Centre in patient coordinates [mm]; the depth sets the magnification.
    radius_mm
        Outer radius at that depth [mm].
    inner_mm
        Inner radius (annulus) [mm].
    labels
        If given, keep only pixels where the summed path of the shapes with these labels is
        at least ``fraction`` of its maximum inside the disc.
    exclude_labels
        If given, drop pixels crossed by shapes with these labels.
    fraction
        Threshold for ``labels`` [-].
    near_labels, near_mm
        If given, keep only pixels within ``near_mm`` (at the roi's depth) of a pixel crossed
        by shapes with these labels (a band next to a detail) [mm].
    """

    name: str
    center_mm: Vec
    radius_mm: float
    inner_mm: float = 0.0
    labels: tuple[str, ...] = ()
    exclude_labels: tuple[str, ...] = ()
    fraction: float = 0.5
    near_labels: tuple[str, ...] = ()
    near_mm: float = 0.0


@dataclass(frozen=True)
class Phantom:
    """A named list of shapes (parents before children) and regions of interest.

    ``static_shapes``: how many leading shapes do not change with the needle or the contrast
    (their path sum is cached and reused; -1 = all).
    """

    name: str
    shapes: tuple[Shape, ...]
    rois: tuple[Roi, ...] = ()
    description: str = ""
    static_shapes: int = -1

    def __post_init__(self) -> None:
        shapes = tuple(self.shapes)
        object.__setattr__(self, "shapes", shapes)
        k = len(shapes) if self.static_shapes < 0 else min(int(self.static_shapes), len(shapes))
        object.__setattr__(self, "static_shapes", k)
        object.__setattr__(self, "rois", tuple(self.rois))
        for i, s in enumerate(shapes):
            if not isinstance(s, Shape):
                raise ValueError(f"shapes[{i}]={s!r} is not a Shape")
            if s.parent is not None and s.parent >= i:
                raise ValueError(f"shapes[{i}].parent={s.parent} must index an earlier shape")
            if s.material != VOID:
                materials.check_material(s.material)

    def materials(self) -> tuple[str, ...]:
        """Materials of the shapes, in order of first appearance (void excluded)."""
        seen = dict.fromkeys(s.material for s in self.shapes if s.material != VOID)
        return tuple(seen)

    def labelled(self, *labels: str) -> tuple[int, ...]:
        """Indices of the shapes carrying any of ``labels``."""
        return tuple(i for i, s in enumerate(self.shapes) if s.label in labels)


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
        acc(shape.material, r0, c0, block, 1.0)
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


# ------------------------------------------------------------------------------------------
# the phantoms
# ------------------------------------------------------------------------------------------
def build_phantom(params) -> Phantom:
    """The phantom chosen by ``params.patient`` (name, thickness, needle, contrast).

    See :func:`make_phantom`.
    """
    pt = params.patient
    return make_phantom(
        pt.phantom,
        thickness_cm=pt.thickness_cm,
        needle_progress=pt.needle_progress,
        contrast_ml=pt.contrast_ml,
        contrast_mg_i_per_ml=pt.contrast_mg_i_per_ml,
    )


def make_phantom(
    name: str,
    thickness_cm: float = 22.0,
    needle_progress: float = 1.0,
    contrast_ml: float = 2.0,
    contrast_mg_i_per_ml: float = 240.0,
) -> Phantom:
    """Build a named phantom (cached by its arguments).

    Phantoms
    --------
    ``water_slab``
        Water, ``thickness_cm`` thick, laterally infinite (dose, ABC, QA).
    ``hip_injection``
        Adult right hip for a fluoroscopy-guided joint injection, AP beam entering
        posteriorly (patient supine, source under the table). Body: elliptical cylinder of
        adipose tissue (subcutaneous fat) around ICRU soft tissue, AP size ``thickness_cm``,
        width 1.9 x that; joint centre on the central ray at 40 % of the thickness below the
        anterior skin. Femur: head (radius 24 mm, 1.5 mm subchondral cortex, cancellous core),
        elliptic neck (32 x 26 mm, cortex 2.5 mm) at 130 deg neck-shaft angle and 15 deg
        anteversion, greater-trochanter/intertrochanteric block, shaft with a fatty medullary
        canal, lesser trochanter. Pelvis: acetabulum (hemispherical shell, inclination 45 deg,
        anteversion 20 deg, 2.5 mm subchondral plate, 3.5 mm joint space), iliac body and
        wing, superior pubic ramus, ischium, inferior ramus. Bodies thinner than 20 cm get the
        whole anatomy scaled down (a child). A 22 G spinal needle (hollow steel tube) enters
        the anterior skin from inferolateral toward the anterosuperior head-neck junction (the
        usual target, superolateral on the AP image); its tip is at entry + progress x
        (target - entry); the part of the needle outside the skin is in the beam too.
        Contrast (``contrast_ml`` of iodinated contrast at ``contrast_mg_i_per_ml``): a film
        over the head and a sleeve around the neck inside the capsule
        (:func:`hip_contrast_layers`).
    ``contrast_detail``
        A Leeds TOR 18FG-like test object on the exit surface of a water slab: 18 aluminium
        discs of 8 mm diameter with nominal contrasts 16.7-0.9 %, 21 lead bar-pattern groups
        0.5-5 lp/mm (5 bars each, 0.05 mm Pb), a lead circle of 200 mm diameter.
    ``vessels``
        A branching arterial tree (:func:`vessel_tree`, 6 mm trunk to 1-2 mm branches) at
        mid-depth in a soft-tissue slab; ``contrast_ml`` of contrast fills it from the root
        (the rest of the tree holds blood), so ``contrast_ml = 0`` gives the DSA mask.
    ``step_wedge``
        Eleven aluminium steps (1-21 mm) inside a water slab on its entrance side.
    ``lumbar_spine``
        Adult lumbar spine L2-L5 in the AP view of a lumbar epidural injection. The patient
        lies PRONE with the source under the table: the anterior abdomen is the entrance
        surface (``z = 0``) and the spine lies near the exit (posterior) surface, the posterior
        epidural space :data:`LUMBAR_SKIN_TO_EPIDURAL_MM` below the posterior skin. Body:
        soft-tissue elliptic cylinder, AP ``thickness_cm``, width 1.4 x that. Each vertebra
        (:data:`LUMBAR_VERTEBRA`): body (elliptic cylinder along the spine, 45 x 30 x 35 mm,
        1 mm cortical shell and endplates, cancellous core), pedicles seen end-on, transverse
        processes, facet columns, laminae and spinous process; 10 mm soft-tissue discs; the
        L3-L4 disc on the central ray. A 22 G spinal needle enters right paramedian, caudal
        to the interspace, and advances (``needle_progress``) into the L3-L4 posterior
        epidural space; ``contrast_ml`` of iodinated contrast spreads as a thin midline layer
        in the posterior epidural space (:func:`epidural_layer`). Bodies thinner than 24 cm
        get the anatomy scaled down.
    ``swallow``
        Neck in the LATERAL view of a swallow study (image x = anterior): soft-tissue
        elliptic cylinder ``thickness_cm`` across (along the beam) and 1.08 x that AP; the
        airway (air column, 18 mm), cervical spine C3-C7 (bodies, articular pillars,
        laminae, spinous processes) and the oesophagus on the central ray, filled from the
        hypopharynx down by a column of ``contrast_ml`` of barium sulfate suspension
        (:func:`sim.materials.barium_material`, 60 % w/v; :func:`swallow_column_mm`).
        ``contrast_mg_i_per_ml`` does not apply.

    Parameters
    ----------
    name
        One of :data:`PHANTOMS`.
    thickness_cm
        Body / slab thickness along the beam, 2-40 [cm].
    needle_progress
        Hip, lumbar spine: fraction of the needle path done, 0 (tip at the skin) to 1 (tip
        at the target).
    contrast_ml
        Hip: contrast volume in the joint; vessels: volume filling the tree; lumbar spine:
        epidural contrast; swallow: barium bolus [ml].
    contrast_mg_i_per_ml
        Iodine concentration of the contrast medium [mg/ml].

    Returns
    -------
    Phantom

    References
    ----------
    Anatomy: Gray (1918); D. W. Murray, J Bone Joint Surg Br 75:228 (1993); lumbar spine and
    neck [7], [8] of the module docstring. Test object:
    Leeds Test Objects TOR 18FG description. Vessels: C. D. Murray, PNAS 12:207 (1926).
    Numbers marked ``guess`` in the module are modelling choices.
    """
    if name not in PHANTOMS:
        raise ValueError(f"phantom={name!r} is unknown: expected one of {', '.join(PHANTOMS)}")
    t = check_number("thickness_cm", thickness_cm, 2.0, 40.0, "cm")
    prog = check_number("needle_progress", needle_progress, 0.0, 1.0, "")
    vol = check_number("contrast_ml", contrast_ml, 0.0, 20.0, "ml")
    conc = check_number("contrast_mg_i_per_ml", contrast_mg_i_per_ml, 0.0, 400.0, "mg/ml")
    # normalise the arguments a phantom ignores, for cache hits
    if name not in ("hip_injection", "lumbar_spine", "swallow"):
        prog = 0.0
    if name == "swallow":
        conc = 0.0  # barium: the iodine concentration does not apply
    elif name not in ("hip_injection", "vessels", "lumbar_spine") or vol == 0.0 or conc == 0.0:
        vol, conc = 0.0, 0.0
    return _make(name, t * MM_PER_CM, prog, vol, conc)


@functools.lru_cache(maxsize=256)
def _make(name: str, t_mm: float, prog: float, vol_ml: float, conc: float) -> Phantom:
    if name == "water_slab":
        return _water_slab(t_mm)
    if name == "hip_injection":
        return _hip(t_mm, prog, vol_ml, conc)
    if name == "contrast_detail":
        return _contrast_detail(t_mm)
    if name == "vessels":
        return _vessels(t_mm, vol_ml, conc)
    if name == "lumbar_spine":
        return _lumbar(t_mm, prog, vol_ml, conc)
    if name == "swallow":
        return _swallow(t_mm, prog, vol_ml)
    return _step_wedge(t_mm)


def _water_slab(t_mm: float) -> Phantom:
    body = Slab(material="water", z0_mm=0.0, z1_mm=t_mm, label="body")
    centre = (0.0, 0.0, t_mm / 2.0)
    rois = (Roi("signal", centre, 10.0), Roi("background", centre, 10.0))
    return Phantom("water_slab", (body,), rois, f"uniform water slab {t_mm * CM_PER_MM:g} cm thick")


# ---- hip ---------------------------------------------------------------------------------
HIP_REF_THICKNESS_MM = 200.0
"""Body thickness at and above which the hip anatomy has adult size [mm].

# guess: thinner bodies get the whole anatomy scaled by thickness / 200 mm (a child's hip)."""

HIP_WIDTH_PER_THICKNESS = 1.9
"""Body width / AP thickness at the hips.

# guess: adult bitrochanteric width ~ 32-36 cm plus soft tissue for an AP thickness ~ 22 cm;
# with an elliptical section a ratio ~1.5 would put the greater trochanter outside the skin."""

HIP_ANTERIOR_DEPTH = 0.40
"""Depth of the femoral-head centre below the anterior skin, as a fraction of the thickness.

# guess: ~ 9 cm in a 22 cm adult (hip joint slightly anterior of mid-depth)."""


def _fat_mm(t_mm: float) -> float:
    # guess: subcutaneous fat 8 % of the AP thickness, and 40 % of the excess above 22 cm.
    return 0.08 * t_mm + 0.4 * max(0.0, t_mm - 220.0)


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


@functools.lru_cache(maxsize=64)
def _hip_anatomy(t_mm: float):
    """Bones, body and the key points of the right hip (independent of needle and contrast)."""
    s = min(1.0, t_mm / HIP_REF_THICKNESS_MM)
    hx = 90.0 * s  # joint centre to body midline, medial = +x  # guess: ~ 9 cm in adults
    a_out, b_out = HIP_WIDTH_PER_THICKNESS * t_mm / 2.0, t_mm / 2.0
    fat = _fat_mm(t_mm)
    zj = t_mm * (1.0 - HIP_ANTERIOR_DEPTH)
    J = np.array([0.0, 0.0, zj])
    R = 24.0 * s  # femoral-head radius [3]
    js = 3.5 * s  # joint space (cartilage of head + acetabulum), 3-4 mm in adults
    # femoral neck axis: neck-shaft angle 130 deg (40 deg below horizontal in AP), anteversion
    # 15 deg (the neck runs anteriorly from the trochanters to the head) [2]
    u_n = _unit([-math.cos(math.radians(40)), -math.sin(math.radians(40)), 0.0])
    u_n = _unit(
        u_n + np.array([0.0, 0.0, -math.tan(math.radians(15)) * math.cos(math.radians(40))])
    )
    v_n = _unit(np.array([0.0, 1.0, 0.0]) - u_n[1] * u_n)  # superior, perpendicular to the neck
    r1, r2 = 16.0 * s, 13.0 * s  # neck semi-axes: superior-inferior, anterior-posterior
    # acetabular opening axis: inclination 45 deg, anteversion 20 deg [2]
    n_ac = _unit(
        [
            -math.sin(math.radians(45)) * math.cos(math.radians(20)),
            -math.cos(math.radians(45)),
            math.sin(math.radians(45)) * math.sin(math.radians(20)),
        ]
    )
    r_ac_out = R + js + 14.0 * s

    # guess: the positions and sizes of the bones below (other than the head radius, the
    # angles and the joint space, sourced above) are approximate adult dimensions chosen to
    # look right on an AP image; cortical thicknesses 1.5-5.5 mm likewise.
    def P(x, y, dz):
        return (x * s, y * s, zj + dz * s)

    shapes = _ShapeList(scale=s)
    add, add_shelled = shapes.add, shapes.add_shelled

    fat_i = add(
        Cylinder(
            material="adipose",
            start_mm=(hx, -1000.0, b_out),
            end_mm=(hx, 1000.0, b_out),
            radius_mm=a_out,
            radius2_mm=b_out,
            ref=(1.0, 0.0, 0.0),
            label="body",
        )
    )
    body = add(
        Cylinder(
            material="soft_tissue",
            start_mm=(hx, -1000.0, b_out),
            end_mm=(hx, 1000.0, b_out),
            radius_mm=a_out - fat,
            radius2_mm=b_out - fat,
            ref=(1.0, 0.0, 0.0),
            parent=fat_i,
            label="body",
        )
    )
    head_sphere = Sphere(material="bone_cortical", center_mm=_t(J), radius_mm=R)
    troch = Ellipsoid(
        material="bone_cortical",
        center_mm=P(-52, -38, -12),
        semi_axes_mm=(20 * s, 36 * s, 22 * s),
        parent=body,
        label="femur",
    )
    neck_prim = Cylinder(
        material="bone_cortical",
        start_mm=_t(J),
        end_mm=_t(J + 60 * s * u_n),
        radius_mm=r1,
        radius2_mm=r2,
        ref=_t(v_n),
    )
    shaft = Cylinder(
        material="bone_cortical",
        start_mm=P(-55, -50, -15),
        end_mm=P(-30, -300, -15),
        radius_mm=14 * s,
        cuts=(troch,),
        parent=body,
        label="femur",
    )
    acet_cut = Sphere(material="bone_cortical", center_mm=_t(J), radius_mm=r_ac_out)
    ilium_body = Ellipsoid(
        material="bone_cortical",
        center_mm=P(12, 48, -10),
        semi_axes_mm=(30 * s, 30 * s, 24 * s),
        cuts=(acet_cut,),
        parent=body,
        label="pelvis",
    )
    sup_ramus = Cylinder(
        material="bone_cortical",
        start_mm=P(20, -22, 8),
        end_mm=P(80, -38, 28),
        radius_mm=9 * s,
        cuts=(acet_cut,),
        parent=body,
        label="pelvis",
    )
    ischium = Cylinder(
        material="bone_cortical",
        start_mm=P(5, -25, -18),
        end_mm=P(15, -100, -28),
        radius_mm=13 * s,
        cuts=(acet_cut,),
        parent=body,
        label="pelvis",
    )
    plane_ac = (*_t(n_ac), float(n_ac @ J))
    # femur: head (subchondral plate 1.5 mm), neck (cortex 2.5 mm), trochanters, shaft
    add_shelled(replace_(head_sphere, parent=body, label="femur"), 1.5, "bone_cancellous")
    add_shelled(
        replace_(neck_prim, parent=body, cuts=(head_sphere, troch), label="femur"),
        2.5,
        "bone_cancellous",
    )
    add_shelled(troch, 2.0, "bone_cancellous")
    add_shelled(shaft, 5.5, "adipose")  # medullary canal with yellow marrow
    add(
        Ellipsoid(
            material="bone_cortical",
            center_mm=P(-33, -78, -24),
            semi_axes_mm=(9 * s, 12 * s, 9 * s),
            cuts=(shaft, troch),
            parent=body,
            label="femur",
        )
    )
    # acetabulum: subchondral plate 2.5 mm then cancellous bone, the half facing the head
    add(
        Sphere(
            material="bone_cortical",
            center_mm=_t(J),
            radius_mm=R + js + 2.5 * s,
            planes=(plane_ac,),
            cuts=(Sphere(material="void", center_mm=_t(J), radius_mm=R + js),),
            parent=body,
            label="pelvis",
        )
    )
    add(
        Sphere(
            material="bone_cancellous",
            center_mm=_t(J),
            radius_mm=r_ac_out,
            planes=(plane_ac,),
            cuts=(Sphere(material="void", center_mm=_t(J), radius_mm=R + js + 2.5 * s),),
            parent=body,
            label="pelvis",
        )
    )
    add_shelled(ilium_body, 2.0, "bone_cancellous")
    wing = Ellipsoid(
        material="bone_cortical",
        center_mm=P(40, 100, -22),
        semi_axes_mm=(58 * s, 55 * s, 8 * s),
        axes=rotation_y(35.0),
        cuts=(ilium_body, acet_cut),
        parent=body,
        label="pelvis",
    )
    add_shelled(wing, 1.5, "bone_cancellous")
    add_shelled(sup_ramus, 1.5, "bone_cancellous")
    add_shelled(ischium, 2.0, "bone_cancellous")
    inf_ramus = Cylinder(
        material="bone_cortical",
        start_mm=P(18, -95, -25),
        end_mm=P(80, -62, 15),
        radius_mm=7 * s,
        cuts=(ischium,),
        parent=body,
        label="pelvis",
    )
    add_shelled(inf_ramus, 1.5, "bone_cancellous")
    key = {
        "s": s,
        "J": J,
        "R": R,
        "js": js,
        "u_n": u_n,
        "v_n": v_n,
        "r1": r1,
        "r2": r2,
        "head_sphere": head_sphere,
        "neck_prim": neck_prim,
        "troch": troch,
        "body": body,
        "fat": fat_i,
        "hx": hx,
        "a_out": a_out,
        "b_out": b_out,
        "fat_mm": fat,
    }
    return tuple(shapes), key


def replace_(shape: Shape, **changes) -> Shape:
    """Copy of a shape with fields changed (:func:`dataclasses.replace`)."""
    return dataclasses.replace(shape, **changes)


CONTRAST_FILM_FRACTION = 0.3
"""Share of the joint contrast spread as a film over the femoral head (rest: neck recess).

# guess: injected contrast outlines the head and pools in the recesses around the neck."""


def _ellipse_annulus_quadrature(r1: float, r2: float, t: float, n_phi=96, n_tau=12):
    """Points (w1, w2) and area weights of the elliptic annulus (r1, r2) .. (r1+t, r2+t)."""
    phi = (np.arange(n_phi) + 0.5) * 2 * math.pi / n_phi
    tau = (np.arange(n_tau) + 0.5) * t / n_tau
    P, T = np.meshgrid(phi, tau)
    w1 = (r1 + T) * np.cos(P)
    w2 = (r2 + T) * np.sin(P)
    jac = (r2 + T) * np.cos(P) ** 2 + (r1 + T) * np.sin(P) ** 2
    return w1.ravel(), w2.ravel(), (jac * (2 * math.pi / n_phi) * (t / n_tau)).ravel()


def _film_volume(R: float, r1: float, r2: float, t: float) -> float:
    """Volume of the shell R..R+t around the head minus the part inside the neck [mm^3]."""
    shell = 4.0 / 3.0 * math.pi * ((R + t) ** 3 - R**3)
    # inside the neck (elliptic r1 x r2 section, axis through the centre): per section point
    # the shell spans sqrt(R^2 - rho^2) .. sqrt((R+t)^2 - rho^2) along the axis
    n = 64
    u = (np.arange(n) + 0.5) / n
    rr, pp = np.meshgrid(np.sqrt(u), (np.arange(n) + 0.5) * 2 * math.pi / n)
    w1, w2 = r1 * rr * np.cos(pp), r2 * rr * np.sin(pp)
    rho2 = w1**2 + w2**2
    span = np.sqrt((R + t) ** 2 - rho2) - np.sqrt(np.maximum(R**2 - rho2, 0.0))
    return shell - float(span.mean()) * math.pi * r1 * r2


def _sleeve_volume(anat_key, t_film: float, t: float, length: float) -> float:
    """Volume of the neck sleeve of thickness t (minus head+film sphere, trochanter) [mm^3]."""
    J, u, v = anat_key["J"], anat_key["u_n"], anat_key["v_n"]
    e2 = np.cross(u, v)
    w1, w2, dA = _ellipse_annulus_quadrature(anat_key["r1"], anat_key["r2"], t)
    rho2 = w1**2 + w2**2
    start = np.sqrt(np.maximum((anat_key["R"] + t_film) ** 2 - rho2, 0.0))
    seg0, seg1 = np.minimum(start, length), np.full_like(start, length)
    # trochanter: the line J + s u + w1 v + w2 e2 meets the ellipsoid in [s_a, s_b]
    tr = anat_key["troch"]
    m = np.diag(1.0 / np.asarray(tr.semi_axes_mm))
    base = J[None, :] + w1[:, None] * v[None, :] + w2[:, None] * e2[None, :]
    q = (base - np.asarray(tr.center_mm)) @ m
    d = m @ u
    a = float(d @ d)
    b = q @ d
    c0 = np.sum(q * q, axis=1) - 1.0
    disc = b * b - a * c0
    ok = disc > 0
    sq = np.sqrt(np.where(ok, disc, 0.0))
    sa = np.where(ok, (-b - sq) / a, 0.0)
    sb = np.where(ok, (-b + sq) / a, 0.0)
    overlap = np.maximum(np.minimum(seg1, sb) - np.maximum(seg0, sa), 0.0)
    return float(np.sum((seg1 - seg0 - overlap) * dA))


def _solve_thickness(volume_fn, target: float, t_max: float) -> float:
    """Thickness in [0, t_max] whose volume is ``target`` (t_max if it holds less) [mm]."""
    if target <= 0:
        return 0.0
    if volume_fn(t_max) <= target:
        return t_max
    return float(optimize.brentq(lambda t: volume_fn(t) - target, 0.0, t_max, xtol=1e-7))


@functools.lru_cache(maxsize=64)
def hip_contrast_layers(t_mm: float, contrast_ml: float) -> tuple[float, float, float]:
    """Film and neck-sleeve thicknesses [mm] and the volume represented [ml] for the hip.

    ``CONTRAST_FILM_FRACTION`` of the volume forms a film over the femoral head, at most the
    joint space minus 0.5 mm thick; the rest a sleeve around the neck inside the capsule, at
    most 8 mm thick (capsule distension limit, a guess). Volume beyond both caps is not
    represented (extravasation is not modelled). The volumes of the cut shapes are integrated
    numerically (elliptic-annulus quadrature) and the thicknesses found by bisection, so the
    represented volume equals ``contrast_ml`` to 0.1 %.

    References
    ----------
    # guess: distribution of injected contrast in the hip capsule (film over the head,
    # recesses around the neck) after the appearance of hip arthrograms; no quantitative source.
    """
    _, k = _hip_anatomy(t_mm)
    s, R, r1, r2, js = k["s"], k["R"], k["r1"], k["r2"], k["js"]
    v_mm3 = contrast_ml * MM_PER_CM**3
    t_f_max = js - 0.5 * s
    t_f = _solve_thickness(
        lambda t: _film_volume(R, r1, r2, t), CONTRAST_FILM_FRACTION * v_mm3, t_f_max
    )
    v_film = _film_volume(R, r1, r2, t_f) if t_f > 0 else 0.0
    length = 45.0 * s  # guess: capsule insertion on the neck, ~ 45 mm from the head centre
    t_s_max = 8.0 * s  # guess
    t_s = _solve_thickness(lambda t: _sleeve_volume(k, t_f, t, length), v_mm3 - v_film, t_s_max)
    v_sleeve = _sleeve_volume(k, t_f, t_s, length) if t_s > 0 else 0.0
    return t_f, t_s, (v_film + v_sleeve) / MM_PER_CM**3


def _hip(t_mm: float, progress: float, vol_ml: float, conc: float) -> Phantom:
    bones, k = _hip_anatomy(t_mm)
    s, J, R, u_n, v_n = k["s"], k["J"], k["R"], k["u_n"], k["v_n"]
    shapes = _ShapeList(bones, scale=s)
    add = shapes.add
    body, fat_i = k["body"], k["fat"]

    # contrast pocket in the capsule: film over the head + sleeve around the neck
    t_f = t_s = 0.0
    if vol_ml > 0 and conc > 0:
        contrast = materials.contrast_material(conc, base="water")
        t_f, t_s, _ = hip_contrast_layers(t_mm, vol_ml)
        film_sphere = Sphere(material=contrast, center_mm=_t(J), radius_mm=R + t_f)
        if t_f > 0:
            add(
                replace_(
                    film_sphere,
                    cuts=(k["head_sphere"], k["neck_prim"]),
                    parent=body,
                    feature_mm=max(t_f, 0.02),
                    label="contrast",
                )
            )
        if t_s > 0:
            add(
                Cylinder(
                    material=contrast,
                    start_mm=_t(J),
                    end_mm=_t(J + 45.0 * s * u_n),
                    radius_mm=k["r1"] + t_s,
                    radius2_mm=k["r2"] + t_s,
                    ref=_t(v_n),
                    cuts=(film_sphere, k["neck_prim"], k["troch"]),
                    parent=body,
                    feature_mm=max(t_s, 0.02),
                    label="contrast",
                )
            )
    # 22 G spinal needle, anterior approach from inferolateral, aimed at the head-neck
    # junction: the point of the anterosuperior neck surface that projects superolaterally
    # on the AP image (the usual target); the tip stops 1.5 mm off the bone
    w_ant = -np.cross(u_n, v_n)  # anterior, perpendicular to the neck
    phi = math.radians(50.0)
    gap = max(1.5 * s, 1.0)
    target = (
        J
        + 21.0 * s * u_n
        + (k["r1"] + gap) * math.cos(phi) * v_n
        + (k["r2"] + gap) * math.sin(phi) * w_ant
    )
    d = _unit([0.15, 0.42, -0.90])  # entry -> target: medial, cranial, posterior  # guess
    back = -d
    lam_skin = _line_exit(target, back, k["hx"], k["b_out"], k["a_out"], k["b_out"])
    lam_fat = _line_exit(
        target, back, k["hx"], k["b_out"], k["a_out"] - k["fat_mm"], k["b_out"] - k["fat_mm"]
    )
    length = next(
        (L for L in SPINAL_NEEDLE_LENGTHS_MM if L >= lam_skin + 15.0), SPINAL_NEEDLE_LENGTHS_MM[-1]
    )
    lam_tip = (1.0 - progress) * lam_skin
    lam_tail = lam_tip + length

    def pt(lam: float) -> Vec:
        return _t(target + lam * back)

    # split where the needle crosses the skin and the fat/muscle boundary (parents differ)
    for lo, hi, parent in (
        (max(lam_skin, lam_tip), lam_tail, None),
        (max(lam_fat, lam_tip), min(lam_skin, lam_tail), fat_i),
        (lam_tip, min(lam_fat, lam_tail), body),
    ):
        if hi - lo > 1e-6:
            tube, lumen = needle_shapes(pt(hi), pt(lo), parent, len(shapes))
            add(tube)
            add(lumen)
    # regions of interest
    neck_mid = J + 30.0 * s * u_n
    if t_f + t_s > 0:
        rois = (
            Roi("signal", _t(neck_mid), 45.0 * s, labels=("contrast",)),
            Roi(
                "background",
                _t(neck_mid),
                45.0 * s,
                exclude_labels=("contrast",),
                near_labels=("contrast",),
                near_mm=4.0 * s,
            ),
        )
    else:
        rois = (
            Roi("signal", _t(J), 0.5 * R),
            Roi("background", _t(J), R + 16.0 * s, inner_mm=R + 6.0 * s),
        )
    rois = rois + (Roi("needle_tip", pt(lam_tip), max(2.0 * s, 1.5)),)
    desc = (
        f"right hip, AP thickness {t_mm * CM_PER_MM:g} cm, needle {progress:.0%} of the way"
        f" ({length:g} mm 22 G), contrast {vol_ml:g} ml at {conc:g} mg I/ml"
        f" (film {t_f:.2f} mm, neck sleeve {t_s:.2f} mm)"
    )
    return Phantom("hip_injection", tuple(shapes), rois, desc, static_shapes=len(bones))


# ---- contrast-detail (TOR 18FG style) ----------------------------------------------------
TOR_CONTRASTS = tuple(0.167 * (0.009 / 0.167) ** (i / 17) for i in range(18))
"""Nominal contrasts of the 18 discs, geometric from 16.7 % to 0.9 %.

# guess [R]: TOR 18FG detail contrasts quoted as ~0.9-16.7 % (70 kV, 1 mm Cu); the exact
# per-disc values of the manual were not available, so a geometric series is used."""

TOR_FREQUENCIES_LP_MM = (
    0.50, 0.56, 0.63, 0.71, 0.80, 0.90, 1.00, 1.12, 1.25, 1.40, 1.60,
    1.80, 2.00, 2.24, 2.50, 2.80, 3.15, 3.55, 4.00, 4.50, 5.00,
)  # fmt: skip
"""Bar-pattern groups 0.5-5.0 lp/mm (ISO 3 R20 preferred numbers; range from [4])."""

MU_AL_50KEV_PER_MM = 0.3681 * 2.699 * CM_PER_MM
"""Linear attenuation of aluminium at 50 keV [1/mm] (NIST SRD 126: mu/rho 0.3681 cm^2/g,
density 2.699 g/cm^3), used only to turn nominal contrasts into disc thicknesses."""

TOR_PB_MM = 0.05
"""Lead thickness of bar patterns and circle [mm]. # guess: typical of test-pattern foils."""


def _contrast_detail(t_mm: float) -> Phantom:
    shapes: list[Shape] = [Slab(material="water", z0_mm=0.0, z1_mm=t_mm, label="body")]
    z = t_mm  # the test object lies on the exit surface of the water slab
    rois = []
    for i, c in enumerate(TOR_CONTRASTS):
        thick = -math.log(1.0 - c) / MU_AL_50KEV_PER_MM
        row, col = divmod(i, 6)  # guess: layout (3 rows of 6 below the centre)
        cx, cy = -50.0 + 20.0 * col, -35.0 - 20.0 * row
        shapes.append(
            Cylinder(
                material="Al",
                start_mm=(cx, cy, z),
                end_mm=(cx, cy, z + thick),
                radius_mm=4.0,
                feature_mm=1.0,
                label=f"disc{i}",
            )
        )
        if i == 8:
            rois = [
                Roi("signal", (cx, cy, z), 2.5),
                Roi("background", (cx, cy, z), 9.0, inner_mm=6.0),
            ]
    n_bars = 5  # guess: bars per group
    bar_len = 8.0
    for g, f in enumerate(TOR_FREQUENCIES_LP_MM):
        row, col = divmod(g, 7)
        gx, gy = -42.0 + 14.0 * col, 30.0 + 12.0 * row
        w = 1.0 / (2.0 * f)
        for b in range(n_bars):
            bx = gx + (2 * b - (n_bars - 1)) * w
            shapes.append(
                Box(
                    material="Pb",
                    center_mm=(bx, gy, z + TOR_PB_MM / 2.0),
                    size_mm=(w, bar_len, TOR_PB_MM),
                    feature_mm=w,
                    label=f"bars{f:g}",
                )
            )
    # guess: the lead circle's diameter (200 mm) and width (1 mm)
    ring = Cylinder(
        material="Pb",
        start_mm=(0.0, 0.0, z),
        end_mm=(0.0, 0.0, z + TOR_PB_MM),
        radius_mm=100.0,
        cuts=(
            Cylinder(
                material="Pb", start_mm=(0.0, 0.0, z), end_mm=(0.0, 0.0, z + 1), radius_mm=99.0
            ),
        ),
        feature_mm=1.0,
        label="circle",
    )
    shapes.append(ring)
    desc = (
        f"TOR 18FG-style test object (18 Al discs, 21 Pb bar groups 0.5-5 lp/mm, Pb circle)"
        f" on {t_mm * CM_PER_MM:g} cm water"
    )
    return Phantom("contrast_detail", tuple(shapes), tuple(rois), desc)


# ---- vessels -----------------------------------------------------------------------------
VESSEL_ROOT_RADIUS_MM = 3.0
"""Radius of the trunk of the vessel tree (6 mm diameter) [mm]."""


def _segment_distance(p0, p1, q0, q1) -> np.ndarray:
    """Shortest distances between segments p0-p1 (N, 3) and q0-q1 (N, 3) [mm]."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = np.sum(d1 * d1, axis=-1)
    e = np.sum(d2 * d2, axis=-1)
    f = np.sum(d2 * r, axis=-1)
    c = np.sum(d1 * r, axis=-1)
    b = np.sum(d1 * d2, axis=-1)
    den = a * e - b * b
    sc = np.clip(
        np.where(den > 1e-12, (b * f - c * e) / np.where(den > 1e-12, den, 1.0), 0.0), 0, 1
    )
    tc = (b * sc + f) / e
    # clamp t and recompute s (Ericson, Real-Time Collision Detection, 2005, sec. 5.1.9)
    tc_c = np.clip(tc, 0.0, 1.0)
    sc = np.where(tc < 0, np.clip(-c / a, 0, 1), np.where(tc > 1, np.clip((b - c) / a, 0, 1), sc))
    diff = (p0 + sc[..., None] * d1) - (q0 + tc_c[..., None] * d2)
    return np.sqrt(np.sum(diff * diff, axis=-1))


@functools.lru_cache(maxsize=16)
def vessel_tree(t_mm: float) -> tuple[tuple[Vec, Vec, float, int], ...]:
    """Segments (start, end, radius [mm], generation) of a deterministic arterial tree.

    Asymmetric bifurcations: the main branch keeps 0.9 of the parent radius, the side branch
    gets the rest by Murray's law, r^3 = r_main^3 + r_side^3 [5]; lengths 12 radii + 10 mm,
    branching angles 20 deg (main) and 45 deg (side), alternating sides (guesses); the tree lies
    near mid-depth with small out-of-plane tilts, kept inside the slab; the trunk starts 60 mm
    above the central ray so it lies inside the default field. Stops below 0.5 mm
    radius. A branch that would touch an unrelated vessel is dropped with its subtree, so
    that vessels only meet at their bifurcations.

    References
    ----------
    C. D. Murray, "The physiological principle of minimum work. I. The vascular system and the
    cost of blood volume", PNAS 12:207-214 (1926).
    """
    zc = t_mm / 2.0
    out: list[tuple[Vec, Vec, float, int]] = []
    parents: list[int] = []
    stack = [
        (np.array([-15.0, 60.0, zc]), _unit([0.05, -1.0, 0.0]), VESSEL_ROOT_RADIUS_MM, 0, 1, -1)
    ]
    tilt = math.sin(math.radians(8.0))
    while stack:
        p, d, r, gen, side, parent = stack.pop(0)
        length = min(12.0 * r + 10.0, 60.0)
        q = p + length * d
        band = max(t_mm / 2.0 - r - 0.5, 0.0)
        if abs(q[2] - zc) > band:  # keep the vessel inside the slab
            d = _unit([d[0], d[1], 0.0])
            q = p + length * d
            q[2] = min(max(q[2], zc - band), zc + band)
        if out:
            # no contact with vessels other than the parent and its children (siblings)
            related = {parent} | {j for j, pa in enumerate(parents) if pa == parent}
            others = [j for j in range(len(out)) if j not in related]
            if others:
                P0 = np.array([out[j][0] for j in others])
                P1 = np.array([out[j][1] for j in others])
                rr = np.array([out[j][2] for j in others])
                dist = _segment_distance(P0, P1, np.repeat(p[None], len(others), 0),
                                         np.repeat(q[None], len(others), 0))  # fmt: skip
                if np.any(dist < rr + r + 0.5):
                    continue
        out.append((_t(p), _t(q), r, gen))
        parents.append(parent)
        me = len(out) - 1
        if r * 0.9 < 0.5 or gen >= 7:
            continue
        r_main = 0.9 * r
        r_side = (r**3 - r_main**3) ** (1.0 / 3.0)
        for k, (rr_, ang) in enumerate(((r_main, 20.0 * side), (r_side, -45.0 * side))):
            if rr_ < 0.5:
                continue
            a = math.radians(ang)
            nd = np.array([d[0] * math.cos(a) - d[1] * math.sin(a),
                           d[0] * math.sin(a) + d[1] * math.cos(a), 0.0])  # fmt: skip
            nd[2] = tilt * (1 if (gen + k) % 2 else -1)
            stack.append((q, _unit(nd), rr_, gen + 1, -side, me))
    return tuple(out)


def _vessels(t_mm: float, vol_ml: float, conc: float) -> Phantom:
    shapes: list[Shape] = [Slab(material="soft_tissue", z0_mm=0.0, z1_mm=t_mm, label="body")]
    tree = vessel_tree(t_mm)
    filled = materials.contrast_material(conc, base="water") if vol_ml > 0 else None
    # fill from the root, generation by generation (the bolus front reaches every vessel of
    # a generation together); extra volume beyond the tree washes out of the field
    vols = [math.pi * r * r * math.dist(p, q) for p, q, r, _ in tree]
    gens = [g for *_, g in tree]
    remaining = vol_ml * MM_PER_CM**3
    frac = [0.0] * len(tree)
    for g in sorted(set(gens)):
        idx = [i for i, gi in enumerate(gens) if gi == g]
        need = sum(vols[i] for i in idx)
        f = 1.0 if remaining >= need else max(remaining, 0.0) / need
        for i in idx:
            frac[i] = f
        remaining -= need
    prims: list[Cylinder] = []
    parent_of: dict[tuple, int] = {}
    for i, (p, q, r, _g) in enumerate(tree):
        prims.append(Cylinder(material="blood", start_mm=p, end_mm=q, radius_mm=r))
        parent_of.setdefault(q, i)
    for i, (p, q, r, _g) in enumerate(tree):
        cuts = []
        if p in parent_of:
            cuts.append(prims[parent_of[p]])
        cuts += [prims[j] for j in range(i) if tree[j][0] == p]  # earlier siblings
        pa, qa = np.asarray(p), np.asarray(q)
        split = pa + frac[i] * (qa - pa)
        parts = []
        if frac[i] > 1e-9:
            parts.append((p, _t(split), filled))
        if frac[i] < 1 - 1e-9:
            parts.append((_t(split), q, "blood"))
        for a, b, material in parts:
            shapes.append(
                Cylinder(
                    material=material,
                    start_mm=a,
                    end_mm=b,
                    radius_mm=r,
                    cuts=tuple(cuts),
                    parent=0,
                    feature_mm=min(2 * r, 2.0),
                    label="vessel",
                )
            )
    p0, q0, r0, _ = tree[0]
    mid = _t((np.asarray(p0) + np.asarray(q0)) / 2.0)
    rois = (
        Roi("signal", mid, 0.5 * r0),
        Roi("background", mid, 4.5 * r0, inner_mm=2.5 * r0, exclude_labels=("vessel",)),
    )
    desc = (
        f"vessel tree ({len(tree)} segments, 6 mm trunk) in {t_mm * CM_PER_MM:g} cm soft tissue,"
        f" {vol_ml:g} ml contrast at {conc:g} mg I/ml"
    )
    return Phantom("vessels", tuple(shapes), rois, desc, static_shapes=1)


# ---- step wedge --------------------------------------------------------------------------
STEP_WEDGE_MM = tuple(1.0 + 2.0 * i for i in range(11))
"""Aluminium thickness of the 11 steps: a 1 mm base plus 0-20 mm in 2 mm steps [mm].

# guess: a generic QA step wedge; steps 10 mm wide, 60 mm long."""


def _step_wedge(t_mm: float) -> Phantom:
    shapes: list[Shape] = [Slab(material="water", z0_mm=0.0, z1_mm=t_mm, label="body")]
    n = len(STEP_WEDGE_MM)
    width = 10.0
    rois = []
    for i, al in enumerate(STEP_WEDGE_MM):
        h = min(al, t_mm)  # the wedge lies inside the slab on its entrance side
        cx = (i - (n - 1) / 2.0) * width
        shapes.append(
            Box(
                material="Al",
                center_mm=(cx, 0.0, h / 2.0),
                size_mm=(width, 60.0, h),
                parent=0,
                feature_mm=2.0,
                label=f"step{i}",
            )
        )
        if i in (0, 5):
            rois.append(Roi("background" if i == 0 else "signal", (cx, 0.0, h / 2.0), 3.0))
    desc = (
        f"aluminium step wedge ({STEP_WEDGE_MM[0]:g}-{STEP_WEDGE_MM[-1]:g} mm) in"
        f" {t_mm * CM_PER_MM:g} cm water"
    )
    return Phantom("step_wedge", tuple(shapes), tuple(rois), desc)


# ---- lumbar spine ------------------------------------------------------------------------
LUMBAR_REF_THICKNESS_MM = 240.0
"""Abdominal AP thickness at and above which the lumbar anatomy has adult size [mm].

# guess: thinner bodies get the whole anatomy scaled by thickness / 240 mm."""

LUMBAR_WIDTH_PER_THICKNESS = 1.4
"""Body width / AP thickness of the lower abdomen. # guess: ~ 34 cm wide for 24 cm AP."""

LUMBAR_SKIN_TO_EPIDURAL_MM = 50.0
"""Posterior skin to the posterior epidural space at L3-L4 in an adult [mm].

G. R. Harrison, N. W. B. Clowes, "The depth of the lumbar epidural space from the skin",
Anaesthesia 40:685 (1985): about 5 cm in most adults (range 2-9 cm) [R]."""

LUMBAR_VERTEBRA = {
    "body_width": 45.0,  # vertebral body, transverse [mm]
    "body_height": 30.0,  # cranio-caudal [mm]
    "body_depth": 35.0,  # antero-posterior [mm]
    "disc": 10.0,  # intervertebral disc height [mm]
    "canal_depth": 16.0,  # sagittal canal diameter [mm]
    "interpedicular": 24.0,  # interpediculate distance [mm]
    "pedicle_width": 10.0,  # transverse [mm]
    "pedicle_height": 15.0,  # cranio-caudal [mm]
}
"""Adult lumbar (L3) dimensions [mm].

Body ~ 45 x 30 x 35 mm, discs ~ 10 mm, canal sagittal diameter 15-18 mm, interpediculate
distance 22-30 mm (C. G. Hinck et al., "Normal interpediculate distances in adults",
AJR 97:141 (1966)), pedicles ~ 10 x 15 mm (M. M. Panjabi et al., "Human lumbar vertebrae:
quantitative three-dimensional anatomy", Spine 17:299 (1992)) [R]: values recalled from these
sources and rounded; the posterior elements (laminae, facets, processes) are guesses sized to
look right on an AP image."""

EPIDURAL_LAYER_WIDTH_MM = 15.0
"""Width of the epidural contrast layer in the posterior epidural space [mm]. # guess"""

EPIDURAL_LAYER_MM = (3.0, 5.0)
"""Thickness of the epidural contrast layer: while it spreads, and at most [mm]. # guess"""

EPIDURAL_MAX_SPREAD_MM = 160.0
"""Longest cranio-caudal spread of the epidural contrast (about four levels) [mm]. # guess"""


def epidural_layer(vol_ml: float, s: float = 1.0) -> tuple[float, float, float]:
    """Cranio-caudal length, thickness [mm] and the represented volume [ml] of epidural contrast.

    The injected volume spreads as a thin layer (:data:`EPIDURAL_LAYER_WIDTH_MM` wide,
    ``EPIDURAL_LAYER_MM[0]`` thick) up and down the posterior epidural space until it is
    :data:`EPIDURAL_MAX_SPREAD_MM` long, then thickens up to ``EPIDURAL_LAYER_MM[1]``; volume
    beyond that is not represented. ``s`` scales the anatomy (child).

    References
    ----------
    # guess: shape of the epidurogram after an interlaminar injection (a midline band of a few
    # levels for 3-5 ml); no quantitative source.
    """
    v = vol_ml * MM_PER_CM**3
    if v <= 0:
        return 0.0, 0.0, 0.0
    w, (t0, t1), l_max = EPIDURAL_LAYER_WIDTH_MM * s, EPIDURAL_LAYER_MM, EPIDURAL_MAX_SPREAD_MM * s
    t0, t1 = t0 * s, t1 * s
    length = min(v / (w * t0), l_max)
    thick = min(max(v / (w * length), t0), t1)
    return length, thick, w * thick * length / MM_PER_CM**3


@functools.lru_cache(maxsize=32)
def _lumbar_anatomy(t_mm: float):
    """Body and vertebrae L2-L5 (independent of needle and contrast), and key depths."""
    s = min(1.0, t_mm / LUMBAR_REF_THICKNESS_MM)
    v = {k: val * s for k, val in LUMBAR_VERTEBRA.items()}
    # prone patient: anterior abdomen on the table (z = 0), posterior skin at z = t
    z_ep = t_mm - (LUMBAR_SKIN_TO_EPIDURAL_MM * s + 0.5 * max(0.0, t_mm - LUMBAR_REF_THICKNESS_MM))
    z_canal_front = z_ep - v["canal_depth"]
    zc = z_canal_front - v["body_depth"] / 2.0  # vertebral-body centre
    a_out, b_out = LUMBAR_WIDTH_PER_THICKNESS * t_mm / 2.0, t_mm / 2.0
    pitch = v["body_height"] + v["disc"]
    levels = (("L2", 1.5), ("L3", 0.5), ("L4", -0.5), ("L5", -1.5))  # L3-L4 disc on the axis
    shapes = _ShapeList(scale=s)
    add, add_shelled = shapes.add, shapes.add_shelled

    body = add(
        Cylinder(
            material="soft_tissue",
            start_mm=(0.0, -1000.0, b_out),
            end_mm=(0.0, 1000.0, b_out),
            radius_mm=a_out,
            radius2_mm=b_out,
            ref=(1.0, 0.0, 0.0),
            label="body",
        )
    )
    hw, hh, hd = v["body_width"] / 2.0, v["body_height"] / 2.0, v["body_depth"] / 2.0
    xp = v["interpedicular"] / 2.0 + v["pedicle_width"] / 2.0  # pedicle centre, lateral
    # guess: posterior elements (mm, adult): laminae 8 thick, spinous process 7 x 16 x 30,
    # transverse processes 24 long, facet columns 8 wide; cortex 1-1.5 mm (thicker than the
    # 0.3-0.5 mm measured shell, standing in for the condensed trabeculae beneath it)
    for name, k in levels:
        y = k * pitch
        shell = 1.0
        outer = Cylinder(
            material="bone_cortical",
            start_mm=(0.0, y - hh, zc),
            end_mm=(0.0, y + hh, zc),
            radius_mm=hw,
            radius2_mm=hd,
            ref=(1.0, 0.0, 0.0),
            parent=body,
            label=name,
        )
        ob = add(outer)
        add(
            Cylinder(
                material="bone_cancellous",
                start_mm=(0.0, y - hh + shell * s, zc),
                end_mm=(0.0, y + hh - shell * s, zc),
                radius_mm=hw - shell * s,
                radius2_mm=hd - shell * s,
                ref=(1.0, 0.0, 0.0),
                parent=ob,
                label=name,
            )
        )
        for sx in (-1.0, 1.0):
            # pedicle: an elliptic cylinder along the beam from inside the body to the lamina,
            # seen end-on (the "eyes" of the AP view)
            add_shelled(
                Cylinder(
                    material="bone_cortical",
                    start_mm=(sx * xp, y + 5.0 * s, zc + 0.5 * hd),
                    end_mm=(sx * xp, y + 5.0 * s, z_ep),
                    radius_mm=v["pedicle_width"] / 2.0,
                    radius2_mm=v["pedicle_height"] / 2.0,
                    ref=(1.0, 0.0, 0.0),
                    cuts=(outer,),
                    parent=body,
                    label=name,
                ),
                1.5,
            )
            # transverse process from the pedicle laterally
            add_shelled(
                Cylinder(
                    material="bone_cortical",
                    start_mm=(sx * (xp + v["pedicle_width"] / 2.0), y + 3.0 * s, z_ep - 8.0 * s),
                    end_mm=(sx * (xp + 29.0 * s), y + 3.0 * s, z_ep - 8.0 * s),
                    radius_mm=5.0 * s,
                    radius2_mm=4.0 * s,
                    ref=(0.0, 1.0, 0.0),
                    parent=body,
                    label=name,
                ),
                1.2,
            )
            # facet columns: inferior articular process (medial) below the lamina, superior
            # articular process (lateral) above it; they meet the neighbours' at the facet joints
            for xf, y0, y1 in ((15.0, -10.0, -19.0), (19.0, 12.0, 19.0)):
                add_shelled(
                    Cylinder(
                        material="bone_cortical",
                        start_mm=(sx * xf * s, y + y0 * s, z_ep + 4.0 * s),
                        end_mm=(sx * xf * s, y + y1 * s, z_ep + 4.0 * s),
                        radius_mm=4.0 * s,
                        radius2_mm=4.0 * s,
                        parent=body,
                        label=name,
                    ),
                    1.2,
                )
        # laminae (one box across the midline) and the spinous process behind them
        add_shelled(
            Box(
                material="bone_cortical",
                center_mm=(0.0, y + 1.0 * s, z_ep + 4.0 * s),
                size_mm=(40.0 * s, 22.0 * s, 8.0 * s),
                parent=body,
                label=name,
            ),
            1.5,
        )
        add_shelled(
            Box(
                material="bone_cortical",
                center_mm=(0.0, y - 4.0 * s, z_ep + 23.0 * s),
                size_mm=(7.0 * s, 16.0 * s, 30.0 * s),
                parent=body,
                label=name,
            ),
            1.5,
        )
    key = {"s": s, "z_ep": z_ep, "zc": zc, "pitch": pitch, "a_out": a_out, "b_out": b_out}
    return tuple(shapes), key


def _lumbar(t_mm: float, progress: float, vol_ml: float, conc: float) -> Phantom:
    bones, k = _lumbar_anatomy(t_mm)
    shapes = list(bones)
    s, z_ep, zc = k["s"], k["z_ep"], k["zc"]
    body = 0
    # epidural contrast: a thin layer in the posterior epidural space, just in front of the
    # ligamentum flavum, spreading up and down from the L3-L4 interspace
    length, thick, _ = epidural_layer(vol_ml, s) if conc > 0 else (0.0, 0.0, 0.0)
    z_back = z_ep - 1.0 * s  # posterior surface of the layer
    if length > 0:
        shapes.append(
            Box(
                material=materials.contrast_material(conc, base="water"),
                center_mm=(0.0, 0.0, z_back - thick / 2.0),
                size_mm=(EPIDURAL_LAYER_WIDTH_MM * s, length, thick),
                parent=body,
                feature_mm=max(thick, 0.5),
                label="contrast",
            )
        )
    # 22 G spinal needle, right paramedian interlaminar approach at L3-L4: entry 10 mm off
    # the midline and below the interspace, aimed medially and 20 deg cranially (guess) into
    # the posterior epidural space just past the ligamentum flavum
    target = np.array([-2.0 * s, 2.0 * s, z_ep - 0.5 * s])
    d = _unit([0.17, 0.34, -0.92])  # entry -> target: medial (+x), cranial, anterior
    back = -d
    lam_skin = _line_exit(target, back, 0.0, k["b_out"], k["a_out"], k["b_out"])
    length_n = next(
        (L for L in SPINAL_NEEDLE_LENGTHS_MM if L >= lam_skin + 15.0), SPINAL_NEEDLE_LENGTHS_MM[-1]
    )
    lam_tip = (1.0 - progress) * lam_skin
    lam_tail = lam_tip + length_n

    def pt(lam: float) -> Vec:
        return _t(target + lam * back)

    for lo, hi, parent in ((max(lam_skin, lam_tip), lam_tail, None), (lam_tip, lam_skin, body)):
        if hi - lo > 1e-6:
            tube, lumen = needle_shapes(pt(hi), pt(lo), parent, len(shapes))
            shapes.extend((tube, lumen))
    canal = (0.0, 0.0, z_back - thick / 2.0 if length > 0 else z_ep - 2.0 * s)
    if length > 0:
        rois = (
            Roi("signal", canal, 0.5 * length, labels=("contrast",)),
            Roi(
                "background",
                canal,
                0.5 * length + 10.0 * s,
                exclude_labels=("contrast",),
                near_labels=("contrast",),
                near_mm=4.0 * s,
            ),
        )
    else:
        # bone (L3 body and its posterior elements) against the soft tissue of the L3-L4
        # disc space in the interlaminar window
        rois = (
            Roi("signal", (0.0, 0.5 * k["pitch"], zc), 8.0 * s),
            Roi("background", (0.0, 0.0, zc), 3.0 * s),
        )
    rois = rois + (Roi("needle_tip", pt(lam_tip), max(2.0 * s, 1.5)),)
    desc = (
        f"lumbar spine L2-L5 (prone, AP), AP thickness {t_mm * CM_PER_MM:g} cm, needle"
        f" {progress:.0%} of the way to the L3-L4 epidural space ({length_n:g} mm 22 G),"
        f" epidural contrast {vol_ml:g} ml at {conc:g} mg I/ml ({length:.0f} mm x"
        f" {thick:.1f} mm layer)"
    )
    return Phantom("lumbar_spine", tuple(shapes), rois, desc, static_shapes=len(bones))


# ---- swallow -----------------------------------------------------------------------------
NECK_REF_THICKNESS_MM = 120.0
"""Lateral neck width at and above which the neck anatomy has adult size [mm]. # guess"""

NECK_DEPTH_PER_THICKNESS = 130.0 / 120.0
"""Antero-posterior neck depth / lateral width. # guess: ~ 13 cm x 12 cm adult neck."""

OESOPHAGUS_RADIUS_MM = 8.0
"""Lumen radius of the oesophagus distended by a bolus [mm].

# guess: ~ 15-20 mm distended diameter on barium studies [R]; the empty, collapsed oesophagus
# is soft tissue like its surroundings and is not modelled."""

TRACHEA_RADIUS_MM = 9.0
"""Tracheal lumen radius [mm]: adult coronal diameter 13-25 mm (J. F. Breatnach et al.,
"Dimensions of the normal human trachea", AJR 142:903 (1984)) [R]."""

CERVICAL_VERTEBRA = {"depth": 16.0, "height": 14.0, "width": 22.0, "disc": 5.0}
"""Adult cervical (C5) body: AP depth, height, width and disc height [mm].

# guess: rounded typical values (body ~ 15-17 mm deep, 13-15 mm high, discs 4-6 mm) [R]."""

BOLUS_TOP_MM = 45.0
"""Cranial end of the barium column, above the central ray (hypopharynx) [mm]. # guess"""

BOLUS_TRAVEL_MM = 70.0
"""How far the bolus has moved down the oesophagus at ``needle_progress`` = 1 (swallow: the
progress knob is the bolus position) [mm]. # guess: from the hypopharynx to about the thoracic
inlet, within a 20 cm field."""


def swallow_column_mm(vol_ml: float, s: float = 1.0) -> float:
    """Length of the barium column of ``vol_ml`` in the distended lumen [mm].

    A cylinder of radius :data:`OESOPHAGUS_RADIUS_MM` (scaled by ``s``) holding the bolus.

    References
    ----------
    # guess: the bolus modelled as a column filling the lumen from the hypopharynx down.
    """
    r = OESOPHAGUS_RADIUS_MM * s
    return vol_ml * MM_PER_CM**3 / (math.pi * r * r)


@functools.lru_cache(maxsize=32)
def _neck_anatomy(t_mm: float):
    """Neck, trachea and cervical spine C3-C7 in a lateral view."""
    s = min(1.0, t_mm / NECK_REF_THICKNESS_MM)
    zc = t_mm / 2.0
    # image x = the patient's anterior (lateral projection: the beam crosses the neck from one
    # side to the other); the oesophagus lies on the central ray
    a_ap = NECK_DEPTH_PER_THICKNESS * t_mm / 2.0
    x_neck = -20.0 * s  # neck centre: the oesophagus is 2 cm anterior of it  # guess
    shapes = _ShapeList(scale=s)
    add, add_shelled = shapes.add, shapes.add_shelled

    body = add(
        Cylinder(
            material="soft_tissue",
            start_mm=(x_neck, -1000.0, zc),
            end_mm=(x_neck, 1000.0, zc),
            radius_mm=a_ap,
            radius2_mm=t_mm / 2.0,
            ref=(1.0, 0.0, 0.0),
            label="body",
        )
    )
    # airway (larynx and trachea) as one air column anterior to the oesophagus
    r_tr = TRACHEA_RADIUS_MM * s
    x_tr = OESOPHAGUS_RADIUS_MM * s + 3.0 * s + r_tr
    add(
        Cylinder(
            material="air",
            start_mm=(x_tr, -300.0, zc),
            end_mm=(x_tr, 300.0, zc),
            radius_mm=r_tr,
            parent=body,
            label="trachea",
        )
    )
    v = {k: val * s for k, val in CERVICAL_VERTEBRA.items()}
    pitch = v["height"] + v["disc"]
    x_body = -(OESOPHAGUS_RADIUS_MM * s + 3.0 * s + v["depth"] / 2.0)  # body centre
    x_post = x_body - v["depth"] / 2.0  # posterior wall of the body
    # guess: posterior elements: pillars 15 deep, laminae 8, spinous processes 18 (mm)
    for i, name in enumerate(("C3", "C4", "C5", "C6", "C7")):
        y = (2 - i) * pitch
        add_shelled(
            Box(
                material="bone_cortical",
                center_mm=(x_body, y, zc),
                size_mm=(v["depth"], v["height"], v["width"]),
                parent=body,
                label=name,
            ),
            1.0,
        )
        for sz in (-1.0, 1.0):  # articular pillars (lateral masses), both sides superimposed
            add_shelled(
                Box(
                    material="bone_cortical",
                    center_mm=(x_post - 7.5 * s, y, zc + sz * 20.0 * s),
                    size_mm=(15.0 * s, v["height"], 10.0 * s),
                    parent=body,
                    label=name,
                ),
                1.2,
            )
        add_shelled(
            Box(
                material="bone_cortical",
                center_mm=(x_post - 19.0 * s, y - 1.0 * s, zc),
                size_mm=(8.0 * s, 12.0 * s, 30.0 * s),
                parent=body,
                label=name,
            ),
            1.2,
        )
        add_shelled(
            Box(
                material="bone_cortical",
                center_mm=(x_post - 23.0 * s - (9.0 + 2.0 * i) * s, y - 2.0 * s, zc),
                size_mm=((18.0 + 4.0 * i) * s, 10.0 * s, 8.0 * s),
                parent=body,
                label=name,
            ),
            1.2,
        )
    key = {"s": s, "zc": zc, "x_tr": x_tr, "r_tr": r_tr, "x_body": x_body}
    return tuple(shapes), key


def _swallow(t_mm: float, prog: float, vol_ml: float) -> Phantom:
    anatomy, k = _neck_anatomy(t_mm)
    shapes = list(anatomy)
    s, zc = k["s"], k["zc"]
    r = OESOPHAGUS_RADIUS_MM * s
    length = swallow_column_mm(vol_ml, s)
    top = (BOLUS_TOP_MM - prog * BOLUS_TRAVEL_MM) * s
    if length > _ZERO_MM:  # a shorter column (a few nanolitres) is none at all
        shapes.append(
            Cylinder(
                material=materials.barium_material(),
                start_mm=(0.0, top, zc),
                end_mm=(0.0, top - length, zc),
                radius_mm=r,
                parent=0,
                feature_mm=2.0 * r,
                label="contrast",
            )
        )
        mid = (0.0, top - 0.5 * length, zc)
        rois = (
            Roi("signal", mid, max(0.5 * length, r), labels=("contrast",)),
            Roi(
                "background",
                mid,
                max(0.5 * length, r) + 10.0 * s,
                exclude_labels=("contrast", "trachea"),
                near_labels=("contrast",),
                near_mm=4.0 * s,
                fraction=0.5,
            ),
        )
    else:
        # air in the trachea against the prevertebral soft tissue
        rois = (
            Roi("signal", (k["x_tr"], 0.0, zc), 0.5 * k["r_tr"]),
            Roi("background", (0.0, 0.0, zc), 0.5 * r),
        )
    desc = (
        f"neck, lateral view, {t_mm * CM_PER_MM:g} cm across: cervical spine C3-C7, airway,"
        f" oesophagus holding {vol_ml:g} ml of barium ({materials.BARIUM_W_V_PERCENT:g} % w/v"
        f" BaSO4; a {length:.0f} mm column)"
    )
    return Phantom("swallow", tuple(shapes), rois, desc, static_shapes=len(anatomy))


__all__ = [
    "PHANTOMS",
    "VOID",
    "Box",
    "Cylinder",
    "Ellipsoid",
    "Needle",
    "Phantom",
    "Roi",
    "Shape",
    "Slab",
    "Sphere",
    "build_phantom",
    "clear_caches",
    "epidural_layer",
    "hip_contrast_layers",
    "make_phantom",
    "needle_shapes",
    "overlap_report",
    "path_lengths",
    "roi_masks",
    "shape_path",
    "shelled",
    "swallow_column_mm",
    "vessel_tree",
]
