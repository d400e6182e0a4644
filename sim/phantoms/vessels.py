"""Chest in the AP view of cardiac fluoroscopy, with the left coronary tree in contrast.

A supine adult chest (``thickness_cm`` AP, the source below the table): subcutaneous fat
around the chest wall, eleven pairs of ribs, inflated lungs (``lung_inflated``) with their
hilar vessels, domed diaphragm (right dome higher, a gastric air bubble under the left), the
mediastinum with the heart (pericardial fat, myocardium, four blood-filled chambers, the right
atrium forming the right heart border), ascending and descending aorta, and the thoracic spine
(cortical shells, textured cancellous bodies, pedicles, laminae, spinous processes). The
field (central ray) is centred on the heart, so the spine lies in the image's left third.

The left coronary artery (:func:`vessel_tree`: left main, LAD down the anterior
interventricular groove to the apex with two diagonals, circumflex round the left
atrioventricular groove with two obtuse marginals) lies in the epicardial fat on the heart's
surface; ``contrast_ml`` of contrast fills it from the left main on (the rest holds blood), so
``contrast_ml = 0`` gives the DSA mask. Regions: ``signal`` on the proximal LAD, ``background``
an annulus of myocardium and epicardial fat beside it.

Dimensions are those of a standard adult at ``thickness_cm = 22`` [R] (textbook radiographic
anatomy: cardiothoracic ratio ~0.5, heart 12 x 8.5 x 6 cm (Gray 1918), thoracic vertebral
bodies ~35 mm wide and 22 mm high, right hemidiaphragm 1.5-2 cm above the left) and scale with
it below; a thicker patient gets more subcutaneous fat. Shapes and positions are otherwise
guesses made to look like a cardiac fluoroscopy image.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from sim import materials
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import Box, Cylinder, Ellipsoid, Shape, Vec, _ShapeList, _t, _unit
from sim.units import CM_PER_MM, MM_PER_CM

# ---- the chest (reference adult, 22 cm AP; x, y as in the package, z from the body centre) ---
CHEST_REF_THICKNESS_MM = 220.0
"""AP thickness of the reference chest; below it the anatomy scales down [mm]."""
CHEST_HALF_WIDTH_MM = 160.0
"""Half the lateral width of the reference chest (32 cm across) [mm]."""
CHEST_FAT_MM = 8.0
"""Subcutaneous fat of the reference chest; a thicker patient adds fat [mm] (guess)."""
CHEST_MIDLINE_X_MM = -30.0
"""Lateral position of the midline (spine): the central ray passes through the heart,
which lies ~3 cm left of the midline [mm]."""
LUNG_SEMI_MM = (130.0, 82.0)
"""Lateral and AP semi-axes of the thoracic cavity the lungs fill [mm] (guess)."""
LUNG_MEDIAL_MM = 21.0
"""Distance of the lungs' medial (mediastinal) surfaces from the midline [mm] (guess)."""
DOME_TOP_Y_MM = (-58.0, -76.0)
"""Height of the right and left diaphragm domes: the right one ~2 cm higher [mm]."""
HEART_CENTER_MM = (2.0, -12.0, 23.0)
"""Centre of the heart (x, y, z from the body centre) [mm]."""
HEART_AXIS = (0.7, -0.55, 0.45)
"""Long axis base -> apex: left, inferior and anterior [-]."""
HEART_SEMI_MM = (66.0, 40.0, 48.0)
"""Semi-axes of the myocardium along the long axis, the anterior and the left-superior
direction [mm] (heart ~12 x 8.5 x 6 cm, Gray 1918, plus the atria)."""
PERICARDIAL_FAT_MM = 10.0
"""Epicardial/pericardial fat around the myocardium, in which the coronaries run [mm]."""
CORONARY_DEPTH_MM = 5.0
"""Depth of the coronary centrelines in the epicardial fat (above the myocardium) [mm]."""

