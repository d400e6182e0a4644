"""Neck in the lateral view of a barium swallow.

Neck in the LATERAL view of a swallow study (image x = anterior, image up = cranial; the beam
crosses the neck from side to side, along ``z``): an elliptic cylinder ``thickness_cm`` across
and :data:`NECK_DEPTH_PER_THICKNESS` x that AP, of subcutaneous fat around muscle
(:data:`NECK_FAT_MM`). Inside it:

* the cervical spine C2-T1 on a lordotic curve (:data:`SPINE_CURVE`,
  :data:`CERVICAL_LEVELS`): vertebral bodies (ellipsoids clipped to flat end plates, so the
  anterior and posterior walls are rounded), each a cortical shell with end plates around a
  textured cancellous core; soft-tissue discs; the dens of C2 and the atlas (anterior arch,
  lateral masses, posterior arch); the articular pillars of both sides (superimposed
  parallelograms between facet joints sloping down and back); laminae, and spinous processes
  pointing posteriorly and down, C2 massive, C7 (vertebra prominens) and T1 long;
* the airway, an air column anterior to the spine: naso- and oropharynx in front of the
  prevertebral soft tissue, the laryngeal vestibule, the subglottic airway in the cricoid ring
  and the trachea, which bends back with the spine towards the thoracic inlet;
* the hyoid bone (body and greater horns), the thyroid cartilage laminae and the cricoid
  (partly calcified cartilage);
* the bolus: ``contrast_ml`` of barium sulfate suspension (:func:`sim.materials.barium_material`,
  60 % w/v) filling the lumen (:data:`OESOPHAGUS_RADIUS_MM`) as a column with a tapering tail
  and a rounded head, in the hypopharynx behind the larynx and in the cervical oesophagus
  between the trachea and the spine. ``needle_progress`` moves it down
  (:data:`BOLUS_TOP_MM`, :data:`BOLUS_TRAVEL_MM`).

``contrast_mg_i_per_ml`` does not apply. Necks narrower than :data:`NECK_REF_THICKNESS_MM` get
the anatomy scaled down.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from sim import materials
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import _ZERO_MM, Box, Cylinder, Ellipsoid, _ShapeList, _t, _unit
from sim.units import CM_PER_MM, MM_PER_CM

# ---- swallow -----------------------------------------------------------------------------
NECK_REF_THICKNESS_MM = 120.0
"""Lateral neck width at and above which the neck anatomy has adult size [mm]. # guess"""

NECK_DEPTH_PER_THICKNESS = 145.0 / 120.0
"""Antero-posterior neck depth / lateral width. # guess: ~ 14.5 cm x 12 cm adult neck near its
base (C6-T1), where the spinous processes of C7 and T1 lie 1-2 cm under the skin."""

NECK_CENTRE_MM = -26.0
"""AP position of the neck's axis (the oesophagus at C5 is at 0) [mm]. # guess: anterior skin
~ 15 mm in front of the trachea, posterior skin ~ 1.5 cm behind the C7 spinous process."""

NECK_FAT_MM = (6.0, 5.0)
"""Subcutaneous fat (with skin) of the neck, AP and lateral [mm]. # guess"""

OESOPHAGUS_RADIUS_MM = 8.0
"""Lumen radius of the oesophagus distended by a bolus [mm].

# guess: ~ 15-20 mm distended diameter on barium studies [R]; the empty, collapsed oesophagus
# is soft tissue like its surroundings and is not modelled."""

TRACHEA_RADIUS_MM = 9.0
"""Tracheal lumen radius [mm]: adult coronal diameter 13-25 mm (J. F. Breatnach et al.,
"Dimensions of the normal human trachea", AJR 142:903 (1984)) [R]."""

