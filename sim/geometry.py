"""Beam geometry: distances from the focal spot, magnification, collimated field, receptor grid.

Coordinates. The focal spot is a point at the origin; the central ray runs along +Z to the
receptor plane at ``Z = SID``. The patient lies on the table between source and receptor (the
C-arm source is under the table), its entrance surface at ``Z = source_skin_cm``. Receptor
coordinates ``(x, y)`` [mm] are measured in the receptor plane from the central ray: ``x`` to
the right of the displayed image, ``y`` up. The image is shown in the radiological convention
for an AP-type view (the patient faces the viewer): image right (``+x``) is the patient's left,
image up (``+y``) is cranial. Row 0 of an image array is its top (largest ``y``), column 0 its
left (smallest ``x``).

References
----------
.. [1] J. T. Bushberg, J. A. Seibert, E. M. Leidholdt, J. M. Boone, *The Essential Physics of
   Medical Imaging*, 3rd ed., Lippincott Williams & Wilkins, 2012: ch. 7 (magnification
   M = SID/SOD, geometric unsharpness of the focal spot) and ch. 9 (fluoroscopy geometry,
   magnification modes).
.. [2] IEC 60601-2-43:2010, 201.3.214 (patient entrance reference point, 15 cm from the
   isocentre toward the focal spot); 21 CFR 1020.32(k) (same reference location for C-arms).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from sim.params import MIN_AIR_GAP_CM, knob
from sim.units import MM_PER_CM
from sim.validate import check_number

IRP_FROM_ISO_CM = 15.0
"""Distance of the interventional reference point from the isocentre toward the source [cm].

IEC 60601-2-43 (patient entrance reference point); 21 CFR 1020.32(k)(4)(i) for C-arms."""

TABLE_LAYERS_MM = (("carbon_fibre", 5.0), ("foam", 40.0))
"""Table top and pad in the beam below the patient when ``geometry.table`` is on [mm].

# guess: a carbon-fibre sandwich table top lumped into 5 mm of carbon-fibre composite plus a
# 40 mm foam mattress. Order: from the source toward the patient (the pad touches the patient).
# Together they transmit about 0.82 of the air kerma at 80 kV (narrow beam), between the
# table-top aluminium-equivalence limit of 21 CFR 1020.30(n) (1.7 mm Al, transmission about
# 0.84 with the pad) and the 0.65-0.73 measured for a Siemens Axiom Artis table and pad
# (PySkinDose, S-indirect)."""

FIELD_SHAPES = ("square", "circle")

_MAX_GRID_PX = 8192