# ---- vessels -----------------------------------------------------------------------------
VESSEL_ROOT_RADIUS_MM = 3.0
"""Radius of the left main stem, the root of the coronary tree (6 mm diameter; a large
left main, published mean 4.5 +- 0.5 mm: Dodge et al., Circulation 86:232, 1992) [mm]."""
VESSEL_TAPER = 0.9
"""Radius kept at every node of a coronary path: each node gives off a small branch that is
not drawn (septal perforators, small marginals); at a drawn bifurcation the main branch keeps
this fraction and the side branch gets the rest by Murray's law [5] [-]."""

SIGNAL_SEGMENT = 2
"""Index in :func:`vessel_tree` of the segment the ``signal`` region sits on (the proximal
LAD, the second of its segments)."""

CORONARY_PATHS: tuple[tuple[str, str, int, tuple[tuple[float, float], ...]], ...] = (
    ("LM", "", 0, ((174.0, -60.0), (160.0, -12.0))),
    ("LAD", "LM", -1, ((160.0, -12.0), (147.0, 2.0), (131.0, 10.0), (114.0, 14.0),
                       (97.0, 17.0), (80.0, 19.0), (63.0, 21.0), (46.0, 23.0), (29.0, 27.0),
                       (13.0, 40.0))),
    ("LCx", "LM", -1, ((160.0, -12.0), (151.0, 22.0), (147.0, 52.0), (145.0, 82.0),
                       (143.0, 112.0), (141.0, 142.0), (138.0, 168.0))),
    ("D1", "LAD", 2, ((131.0, 10.0), (117.0, 31.0), (102.0, 48.0), (87.0, 61.0), (72.0, 71.0))),
    ("D2", "LAD", 5, ((80.0, 19.0), (66.0, 38.0), (52.0, 53.0), (38.0, 63.0))),
    ("OM1", "LCx", 2, ((147.0, 52.0), (129.0, 68.0), (111.0, 80.0), (93.0, 88.0),
                       (75.0, 94.0), (58.0, 98.0))),
    ("OM2", "LCx", 4, ((143.0, 112.0), (124.0, 119.0), (105.0, 124.0), (87.0, 127.0),
                       (70.0, 129.0))),
    ("D1b", "D1", 2, ((102.0, 48.0), (94.0, 36.0), (84.0, 30.0))),
    ("OM1b", "OM1", 2, ((111.0, 80.0), (100.0, 70.0), (88.0, 66.0))),
)  # fmt: skip
"""The left coronary tree: (name, parent, node of the parent it leaves at (-1: the parent's
end), nodes (theta, phi) [deg]) on the heart's surface: theta from the apex (0) to the base
(180), phi round the long axis from anterior (0) toward the left (90) and posterior (180)."""


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


class _Chest:
    """Scale and placement of the reference chest for a body thickness ``t_mm``."""

    def __init__(self, t_mm: float) -> None:
        self.t = t_mm
        self.s = min(1.0, t_mm / CHEST_REF_THICKNESS_MM)
        self.zc = t_mm / 2.0  # body centre depth [mm]
        self.xm = CHEST_MIDLINE_X_MM * self.s
        u = _unit(HEART_AXIS)
        v = _unit(np.array([0.0, 0.0, 1.0]) - u[2] * u)  # anterior, across the long axis
        w = np.cross(v, u)  # left-superior
        self.heart_axes = (_t(u), _t(v), _t(w))

    def p(self, x: float, y: float, z: float) -> Vec:
        """Reference position (z from the body centre) -> phantom coordinates [mm]."""
        return (self.s * x, self.s * y, self.zc + self.s * z)

    def heart_point(self, theta_deg: float, phi_deg: float, delta_mm: float) -> np.ndarray:
        """Point ``delta_mm`` (reference) outside the myocardium's ellipsoid at (theta, phi)."""
        u, v, w = (np.asarray(a) for a in self.heart_axes)
        a, b, c = (h + delta_mm for h in HEART_SEMI_MM)
        th, ph = math.radians(theta_deg), math.radians(phi_deg)
        q = (np.asarray(HEART_CENTER_MM) + a * math.cos(th) * u
             + math.sin(th) * (b * math.cos(ph) * v + c * math.sin(ph) * w))  # fmt: skip
        return np.asarray(self.p(*q))

    def heart(self, delta_mm: float = 0.0, **kw) -> Ellipsoid:
        """The myocardium's ellipsoid grown by ``delta_mm`` (reference) [mm]."""
        semi = tuple(self.s * (h + delta_mm) for h in HEART_SEMI_MM)
        return Ellipsoid(center_mm=self.p(*HEART_CENTER_MM), semi_axes_mm=semi,
                         axes=self.heart_axes, **kw)  # fmt: skip