CERVICAL_LEVELS = (
    # name, body centre y, body height, AP depth, lateral width, spinous length, its angle
    # below the horizontal [mm, mm, mm, mm, mm, deg]
    ("C2", 63.5, 20.0, 16.0, 17.0, 20.0, 12.0),
    ("C3", 41.0, 14.0, 15.5, 16.5, 14.0, 20.0),
    ("C4", 21.5, 14.0, 15.5, 17.0, 15.0, 22.0),
    ("C5", 2.0, 14.0, 16.0, 18.0, 17.0, 25.0),
    ("C6", -17.5, 14.0, 16.5, 20.0, 22.0, 25.0),
    ("C7", -37.5, 15.0, 17.0, 22.0, 30.0, 25.0),
    ("T1", -58.5, 17.0, 18.0, 25.0, 28.0, 35.0),
)
"""Adult cervical vertebrae C2-T1: body height, depth and width, discs 5-5.5 mm [mm].

Bodies C3-C7 ~ 14-15 mm high and 15-17 mm deep, end plates 16-22 mm wide, growing caudally;
C2 body ~ 20 mm high under a dens ~ 15 mm high and ~ 10 mm thick; sagittal canal ~ 17 mm (M. M.
Panjabi et al., "Cervical human vertebrae: quantitative three-dimensional anatomy of the middle
and lower regions", Spine 16:861 (1991); values recalled and rounded) [R]. Spinous-process
lengths and angles, pillars (12 mm deep, 10 mm wide, facets sloping 45 deg), laminae and the
atlas are # guess: sized to look right on a lateral radiograph."""

SPINE_CURVE = {"x_c5": -20.0, "y_c5": 2.0, "slope": 0.12, "radius": 250.0, "y_top": 60.0}
"""Lordotic curve of the body centres: x = x_c5 + slope (y - y_c5) - (y - y_c5)^2 / (2 radius)
between C2 and T1 (straight beyond) [mm].

# guess: gives a C2-C7 lordosis of ~ 22 deg (normal adult range ~ 15-35 deg) with C2 ~ 1 cm
# anterior of C7, the body's front at C5 4 mm behind the oesophagus."""

PREVERTEBRAL_MM = 4.0
"""Soft tissue between the front of the bodies and the pharyngeal or oesophageal lumen [mm].

Adult retropharyngeal soft tissue <= 7 mm at C2, prevertebral <= 22 mm at C6 (including the
oesophagus): M. H. Wholey, A. J. Bruwer, H. L. Baker, "The lateral roentgenogram of the neck",
Radiology 71:350 (1958) [R]; the value here is # guess inside that range."""

PHARYNX_SEMI_MM = (8.0, 14.0)
"""Oropharyngeal air column, AP and lateral semi-axes [mm]. # guess: ~ 1.5 x 3 cm"""

VESTIBULE_SEMI_MM = (6.5, 8.0)
"""Laryngeal vestibule, AP and lateral semi-axes [mm]. # guess"""

BOLUS_HEAD_TAIL = (1.0, 1.6)
"""Length of the bolus's rounded head and tapering tail / lumen radius [-]. # guess: a
half-ellipsoidal head and tail; the tail is the lumen closing behind the bolus."""

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


BONE_TEXTURE = (0.3, 1.1)
"""Texture of cancellous bone: relative amplitude [-] and correlation length [mm]. # guess:
set by eye (trabecular spacing 0.5-1.5 mm, Müller et al. 1998, docs/references.md)."""

_SHELL_MM = 0.8  # cortical shell of the cervical bones [mm]  # guess
_END_PLATE_MM = 1.0  # end plates [mm]  # guess
_PATH_NODES_Y = (150.0, 60.0, 10.0, -30.0, -70.0, -110.0, -250.0)  # lumen and airway bends


def _spine_x(y: float, s: float) -> tuple[float, float]:
    """AP position [mm] of the vertebral body centres at height ``y`` [mm] and dx/dy [-]."""
    k = SPINE_CURVE
    y5, radius = k["y_c5"] * s, k["radius"] * s
    yc = min(max(y, -k["y_top"] * s), k["y_top"] * s)
    slope = k["slope"] - (yc - y5) / radius
    x = k["x_c5"] * s + k["slope"] * (yc - y5) - (yc - y5) ** 2 / (2.0 * radius)
    return x + slope * (y - yc), slope