@dataclass(frozen=True)
class Geometry:
    """Distances and collimation of one projection (all distances from the focal spot).

    Parameters
    ----------
    sid_cm
        Source-to-image-receptor distance [cm].
    source_iso_cm
        Focal spot to isocentre [cm].
    source_skin_cm
        Focal spot to the patient's entrance surface [cm].
    patient_thickness_cm
        Patient (AP) thickness along the central ray [cm].
    field_cm
        Collimated field side (square) or diameter (circle) at the receptor plane [cm].
    field_shape
        ``"square"`` or ``"circle"``.
    fov_cm
        Receptor field of view: side of the simulated image at the receptor plane [cm].
    focal_spot_mm
        Nominal focal-spot size [mm].
    table
        Carbon-fibre table and pad in the beam, just before the entrance surface.

    References
    ----------
    Bushberg et al. (2012), chs. 7 and 9; IEC 60601-2-43:2010 (reference point).
    """

    sid_cm: float = 100.0
    source_iso_cm: float = 70.0
    source_skin_cm: float = 60.0
    patient_thickness_cm: float = 22.0
    field_cm: float = 20.0
    field_shape: str = "square"
    fov_cm: float = 30.0
    focal_spot_mm: float = 0.6
    table: bool = True

    def __post_init__(self) -> None:
        checks = (
            ("sid_cm", "geometry.sid_cm"),
            ("source_iso_cm", "geometry.source_iso_cm"),
            ("source_skin_cm", "geometry.source_skin_cm"),
            ("patient_thickness_cm", "patient.thickness_cm"),
            ("field_cm", "geometry.field_cm"),
            ("field_shape", "geometry.field_shape"),
            ("fov_cm", "geometry.fov_cm"),
            ("focal_spot_mm", "tube.focal_spot_mm"),
            ("table", "geometry.table"),
        )
        for attr, name in checks:
            object.__setattr__(self, attr, knob(name).check(getattr(self, attr)))
        if self.exit_cm > self.sid_cm - MIN_AIR_GAP_CM:
            raise ValueError(
                f"geometry.source_skin_cm + patient.thickness_cm = {self.exit_cm:g} cm must be at"
                f" most geometry.sid_cm - {MIN_AIR_GAP_CM:g} = {self.sid_cm - MIN_AIR_GAP_CM:g}"
                " cm (the patient must not touch the receptor)"
            )
        if self.source_iso_cm >= self.sid_cm:
            raise ValueError(
                f"geometry.source_iso_cm={self.source_iso_cm:g} must be below"
                f" geometry.sid_cm={self.sid_cm:g} cm"
            )

    # --- distances ---------------------------------------------------------------------
    @property
    def irp_cm(self) -> float:
        """Focal spot to the interventional reference point (isocentre - 15 cm) [cm].

        References
        ----------
        IEC 60601-2-43:2010, 201.3.214; 21 CFR 1020.32(k)(4)(i).
        """
        return self.source_iso_cm - IRP_FROM_ISO_CM

    @property
    def exit_cm(self) -> float:
        """Focal spot to the patient's exit surface [cm]."""
        return self.source_skin_cm + self.patient_thickness_cm

    @property
    def air_gap_cm(self) -> float:
        """Patient exit surface to the receptor plane [cm]."""
        return self.sid_cm - self.exit_cm

    @property
    def iso_magnification(self) -> float:
        """Magnification of an object at the isocentre (SID / source-isocentre distance)."""
        return self.sid_cm / self.source_iso_cm

    @property
    def fov_area_cm2(self) -> float:
        """Area of the receptor field of view (square of side ``fov_cm``) [cm^2]."""
        return self.fov_cm**2

    def _check_distance(self, distance_cm) -> np.ndarray:
        d = np.asarray(distance_cm, dtype=float)
        bad = ~np.isfinite(d) | (d <= 0.0) | (d > self.sid_cm)
        if np.any(bad):
            first = float(d[bad].flat[0]) if d.ndim else float(d)
            raise ValueError(
                f"distance_cm={first!r} is out of range (0, {self.sid_cm:g}] cm"
                " (between the focal spot and the receptor)"
            )
        return d

    def magnification(self, distance_cm):
        """Geometric magnification of an object at ``distance_cm`` from the focal spot.

        Parameters
        ----------
        distance_cm
            Source-to-object distance, in (0, SID] [cm]; float or array.

        Returns
        -------
        float or ndarray
            M = SID / SOD [-].

        References
        ----------
        Bushberg et al. (2012), sec. 7.6, eq. for magnification M = SID/SOD.
        """
        d = self._check_distance(distance_cm)
        m = self.sid_cm / d
        return float(m) if m.ndim == 0 else m

    def field_side_cm_at(self, distance_cm):
        """Collimated field side (or diameter, circle) at ``distance_cm`` [cm].

        The field is defined at the receptor and scales linearly with distance from the
        point source (similar triangles).

        References
        ----------
        Bushberg et al. (2012), ch. 7 (point-source projection geometry).
        """
        d = self._check_distance(distance_cm)
        s = self.field_cm * d / self.sid_cm
        return float(s) if s.ndim == 0 else s

    def field_area_cm2_at(self, distance_cm):
        """Collimated field area at ``distance_cm`` [cm^2] (square side^2 or circle pi D^2/4).

        Scales as (d / SID)^2, so that kerma (1/d^2) times area is the same at every distance:
        the kerma-area product does not depend on where it is measured.

        References
        ----------
        Bushberg et al. (2012), ch. 9 (kerma-area product); IEC 60580:2019 (KAP meters).
        """
        s = np.asarray(self.field_side_cm_at(distance_cm))
        area = s**2 if self.field_shape == "square" else math.pi / 4.0 * s**2
        return float(area) if area.ndim == 0 else area

    @property
    def field_area_cm2(self) -> float:
        """Collimated field area at the receptor plane [cm^2]."""
        return self.field_area_cm2_at(self.sid_cm)

    def focal_blur_mm(self, distance_cm):
        """Geometric (focal-spot) unsharpness at the receptor of an object at ``distance_cm``.

        U = f (M - 1) with f the focal-spot size and M = SID / SOD [mm]: zero for an object
        on the receptor, growing with magnification.

        References
        ----------
        Bushberg et al. (2012), sec. 7.6 (geometric blur, eq. B = f (M - 1)).
        """
        m = np.asarray(self.magnification(distance_cm))
        u = self.focal_spot_mm * (m - 1.0)
        return float(u) if u.ndim == 0 else u

    def focal_blur_object_mm(self, distance_cm):
        """Focal-spot unsharpness referred back to the object plane: f (M - 1) / M [mm].

        References
        ----------
        Bushberg et al. (2012), sec. 7.6.
        """
        m = np.asarray(self.magnification(distance_cm))
        u = self.focal_spot_mm * (m - 1.0) / m
        return float(u) if u.ndim == 0 else u

    def pixel_mm_at(self, pixel_mm: float, distance_cm):
        """Size at ``distance_cm`` of a receptor pixel of side ``pixel_mm`` (pixel / M) [mm]."""
        m = np.asarray(self.magnification(distance_cm))
        p = float(pixel_mm) / m
        return float(p) if p.ndim == 0 else p

    def table_layers_mm(self) -> dict[str, float]:
        """Materials and thicknesses [mm] of the table and pad in the beam (empty if no table)."""
        return dict(TABLE_LAYERS_MM) if self.table else {}