def _murray_side(r: float) -> float:
    """Side-branch radius when the main branch keeps ``VESSEL_TAPER`` of ``r`` (Murray)."""
    return (r**3 - (VESSEL_TAPER * r) ** 3) ** (1.0 / 3.0)


@functools.lru_cache(maxsize=16)
def vessel_tree(t_mm: float) -> tuple[tuple[Vec, Vec, float, int], ...]:
    """Segments (start, end, radius [mm], generation) of the left coronary tree.

    The paths of :data:`CORONARY_PATHS` are polylines on the surface ``CORONARY_DEPTH_MM``
    outside the myocardium (in the epicardial fat, so a straight segment between two nodes
    stays clear of the muscle). The left main stem has ``VESSEL_ROOT_RADIUS_MM``; every node
    is a bifurcation: the path keeps ``VESSEL_TAPER`` of the radius and the side branch, drawn
    or not, gets the rest by Murray's law, r^3 = r_main^3 + r_side^3 [5]. The generation counts
    the nodes from the root (the order in which a bolus front reaches them). A branch that
    would touch an unrelated vessel is dropped with its subtree (vessels meet only at their
    bifurcations).

    References
    ----------
    C. D. Murray, "The physiological principle of minimum work. I. The vascular system and the
    cost of blood volume", PNAS 12:207-214 (1926). Coronary anatomy and lumen sizes: J. T. Dodge
    et al., "Lumen diameter of normal human coronary arteries", Circulation 86:232 (1992).
    """
    ch = _Chest(t_mm)
    out: list[tuple[Vec, Vec, float, int]] = []
    parents: list[int] = []
    starts: dict[str, tuple[float, int, int]] = {"LM": (VESSEL_ROOT_RADIUS_MM, 0, -1)}
    # (radius, generation, parent segment) where each path starts
    main_taken: set[str] = set()
    for name, _parent_name, _at, nodes in CORONARY_PATHS:
        if name not in starts:
            continue  # its parent was dropped
        r, gen, parent = starts[name]
        kids = [(n, a) for n, pn, a, _ in CORONARY_PATHS if pn == name]
        pts = [ch.heart_point(th, phi, CORONARY_DEPTH_MM) for th, phi in nodes]
        for i in range(len(nodes) - 1):
            p, q = pts[i], pts[i + 1]
            rs = r * ch.s
            # no contact with vessels other than the parent and its other children
            related = {parent} | {j for j, pa in enumerate(parents) if pa == parent}
            others = [j for j in range(len(out)) if j not in related]
            if others:
                dist = _segment_distance(
                    np.array([out[j][0] for j in others]), np.array([out[j][1] for j in others]),
                    np.repeat(p[None], len(others), 0), np.repeat(q[None], len(others), 0),
                )  # fmt: skip
                if np.any(dist < np.array([out[j][2] for j in others]) + rs + 0.5 * ch.s):
                    break  # dropped with the rest of the path and its later branches
            out.append((_t(p), _t(q), rs, gen))
            parents.append(parent)
            parent = len(out) - 1
            last = i + 1 == len(nodes) - 1
            node = -1 if last else i + 1
            for kid, a in kids:
                if a != node:
                    continue
                if last and name not in main_taken:  # the first path leaving the end
                    main_taken.add(name)
                    starts[kid] = (VESSEL_TAPER * r, gen + 1, parent)
                else:
                    starts[kid] = (_murray_side(r), gen + 1, parent)
            r, gen = VESSEL_TAPER * r, gen + 1
    return tuple(out)