class _Frame:
    """Local frame of a vertebra: X anterior, Y cranial (its axis), Z lateral (the beam)."""

    def __init__(self, centre, theta: float) -> None:
        c, sn = math.cos(theta), math.sin(theta)
        self.c = np.asarray(centre, dtype=float)
        self.e = np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])

    def v(self, x: float, y: float, z: float = 0.0) -> np.ndarray:
        return x * self.e[0] + y * self.e[1] + z * self.e[2]

    def p(self, x: float, y: float, z: float = 0.0):
        return _t(self.c + self.v(x, y, z))

    def plane(self, nx: float, ny: float, nz: float, d: float):
        """Local half-space n . P <= d as a world plane."""
        n = _unit(self.v(nx, ny, nz))
        return (*_t(n), float(d / np.linalg.norm(self.v(nx, ny, nz)) + n @ self.c))

    def axes(self, *local):
        return tuple(_t(_unit(self.v(*a))) for a in local)


def _inset(planes, t: float):
    return tuple((nx, ny, nz, d - t) for nx, ny, nz, d in planes)


def _add_bone(shapes: _ShapeList, outer, t_mm: float, texture: bool = True) -> int:
    """Append a cortical ``outer`` and its cancellous core (``t_mm`` inside, planes too)."""
    i = shapes.add(outer)
    a, w = BONE_TEXTURE if texture else (0.0, 1.5)
    common = {
        "material": "bone_cancellous",
        "parent": i,
        "planes": _inset(outer.planes, t_mm),
        "label": outer.label,
        "texture": a,
        "texture_mm": w,
    }
    if isinstance(outer, Ellipsoid):
        semi = tuple(x - t_mm for x in outer.semi_axes_mm)
        core = Ellipsoid(center_mm=outer.center_mm, semi_axes_mm=semi, axes=outer.axes, **common)
    elif isinstance(outer, Box):
        size = tuple(x - 2.0 * t_mm for x in outer.size_mm)
        core = Box(center_mm=outer.center_mm, size_mm=size, axes=outer.axes, **common)
    else:
        core = Cylinder(
            start_mm=outer.start_mm,
            end_mm=outer.end_mm,
            radius_mm=outer.radius_mm - t_mm,
            radius2_mm=outer.radius2_mm - t_mm,
            ref=outer.ref,
            **common,
        )
    shapes.add(core)
    return i


class _Polyline:
    """A path through 3-D points, top to bottom: arc length, and mitred tubes along it."""

    def __init__(self, points) -> None:
        self.p = np.asarray(points, dtype=float)
        seg = np.diff(self.p, axis=0)
        self.len = np.linalg.norm(seg, axis=1)
        self.t = seg / self.len[:, None]
        self.s = np.concatenate([[0.0], np.cumsum(self.len)])

    def at(self, s: float) -> tuple[np.ndarray, np.ndarray]:
        """Point at arc length ``s`` and the unit tangent there (pointing down the path)."""
        k = int(np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, len(self.len) - 1))
        return self.p[k] + (s - self.s[k]) * self.t[k], self.t[k]

    def s_at_y(self, y: float) -> float:
        """Arc length where the path is at height ``y`` (extrapolated past its ends)."""
        ys = self.p[:, 1]
        k = int(np.clip(np.searchsorted(-ys, -y) - 1, 0, len(self.len) - 1))
        return float(self.s[k] + (ys[k] - y) / (ys[k] - ys[k + 1]) * self.len[k])

    def x_at_y(self, y: float) -> float:
        return float(self.at(self.s_at_y(y))[0][0])

    def tube(self, s0: float, s1: float, r_mm: float, **kw) -> list[Cylinder]:
        """Cylinders of radius ``r_mm`` along the path from ``s0`` to ``s1``, mitred where the
        path bends (the cylinders meet on the bisecting planes: exact volume, no overlap)."""
        out = []
        last = len(self.len) - 1
        for k in range(last + 1):
            a = max(s0, self.s[k])
            b = s1 if k == last else min(s1, self.s[k + 1])
            if b - a <= 1e-9:
                continue
            pa = self.p[k] + (a - self.s[k]) * self.t[k]
            pb = self.p[k] + (b - self.s[k]) * self.t[k]
            planes = []
            if k > 0 and s0 < self.s[k] == a:
                n = _unit(self.t[k - 1] + self.t[k])
                planes.append((*_t(-n), -float(n @ self.p[k])))
                pa = pa - (r_mm + 1.0) * self.t[k]
            if k < last and s1 > self.s[k + 1] == b:
                n = _unit(self.t[k] + self.t[k + 1])
                planes.append((*_t(n), float(n @ self.p[k + 1])))
                pb = pb + (r_mm + 1.0) * self.t[k]
            out.append(
                Cylinder(start_mm=_t(pa), end_mm=_t(pb), radius_mm=r_mm, planes=tuple(planes), **kw)
            )
        return out