def geometry_from(params) -> Geometry:
    """The :class:`Geometry` of a :class:`sim.params.Params`.

    Cross-knob rules (``ValueError`` naming the knobs): the exit surface
    (``geometry.source_skin_cm + patient.thickness_cm``) must stay at least
    ``MIN_AIR_GAP_CM`` = 1 cm from the receptor, and the isocentre must lie before the receptor.
    """
    g, pt = params.geometry, params.patient
    return _geometry_cached(
        g.sid_cm,
        g.source_iso_cm,
        g.source_skin_cm,
        pt.thickness_cm,
        g.field_cm,
        g.field_shape,
        g.fov_cm,
        params.tube.focal_spot_mm,
        g.table,
    )


@functools.lru_cache(maxsize=256)
def _geometry_cached(*args) -> Geometry:
    return Geometry(*args)


@dataclass(frozen=True)
class DetectorGrid:
    """Square grid of simulated pixels at the receptor plane.

    Parameters
    ----------
    n_px
        Pixels along each side.
    fov_mm
        Side of the grid at the receptor plane [mm].
    """

    n_px: int
    fov_mm: float

    def __post_init__(self) -> None:
        n = self.n_px
        whole = isinstance(n, (int, np.integer)) and not isinstance(n, bool)
        if not whole or not 1 <= n <= _MAX_GRID_PX:
            raise ValueError(f"n_px={n!r} is out of range: a whole number in [1, {_MAX_GRID_PX}]")
        object.__setattr__(self, "n_px", int(n))
        object.__setattr__(self, "fov_mm", check_number("fov_mm", self.fov_mm, 1e-3, 1e4, "mm"))

    @property
    def pixel_mm(self) -> float:
        """Pixel side at the receptor plane [mm]."""
        return self.fov_mm / self.n_px

    @property
    def pixel_area_mm2(self) -> float:
        """Pixel area at the receptor plane [mm^2]."""
        return self.pixel_mm**2

    def coords_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates at the receptor plane [mm] (read-only float64 arrays).

        Returns
        -------
        x, y
            ``x[j]`` for column ``j`` (increasing to the right), ``y[i]`` for row ``i``
            (decreasing downward: row 0 is the top of the image).
        """
        return _coords(self)

    def index_of(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Fractional (row, column) of the receptor-plane point ``(x_mm, y_mm)`` [px]."""
        col = (x_mm + self.fov_mm / 2.0) / self.pixel_mm - 0.5
        row = (self.fov_mm / 2.0 - y_mm) / self.pixel_mm - 0.5
        return row, col


@functools.lru_cache(maxsize=32)
def _coords(grid: DetectorGrid) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(grid.n_px, dtype=float) + 0.5) * grid.pixel_mm - grid.fov_mm / 2.0
    x = c.copy()
    y = -c
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def detector_grid_from(params) -> DetectorGrid:
    """The simulation grid of a :class:`sim.params.Params`: ``run.image_px`` over ``fov_cm``."""
    return DetectorGrid(params.run.image_px, params.geometry.fov_cm * MM_PER_CM)