RIB_TILT_DEG = 20.0
"""Slope of the rib hoops: each rib runs down ~7 cm from its posterior to its anterior
end [deg] (guess)."""
RIB_PITCH_MM = 26.0
"""Vertical spacing of the ribs [mm] (guess)."""
RIB_LEVELS = 8
"""Pairs of ribs drawn (those crossing a 30 cm field) [-]."""
RIB_SEGMENTS = 4
"""Straight bars per rib and side [-]."""
RIB_MATERIAL = "bone_cancellous"
"""A rib is mostly marrow in a 1-2 mm cortex: drawn as spongiosa throughout (guess)."""
VERTEBRA_PITCH_MM = 27.0
"""Thoracic vertebral body height 22 mm plus a 5 mm disc [mm]."""
SPINE_Z_MM = -48.0
"""Depth of the vertebral bodies' centres (from the body centre; posterior < 0) [mm]."""


def _spine(ch: _Chest, shapes: _ShapeList, wall: int) -> None:
    """Thoracic vertebrae: textured cancellous bodies in cortical shells, pedicles seen
    end-on, laminae and spinous processes sloping down behind the next level."""
    s, p, xm = ch.s, ch.p, CHEST_MIDLINE_X_MM
    zb = SPINE_Z_MM
    for k in range(-4, 5):
        y = k * VERTEBRA_PITCH_MM
        label = f"T{8 - k}"
        outer = Cylinder(material="bone_cortical", start_mm=p(xm, y - 11.0, zb),
                         end_mm=p(xm, y + 11.0, zb), radius_mm=17.0 * s, radius2_mm=14.0 * s,
                         ref=(1.0, 0.0, 0.0), parent=wall, label=label)  # fmt: skip
        ob = shapes.add(outer)
        shapes.add(
            Cylinder(
                material="bone_cancellous",
                start_mm=p(xm, y - 10.0, zb),
                end_mm=p(xm, y + 10.0, zb),
                radius_mm=16.0 * s,
                radius2_mm=13.0 * s,
                ref=(1.0, 0.0, 0.0),
                parent=ob,
                label=label,
                texture=0.3,
                texture_mm=0.9 * s,
            )  # fmt: skip
        )
        for sx in (-1.0, 1.0):
            shapes.add_shelled(
                Cylinder(
                    material="bone_cortical",
                    start_mm=p(xm + sx * 12.0, y + 4.0, zb + 5.0),
                    end_mm=p(xm + sx * 12.0, y + 4.0, zb - 23.5),
                    radius_mm=4.5 * s,
                    radius2_mm=6.5 * s,
                    ref=(1.0, 0.0, 0.0),
                    cuts=(outer,),
                    parent=wall,
                    label=label,
                ),  # fmt: skip
                1.2,
            )
        shapes.add(
            Box(
                material="bone_cortical",
                center_mm=p(xm, y, zb - 27.0),
                size_mm=(34.0 * s, 16.0 * s, 7.0 * s),
                parent=wall,
                label=label,
            )  # fmt: skip
        )  # laminae
        shapes.add(
            Cylinder(
                material="bone_cortical",
                start_mm=p(xm, y - 2.0, zb - 34.0),
                end_mm=p(xm, y - 26.0, zb - 46.0),
                radius_mm=3.5 * s,
                parent=wall,
                label=label,
            )  # fmt: skip
        )  # spinous process