def _tangent_axes(t: np.ndarray):
    """Orthonormal rows (t, in-plane normal, z) for a path tangent t in the x-y plane."""
    return (_t(t), (float(t[1]), float(-t[0]), 0.0), (0.0, 0.0, 1.0))


def _vertebrae(shapes: _ShapeList, parent: int, s: float, zc: float) -> dict:
    """Cervical spine C2-T1 and the atlas; the frames of C2 (for the airway)."""
    levels = []
    for name, y, h, d, w, sp_len, sp_deg in CERVICAL_LEVELS:
        x, slope = _spine_x(y * s, s)
        f = _Frame((x, y * s, zc), math.atan(slope))
        levels.append((name, f, h * s, d * s, w * s, sp_len * s, sp_deg))
    n = len(levels)
    # disc and facet planes between neighbours share a normal (mean of the two axes)
    bottom, top, facet_lo, facet_hi = [None] * n, [None] * n, [None] * n, [None] * n
    gap = 2.0 * s  # facet joint space  # guess
    phi = math.radians(45.0)  # facet slope  # guess
    for i in range(n - 1):
        (_, fa, ha, da, *_), (_, fb, hb, db, *_) = levels[i], levels[i + 1]
        ey = _unit(fa.e[1] + fb.e[1])
        ex = _unit(fa.e[0] + fb.e[0])
        pa = fa.c - 0.5 * ha * fa.e[1]  # bottom of the upper body
        pb = fb.c + 0.5 * hb * fb.e[1]
        bottom[i] = (*_t(-ey), -float(ey @ pa))
        top[i + 1] = (*_t(ey), float(ey @ pb))
        nf = _unit(-math.sin(phi) * ex + math.cos(phi) * ey)  # facet normal: up and back
        ja = fa.c + fa.v(-(0.5 * da + 8.0 * s), 0.0)
        jb = fb.c + fb.v(-(0.5 * db + 8.0 * s), 0.0)
        j = float(nf @ (0.5 * (ja + jb)))
        facet_lo[i] = (*_t(-nf), -(j + 0.5 * gap))
        facet_hi[i + 1] = (*_t(nf), j - 0.5 * gap)
    out = {}
    for i, (name, f, h, d, w, sp_len, sp_deg) in enumerate(levels):
        top_i = top[i] if top[i] is not None else f.plane(0, 1, 0, 0.5 * h)
        bot_i = bottom[i] if bottom[i] is not None else f.plane(0, -1, 0, 0.5 * h)
        body = Ellipsoid(
            material="bone_cortical",
            center_mm=f.p(0, 0),
            semi_axes_mm=(0.5 * d, 0.9 * h, 0.5 * w),  # rounded walls, flat end plates
            axes=f.axes((1, 0, 0), (0, 1, 0), (0, 0, 1)),
            planes=(top_i, bot_i),
            parent=parent,
            label=name,
        )
        ib = shapes.add(body)
        core_planes = _inset(body.planes, _END_PLATE_MM * s)
        core = Ellipsoid(
            material="bone_cancellous",
            center_mm=body.center_mm,
            semi_axes_mm=tuple(a - _SHELL_MM * s for a in body.semi_axes_mm),
            axes=body.axes,
            planes=core_planes,
            parent=ib,
            label=name,
            texture=BONE_TEXTURE[0],
            texture_mm=BONE_TEXTURE[1],
        )
        shapes.add(core)
        # articular pillars of both sides, between sloping facet joints
        x_p = -(0.5 * d + 8.0 * s)
        up = facet_hi[i] if facet_hi[i] is not None else f.plane(0, 1, 0, 0.5 * h)
        lo = facet_lo[i] if facet_lo[i] is not None else f.plane(0, -1, 0, 0.5 * h)
        for sz in (-1.0, 1.0):
            pillar = Box(
                material="bone_cortical",
                center_mm=f.p(x_p, 0.0, sz * 22.0 * s),
                size_mm=(12.0 * s, 38.0 * s, 12.0 * s),  # the facets cut it to ~ 20 mm
                axes=body.axes,
                planes=(up, lo),
                parent=parent,
                label=name,
            )
            _add_bone(shapes, pillar, _SHELL_MM * s, texture=False)
        # laminae (oblique plates meeting in the midline) and the spinous process
        x_sl = -(0.5 * d + 17.0 * s)  # spinolaminar line: canal 17 mm deep
        x_sp = x_sl - 1.5 * s
        ax, az = x_sl - (-(0.5 * d + 11.0 * s)), -16.0 * s  # lamina direction (X, Z)
        for sz in (-1.0, 1.0):
            a1 = (ax, 0.0, sz * az)
            a3 = (-sz * az, 0.0, ax)
            shapes.add(
                Box(
                    material="bone_cortical",
                    center_mm=f.p(-(0.5 * d + 11.0 * s) + 0.5 * ax, -1.0 * s, sz * 8.0 * s),
                    size_mm=(math.hypot(ax, az) + 8.0 * s, 10.0 * s, 3.5 * s),
                    axes=f.axes(a1, (0, 1, 0), a3),
                    planes=(
                        f.plane(0, 0, -sz, -0.25 * s),
                        f.plane(0, 0, sz, 15.7 * s),
                        f.plane(-1, 0, 0, -x_sp),
                    ),
                    parent=parent,
                    label=name,
                )
            )
        beta = math.radians(sp_deg) + math.atan(-f.e[0][1] / f.e[0][0])  # + the frame's tilt
        ca, sa = math.cos(beta), math.sin(beta)
        hs = (7.0 if name == "C2" else 5.0 if name in ("C7", "T1") else 4.0) * s
        spinous = Ellipsoid(
            material="bone_cortical",
            # the centre near the base: a broad root on the laminae, a tapering tip
            center_mm=f.p(x_sp - 0.35 * sp_len * ca, -1.0 * s - 0.35 * sp_len * sa),
            semi_axes_mm=(0.65 * sp_len + 2.5 * s, hs, 4.5 * s),
            axes=f.axes((-ca, -sa, 0), (-sa, ca, 0), (0, 0, 1)),
            planes=(f.plane(1, 0, 0, x_sp),),
            parent=parent,
            label=name,
        )
        shapes.add(spinous)  # thin: cortical through and through  # guess
        out[name] = (f, h, d)
    # C2: the dens on the body; the atlas around it
    f, h, d = out["C2"]
    dens = Ellipsoid(
        material="bone_cortical",
        center_mm=f.p(1.0 * s, 0.5 * h + 6.0 * s),
        semi_axes_mm=(5.0 * s, 10.0 * s, 5.0 * s),
        axes=f.axes((1, 0, 0), (0, 1, 0), (0, 0, 1)),
        planes=(f.plane(0, -1, 0, -(0.5 * h + 0.5 * s)),),
        parent=parent,
        label="C2",
    )
    _add_bone(shapes, dens, _SHELL_MM * s)
    y_c1 = 0.5 * h + 9.0 * s
    x_arch = 1.0 * s + 5.0 * s + 2.0 * s + 3.0 * s  # dens front + atlanto-dental 2 mm + 3
    arch = Ellipsoid(
        material="bone_cortical",
        center_mm=f.p(x_arch, y_c1),
        semi_axes_mm=(3.0 * s, 5.5 * s, 9.0 * s),
        axes=f.axes((1, 0, 0), (0, 1, 0), (0, 0, 1)),
        parent=parent,
        label="C1",
    )
    _add_bone(shapes, arch, _SHELL_MM * s, texture=False)
    for sz in (-1.0, 1.0):
        mass = Box(
            material="bone_cortical",
            center_mm=f.p(-4.0 * s, y_c1 + 1.0 * s, sz * 20.0 * s),
            size_mm=(16.0 * s, 16.0 * s, 10.0 * s),
            axes=f.axes((1, 0, 0), (0, 1, 0), (0, 0, 1)),
            parent=parent,
            label="C1",
        )
        _add_bone(shapes, mass, _SHELL_MM * s, texture=False)
    post = Ellipsoid(
        material="bone_cortical",
        center_mm=f.p(-(0.5 * d + 20.0 * s), y_c1 + 2.0 * s),
        semi_axes_mm=(9.0 * s, 4.5 * s, 9.0 * s),
        axes=f.axes((1, 0, 0), (0, 1, 0), (0, 0, 1)),
        parent=parent,
        label="C1",
    )
    _add_bone(shapes, post, _SHELL_MM * s, texture=False)
    return {"C1_front": f.c + f.v(x_arch + 3.0 * s, y_c1)}