def field_mask(geometry: Geometry, grid: DetectorGrid) -> np.ndarray:
    """Collimated field on the receptor grid: 1 inside, 0 outside, area fraction at the edge.

    Square fields use the exact pixel-area overlap (separable in x and y); circular fields the
    signed distance of the pixel centre to the edge, clipped to one pixel (exact to first order
    in pixel/radius). The array is read-only float32 (n_px, n_px), cached.

    References
    ----------
    Bushberg et al. (2012), ch. 9 (collimation to the receptor).
    """
    return _field_mask(geometry.field_cm, geometry.field_shape, grid)


def support_box(inside: np.ndarray) -> tuple[slice, slice]:
    """The smallest rows x columns box holding every True pixel of ``inside`` (the first
    pixel when there is none)."""
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        return slice(0, 1), slice(0, 1)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


@functools.lru_cache(maxsize=32)
def _field_mask(field_cm: float, shape: str, grid: DetectorGrid) -> np.ndarray:
    x, y = grid.coords_mm()
    p = grid.pixel_mm
    half = field_cm * MM_PER_CM / 2.0
    if shape == "square":

        def overlap(c: np.ndarray) -> np.ndarray:
            lo = np.maximum(c - p / 2.0, -half)
            hi = np.minimum(c + p / 2.0, half)
            return np.clip(hi - lo, 0.0, p) / p

        mask = overlap(y)[:, None] * overlap(x)[None, :]
    else:
        r = np.hypot(x[None, :], y[:, None])
        mask = np.clip((half - r) / p + 0.5, 0.0, 1.0)
    out = mask.astype(np.float32)
    out.setflags(write=False)
    return out


def off_axis_fluence_map(geometry: Geometry, grid: DetectorGrid) -> np.ndarray:
    """Primary fluence per unit receptor area relative to the central ray: cos^3(theta).

    A point source emits isotropically (heel effect ignored); the fluence at a receptor-plane
    pixel at distance r = SID / cos(theta) falls as 1/r^2, and the oblique incidence spreads it
    over 1/cos(theta) more area, hence cos^3(theta). Read-only float32 (n_px, n_px), cached.

    References
    ----------
    H. H. Barrett, W. Swindell, *Radiological Imaging*, vol. 1, Academic Press, 1981,
    sec. 4.2 (point-source irradiance on a plane, cos^3 law).
    """
    return _cos3(geometry.sid_cm, grid)


@functools.lru_cache(maxsize=32)
def _cos3(sid_cm: float, grid: DetectorGrid) -> np.ndarray:
    x, y = grid.coords_mm()
    sid_mm = sid_cm * MM_PER_CM
    cos = sid_mm / np.sqrt(x[None, :] ** 2 + y[:, None] ** 2 + sid_mm**2)
    out = (cos**3).astype(np.float32)
    out.setflags(write=False)
    return out


def center_roi_mask(geometry: Geometry, grid: DetectorGrid, area_fraction: float = 0.1):
    """Central measuring field used by ABC: a centred square of ``area_fraction`` of the field.

    Parameters
    ----------
    area_fraction
        Fraction of the collimated field area (at the receptor) covered, in (0, 1].

    Returns
    -------
    ndarray of bool
        (n_px, n_px); at least the central pixel(s) are set.

    References
    ----------
    # guess: real ABC measuring fields are central circles or rectangles covering roughly
    # 10-30 % of the image (vendor-specific); 10 % follows the project brief.
    """
    f = check_number("area_fraction", area_fraction, 1e-6, 1.0, "")
    return _center_roi(geometry.field_cm, geometry.field_shape, geometry.fov_cm, grid, f)


@functools.lru_cache(maxsize=32)
def _center_roi(field_cm: float, shape: str, fov_cm: float, grid: DetectorGrid, f: float):
    area = field_cm**2 if shape == "square" else math.pi / 4.0 * field_cm**2
    side_mm = min(math.sqrt(f * area), fov_cm) * MM_PER_CM
    x, y = grid.coords_mm()
    half = max(side_mm / 2.0, grid.pixel_mm / 2.0)
    mx = np.abs(x) <= half
    my = np.abs(y) <= half
    mask = my[:, None] & mx[None, :]
    if not mask.any():
        c = grid.n_px // 2
        mask[c - 1 + grid.n_px % 2 : c + 1, c - 1 + grid.n_px % 2 : c + 1] = True
    mask.setflags(write=False)
    return mask


__all__ = [
    "FIELD_SHAPES",
    "IRP_FROM_ISO_CM",
    "TABLE_LAYERS_MM",
    "DetectorGrid",
    "Geometry",
    "center_roi_mask",
    "detector_grid_from",
    "field_mask",
    "geometry_from",
    "off_axis_fluence_map",
]