def _ribs(ch: _Chest, shapes: _ShapeList, wall: int) -> None:
    """Ribs: polylines of short elliptic bars (10 mm high, 7 mm thick) round the lungs on
    tilted ellipses, each side from the transverse process (26 mm from the midline) to the
    costal cartilage (not calcified, not drawn), ~75 mm from the midline in front. Straight
    bars keep the chords exact and the shapes small (a whole hoop would be traced over the
    whole image)."""
    s = ch.s
    a = math.radians(RIB_TILT_DEG)
    n = np.array([0.0, math.cos(a), math.sin(a)])  # hoop axis: anterior ends lower
    e2 = np.array([0.0, -math.sin(a), math.cos(a)])  # in the hoop plane, anterior
    a_mid, b_mid = 141.0, 100.0  # centreline, outside the lungs by half a bar and the sag
    t0, t1 = math.asin(26.0 / a_mid), math.pi - math.asin(80.0 / a_mid)
    ts = np.linspace(t0, t1, RIB_SEGMENTS + 1)
    for k in range(RIB_LEVELS):
        c = np.array([CHEST_MIDLINE_X_MM, -100.0 + k * RIB_PITCH_MM, 0.0])
        for sx in (-1.0, 1.0):
            pts = [ch.p(*(c + sx * a_mid * math.sin(t) * np.array([1.0, 0.0, 0.0])
                          - b_mid * math.cos(t) * e2)) for t in ts]  # fmt: skip
            prev = None
            for i in range(RIB_SEGMENTS):
                bar = Cylinder(material=RIB_MATERIAL, start_mm=pts[i], end_mm=pts[i + 1],
                               radius_mm=5.0 * s, radius2_mm=3.5 * s, ref=_t(n),
                               cuts=(prev,) if prev else (), parent=wall, label="rib")  # fmt: skip
                shapes.add(bar)
                prev = Cylinder(material=RIB_MATERIAL, start_mm=pts[i], end_mm=pts[i + 1],
                                radius_mm=5.0 * s, radius2_mm=3.5 * s, ref=_t(n))  # fmt: skip