@functools.lru_cache(maxsize=32)
def _neck_anatomy(t_mm: float):
    """Neck, airway, larynx and cervical spine C2-T1 in a lateral view; and where the lumen
    runs."""
    s = min(1.0, t_mm / NECK_REF_THICKNESS_MM)
    zc = t_mm / 2.0
    a_ap = NECK_DEPTH_PER_THICKNESS * t_mm / 2.0
    x_neck = NECK_CENTRE_MM * s
    shapes = _ShapeList(scale=s)
    add = shapes.add

    def neck(material, da, dz, parent, label):
        return add(
            Cylinder(
                material=material,
                start_mm=(x_neck, -1000.0, zc),
                end_mm=(x_neck, 1000.0, zc),
                radius_mm=a_ap - da,
                radius2_mm=t_mm / 2.0 - dz,
                ref=(1.0, 0.0, 0.0),
                parent=parent,
                label=label,
            )
        )

    fat = neck("adipose", 0.0, 0.0, None, "body")
    body = neck("muscle", NECK_FAT_MM[0] * s, NECK_FAT_MM[1] * s, fat, "muscle")
    c1 = _vertebrae(shapes, body, s, zc)

    # the lumen (hypopharynx and oesophagus) on the prevertebral soft tissue, and the trachea
    r = OESOPHAGUS_RADIUS_MM * s
    r_tr = TRACHEA_RADIUS_MM * s
    lumen_off = 8.0 * s + PREVERTEBRAL_MM * s + r
    nodes = [(_spine_x(y * s, s)[0] + lumen_off, y * s, zc) for y in _PATH_NODES_Y]
    lumen = _Polyline(nodes)
    tr_off = r + 4.0 * s + r_tr  # guess: 4 mm between the lumen and the tracheal air
    trachea = _Polyline([(x + tr_off, y, z) for x, y, z in nodes])

    # naso- and oropharynx: air in front of the prevertebral soft tissue and the atlas
    a_ph, b_ph = (v * s for v in PHARYNX_SEMI_MM)
    y_ph = 48.0 * s  # its floor: the laryngeal inlet, above the bolus's start
    p0 = np.array([lumen.x_at_y(y_ph - 8.0 * s) + a_ph - r + 1.0 * s, y_ph - 8.0 * s, zc])
    p1 = np.array([c1["C1_front"][0] + PREVERTEBRAL_MM * s + a_ph, c1["C1_front"][1], zc])
    p1 = p0 + 2.5 * (p1 - p0)
    add(
        Cylinder(
            material="air",
            start_mm=_t(p0),
            end_mm=_t(p1),
            radius_mm=a_ph,
            radius2_mm=b_ph,
            ref=(1.0, 0.0, 0.0),
            planes=((0.0, -1.0, 0.0, -y_ph),),
            parent=body,
            label="pharynx",
        )
    )
    # laryngeal vestibule: from the inlet down to the glottis, in front of the hypopharynx
    a_v, b_v = (v * s for v in VESTIBULE_SEMI_MM)
    y_gl = 5.0 * s
    v0 = np.array([lumen.x_at_y(y_ph) + r + 2.0 * s + a_v + 1.5 * s, y_ph, zc])
    v1 = np.array([trachea.x_at_y(y_gl), y_gl, zc])
    dv = _unit(v1 - v0)
    add(
        Cylinder(
            material="air",
            start_mm=_t(v0 - 10.0 * s * dv),
            end_mm=_t(v1 + 10.0 * s * dv),
            radius_mm=a_v,
            radius2_mm=b_v,
            ref=(1.0, 0.0, 0.0),
            planes=((0.0, 1.0, 0.0, y_ph), (0.0, -1.0, 0.0, -y_gl)),
            parent=body,
            label="larynx",
        )
    )
    # subglottic airway in the cricoid ring (signet ring: the lamina high at the back)
    sm = trachea.s_at_y(-10.5 * s)
    pm, tt = trachea.at(sm)
    ncr = _unit((13.0, 23.0, 0.0))  # the cricoid's top slopes down anteriorly
    cr_plane = (*_t(ncr), float(ncr @ pm))
    add(
        Cylinder(
            material="air",
            start_mm=_t(pm - 25.0 * s * tt),
            end_mm=_t(pm + 12.0 * s * tt),
            radius_mm=r_tr,
            planes=((0.0, 1.0, 0.0, y_gl), (*_t(-ncr), -float(ncr @ pm))),
            parent=body,
            label="larynx",
        )
    )
    cricoid = add(
        Cylinder(
            material="bone_cancellous",
            start_mm=_t(pm - 15.0 * s * tt),
            end_mm=_t(pm + 13.5 * s * tt),
            radius_mm=r_tr + 2.5 * s,
            planes=(cr_plane,),
            parent=body,
            label="cricoid",
        )
    )
    add(
        Cylinder(
            material="air",
            start_mm=_t(pm - 15.0 * s * tt),
            end_mm=_t(pm + 13.5 * s * tt),
            radius_mm=r_tr,
            planes=(cr_plane,),
            parent=cricoid,
            label="trachea",
        )
    )
    for cyl in trachea.tube(sm + 13.5 * s, trachea.s[-1], r_tr, material="air", parent=body,
                            label="trachea"):  # fmt: skip
        add(cyl)

    # thyroid cartilage laminae: a V open backwards, partly calcified  # guess
    y_th = 14.0 * s
    x_apex = trachea.x_at_y(y_th) + 14.0 * s
    half = math.radians(45.0)
    lam_len = 34.0 * s
    for sz in (-1.0, 1.0):
        a1 = np.array([-math.cos(half), 0.0, sz * math.sin(half)])
        a3 = np.cross(a1, (0.0, 1.0, 0.0))
        c = np.array([x_apex, y_th, zc]) + 0.5 * lam_len * a1 + 0.75 * s * np.sign(a3[0]) * a3
        add(
            Box(
                material="bone_cancellous",
                center_mm=_t(c),
                size_mm=(lam_len, 26.0 * s, 1.5 * s),
                axes=(_t(a1), (0.0, 1.0, 0.0), _t(_unit(a3))),
                planes=((0.0, 0.0, -sz, -sz * zc),),
                parent=body,
                label="thyroid",
            )
        )
    # hyoid: body (a bar across the midline) and greater horns running back and up
    y_hy = 42.0 * s
    x_hy = lumen.x_at_y(y_hy) + 30.0 * s
    hyoid = Cylinder(
        material="bone_cortical",
        start_mm=(x_hy, y_hy, zc - 12.0 * s),
        end_mm=(x_hy, y_hy, zc + 12.0 * s),
        radius_mm=3.5 * s,
        radius2_mm=5.0 * s,
        ref=(1.0, 0.0, 0.0),
        parent=body,
        label="hyoid",
    )
    _add_bone(shapes, hyoid, _SHELL_MM * s, texture=False)
    for sz in (-1.0, 1.0):
        add(
            Cylinder(
                material="bone_cortical",
                start_mm=(x_hy - 2.0 * s, y_hy, zc + sz * 12.6 * s),
                end_mm=(lumen.x_at_y(y_hy) + 11.0 * s, y_hy + 9.0 * s, zc + sz * 19.0 * s),
                radius_mm=1.6 * s,
                planes=((0.0, 0.0, -sz, -sz * (zc + sz * 12.1 * s)),),
                parent=body,
                label="hyoid",
            )
        )
    key = {"s": s, "zc": zc, "lumen": lumen, "trachea": trachea, "r_tr": r_tr, "body": body}
    return tuple(shapes), key