@functools.lru_cache(maxsize=32)
def _chest_anatomy(t_mm: float) -> tuple[tuple[Shape, ...], int]:
    """The chest without the coronaries, and the index of the pericardial fat they lie in."""
    ch = _Chest(t_mm)
    s, p, xm, zc = ch.s, ch.p, CHEST_MIDLINE_X_MM, ch.zc
    shapes = _ShapeList(scale=s)
    add = shapes.add
    extra = t_mm / 2.0 - CHEST_REF_THICKNESS_MM / 2.0 * s  # fat added above the reference
    a_body, b_body = CHEST_HALF_WIDTH_MM * s + extra, t_mm / 2.0
    fat = CHEST_FAT_MM * s + extra
    along_y = {"ref": (1.0, 0.0, 0.0)}
    body = add(Cylinder(material="adipose", start_mm=(ch.xm, -1000.0, zc),
                        end_mm=(ch.xm, 1000.0, zc), radius_mm=a_body, radius2_mm=b_body,
                        label="body", **along_y))  # fmt: skip
    wall = add(Cylinder(material="soft_tissue", start_mm=(ch.xm, -1000.0, zc),
                        end_mm=(ch.xm, 1000.0, zc), radius_mm=a_body - fat,
                        radius2_mm=b_body - fat, parent=body, label="chest wall",
                        **along_y))  # fmt: skip
    # heart: pericardial fat round the myocardium, four chambers of blood
    peri_shape = ch.heart(PERICARDIAL_FAT_MM, material="adipose", parent=wall, label="heart")
    peri = add(peri_shape)
    myo = add(ch.heart(0.0, material="muscle", parent=peri, label="heart"))
    u, v, w = (np.asarray(e) for e in ch.heart_axes)
    c = np.asarray(HEART_CENTER_MM)
    for (du, dv, dw), semi in (
        ((12.0, -6.0, 10.0), (38.0, 18.0, 22.0)),  # left ventricle
        ((8.0, 18.0, -14.0), (38.0, 10.0, 18.0)),  # right ventricle, in front
    ):
        add(Ellipsoid(material="blood", center_mm=p(*(c + du * u + dv * v + dw * w)),
                      semi_axes_mm=tuple(s * x for x in semi), axes=ch.heart_axes,
                      parent=myo, label="heart"))  # fmt: skip
    # ascending aorta (the right upper mediastinal border) and descending aorta (left of the
    # spine, seen through the heart)
    add(Cylinder(material="blood", start_mm=p(xm + 5.0, 5.0, 20.0),
                 end_mm=p(xm + 2.0, 220.0, 16.0), radius_mm=15.0 * s,
                 cuts=(peri_shape,), parent=wall, label="aorta"))  # fmt: skip
    add(Cylinder(material="blood", start_mm=p(xm + 9.0, -220.0, -12.0),
                 end_mm=p(xm + 8.0, 220.0, -16.0), radius_mm=11.0 * s,
                 cuts=(peri_shape,), parent=wall, label="aorta"))  # fmt: skip
    # lungs: the thoracic cavity either side of the mediastinum, above the diaphragm domes
    med = LUNG_MEDIAL_MM * s
    for sx, x_dome, y_top, semi_x in (
        (-1.0, xm - 70.0, DOME_TOP_Y_MM[0], 80.0),
        (1.0, xm + 72.0, DOME_TOP_Y_MM[1], 85.0),
    ):
        dome = Ellipsoid(material="soft_tissue", center_mm=p(x_dome, y_top - 90.0, 0.0),
                         semi_axes_mm=(semi_x * s, 90.0 * s, 100.0 * s))  # fmt: skip
        y0 = (y_top - 90.0) * s
        add(Cylinder(material="lung_inflated", start_mm=(ch.xm, y0, zc),
                     end_mm=(ch.xm, 260.0 * s, zc), radius_mm=LUNG_SEMI_MM[0] * s,
                     radius2_mm=LUNG_SEMI_MM[1] * s, cuts=(peri_shape, dome),
                     planes=((-sx, 0.0, 0.0, -sx * ch.xm - med),), parent=wall,
                     label="lung", **along_y))  # fmt: skip
    # gas in the stomach's fundus, under the left dome
    add(Ellipsoid(material="air", center_mm=p(xm + 80.0, DOME_TOP_Y_MM[1] - 38.0, 15.0),
                  semi_axes_mm=(28.0 * s, 14.0 * s, 22.0 * s), parent=wall,
                  label="stomach gas"))  # fmt: skip
    _ribs(ch, shapes, wall)
    _spine(ch, shapes, wall)
    return tuple(shapes), peri


def _vessels(t_mm: float, vol_ml: float, conc: float) -> Phantom:
    anatomy, peri = _chest_anatomy(t_mm)
    shapes: list[Shape] = list(anatomy)
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
                    parent=peri,
                    feature_mm=min(2 * r, 2.0),
                    label="vessel",
                )
            )
    # the proximal LAD (its second segment), over the left ventricle
    p0, q0, r0, _ = tree[SIGNAL_SEGMENT]
    mid = _t((np.asarray(p0) + np.asarray(q0)) / 2.0)
    rois = (
        Roi("signal", mid, 0.5 * r0),
        Roi("background", mid, 4.5 * r0, inner_mm=2.5 * r0, exclude_labels=("vessel",)),
    )
    desc = (
        f"{t_mm * CM_PER_MM:g} cm chest: lungs, heart, aorta, spine, ribs; left coronary tree"
        f" ({len(tree)} segments, {2 * VESSEL_ROOT_RADIUS_MM:g} mm left main),"
        f" {vol_ml:g} ml contrast at {conc:g} mg I/ml"
    )
    return Phantom("vessels", tuple(shapes), rois, desc, static_shapes=len(anatomy))


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _vessels(t_mm, contrast_ml, mg_i_per_ml)


ENTRY = PhantomEntry(
    name="vessels",
    label="Chest: heart and coronary arteries (cardiac)",
    build=build,
    contrast="iodine",
    order=3,
)