def _swallow(t_mm: float, prog: float, vol_ml: float) -> Phantom:
    anatomy, k = _neck_anatomy(t_mm)
    shapes = list(anatomy)
    s, zc = k["s"], k["zc"]
    r = OESOPHAGUS_RADIUS_MM * s
    lumen = k["lumen"]
    length = swallow_column_mm(vol_ml, s)
    top = (BOLUS_TOP_MM - prog * BOLUS_TRAVEL_MM) * s
    air = ("contrast", "pharynx", "larynx", "trachea")
    if length > _ZERO_MM:  # a shorter column (a few nanolitres) is none at all
        # the column of the same volume: tail and head half-ellipsoids (2/3 of their length
        # count) around a mitred cylinder along the lumen; its cranial end (the tail's tip)
        # at ``top``
        barium = materials.barium_material()
        h_head = min(BOLUS_HEAD_TAIL[0] * r, 0.35 * length)
        h_tail = min(BOLUS_HEAD_TAIL[1] * r, 0.35 * length)
        s0 = lumen.s_at_y(top) + h_tail
        s1 = s0 + length - 2.0 / 3.0 * (h_head + h_tail)
        common = {"material": barium, "parent": k["body"], "label": "contrast"}
        a, ta = lumen.at(s0)
        shapes.append(
            Ellipsoid(
                center_mm=_t(a),
                semi_axes_mm=(h_tail, r, r),
                axes=_tangent_axes(ta),
                planes=((*_t(ta), float(ta @ a)),),
                **common,
            )
        )
        shapes.extend(lumen.tube(s0, s1, r, **common))
        b, tb = lumen.at(s1)
        shapes.append(
            Ellipsoid(
                center_mm=_t(b),
                semi_axes_mm=(h_head, r, r),
                axes=_tangent_axes(tb),
                planes=((*_t(-tb), -float(tb @ b)),),
                **common,
            )
        )
        mid = _t(lumen.at(0.5 * (s0 + s1))[0])
        rois = (
            Roi("signal", mid, max(0.5 * length, r), labels=("contrast",)),
            Roi(
                "background",
                mid,
                max(0.5 * length, r) + 10.0 * s,
                exclude_labels=air,
                near_labels=("contrast",),
                near_mm=4.0 * s,
                fraction=0.5,
            ),
        )
    else:
        # air in the trachea against the prevertebral soft tissue and the empty oesophagus
        y = -25.0 * s
        rois = (
            Roi("signal", (k["trachea"].x_at_y(y), y, zc), 0.5 * k["r_tr"]),
            Roi("background", (lumen.x_at_y(y), y, zc), 0.5 * r),
        )
    desc = (
        f"neck, lateral view, {t_mm * CM_PER_MM:g} cm across: cervical spine C2-T1, airway,"
        " hyoid, larynx,"
        f" oesophagus holding {vol_ml:g} ml of barium ({materials.BARIUM_W_V_PERCENT:g} % w/v"
        f" BaSO4; a {length:.0f} mm column)"
    )
    return Phantom("swallow", tuple(shapes), rois, desc, static_shapes=len(anatomy))


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _swallow(t_mm, progress, contrast_ml)


ENTRY = PhantomEntry(
    name="swallow",
    label="Lateral neck (barium swallow)",
    build=build,
    contrast="barium",
    order=6,
)
