"""Adult lumbar spine L1-S1 in the AP view of a lumbar epidural injection.

The patient lies PRONE with the source under the table: the anterior abdomen is the entrance
surface (``z = 0``) and the spine lies near the exit (posterior) surface, the posterior
epidural space :data:`LUMBAR_SKIN_TO_EPIDURAL_MM` below the posterior skin.

Body: an elliptic cylinder (AP ``thickness_cm``, width 1.4 x that) of soft tissue inside a
subcutaneous fat layer (:data:`LUMBAR_FAT_MM`), with the erector spinae muscles behind the
transverse processes, retroperitoneal fat lateral to the psoas muscles (whose margins, the
"psoas shadows", diverge caudally), the iliac wings from the L4-L5 level down, and gas in the
colon and small bowel in front of the spine (:data:`BOWEL_GAS_MM`).

Each vertebra L1-L5 (:data:`LUMBAR_LEVELS`, L3 = :data:`LUMBAR_VERTEBRA`): a body (elliptic
cylinder along the spine with rounded corners and a concave waist; 1 mm cortical shell and end
plates, cancellous core with a trabecular texture, :data:`CANCELLOUS_TEXTURE`), the pedicles
seen end-on as ovals (the "eyes" of the AP view: cortical ring, cancellous centre), transverse
processes, the laminae (an oval plate minus the arch of the interlaminar window below it), the
spinous process (a tilted ellipsoid seen end-on as a midline teardrop) and the articular
pillars: the superior articular process of each vertebra lies lateral to the inferior
articular process of the one above, with the facet joint space between them. Transverse and
articular processes are compact bone without a core (fewer shapes, faster). Intervertebral
discs (labelled ``"L3-L4"`` etc.) fill the disc spaces; S1 (body, alae, superior articular
processes) closes the column. The L3-L4 disc is on the central ray.

A 22 G spinal needle enters right paramedian, caudal to the interspace, and advances
(``needle_progress``) into the L3-L4 posterior epidural space; ``contrast_ml`` of iodinated
contrast spreads as a thin midline layer in the posterior epidural space
(:func:`epidural_layer`). Bodies thinner than 24 cm get the anatomy scaled down.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from sim import materials
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import (
    SPINAL_NEEDLE_LENGTHS_MM,
    Box,
    Cylinder,
    Ellipsoid,
    Shape,
    Vec,
    _line_exit,
    _ShapeList,
    _t,
    _unit,
    needle_shapes,
    rotation_y,
    shelled,
)
from sim.units import CM_PER_MM, MM_PER_CM

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

LUMBAR_FAT_MM = 12.0
"""Subcutaneous fat layer around the abdomen and back of an adult [mm]. # guess: 1-2 cm."""

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

LUMBAR_LEVELS = {
    # name: (centre [pitches above the L3-L4 disc], body width, interpediculate distance,
    #        pedicle width, transverse-process length beyond the pedicle) [mm]
    "L1": (2.5, 41.0, 22.0, 8.0, 16.0),
    "L2": (1.5, 43.0, 23.0, 9.0, 22.0),
    "L3": (0.5, 45.0, 24.0, 10.0, 28.0),
    "L4": (-0.5, 47.0, 25.0, 12.0, 24.0),
    "L5": (-1.5, 49.0, 27.0, 12.0, 20.0),
}
"""Level-to-level variation of the lumbar vertebrae [mm].

Body widths grow caudally by ~ 2 mm a level and pedicles widen from ~ 8 mm (L1) to 12-18 mm
(L5) (Panjabi et al. 1992), interpediculate distances widen from ~ 22 mm (L1) to ~ 27 mm (L5)
(Hinck et al. 1966) [R]: recalled and rounded (the L5 pedicle is kept at 12 mm, inside the
psoas). Transverse processes longest at L3: # guess."""

EPIDURAL_LAYER_WIDTH_MM = 15.0
"""Width of the epidural contrast layer in the posterior epidural space [mm]. # guess"""

EPIDURAL_LAYER_MM = (3.0, 5.0)
"""Thickness of the epidural contrast layer: while it spreads, and at most [mm]. # guess"""

EPIDURAL_MAX_SPREAD_MM = 160.0
"""Longest cranio-caudal spread of the epidural contrast (about four levels) [mm]. # guess"""

CANCELLOUS_TEXTURE = (0.25, 1.0)
"""Trabecular texture of the vertebral cancellous bone: amplitude [-], length [mm].

Trabecular spacing 0.5-1.5 mm (Müller et al., Bone 23:59 (1998)); # guess: amplitude set by
eye (see :func:`sim.phantoms.trace.texture_field`)."""

BOWEL_GAS_MM = (
    # centre x, y, depth from the anterior skin; semi-axes; rotation about the beam [deg]
    (-50.0, 78.0, 55.0, 30.0, 12.0, 7.0, 8.0),  # transverse colon, right half
    (38.0, 92.0, 50.0, 26.0, 10.0, 6.0, -12.0),  # transverse colon, left half
    (8.0, 58.0, 88.0, 12.0, 8.0, 5.0, 20.0),  # small-bowel loop over L2
    (62.0, 10.0, 72.0, 10.0, 24.0, 6.0, 0.0),  # descending colon (patient's left, +x)
    (-62.0, -25.0, 70.0, 14.0, 28.0, 8.0, 0.0),  # ascending colon
    (-52.0, -85.0, 60.0, 20.0, 16.0, 9.0, 0.0),  # caecum
    (-15.0, -72.0, 42.0, 11.0, 7.0, 5.0, 35.0),  # small bowel over L5
    (28.0, -52.0, 95.0, 9.0, 7.0, 5.0, -20.0),  # small bowel, left lower
    (-30.0, -30.0, 100.0, 7.0, 5.0, 4.0, 0.0),  # small bowel over L4, right
    (-22.0, 84.0, 75.0, 9.0, 7.0, 5.0, 0.0),  # haustra of the transverse colon ...
    (12.0, 96.0, 66.0, 8.0, 6.0, 5.0, 0.0),
    (66.0, -22.0, 80.0, 8.0, 7.0, 5.0, 0.0),  # ... and of the descending ...
    (-66.0, 14.0, 75.0, 8.0, 7.0, 5.0, 0.0),  # ... and ascending colon
)
"""Gas pockets in the colon and small bowel of the adult [mm, deg]. # guess: placed to look
like a supine/prone abdominal film (gas over the spine and in the colonic frame)."""


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


def _core(outer: Shape, shell_mm: float, index: int, texture: bool = False) -> Shape:
    """Cancellous core of a cortical ``outer`` (its index), its clip planes moved in by the
    shell too; with the trabecular texture if ``texture``."""
    core = shelled(outer, shell_mm, "bone_cancellous", index)
    planes = tuple((nx, ny, nz, d - shell_mm) for nx, ny, nz, d in outer.planes)
    amp, length = CANCELLOUS_TEXTURE if texture else (0.0, 1.5)
    return dataclasses.replace(core, planes=planes, texture=amp, texture_mm=length)


def _rotation_z(angle_deg: float) -> tuple[Vec, Vec, Vec]:
    """Local axes rotated by ``angle_deg`` about the beam (z) axis [deg]."""
    a = math.radians(angle_deg)
    c, sn = math.cos(a), math.sin(a)
    return ((c, sn, 0.0), (-sn, c, 0.0), (0.0, 0.0, 1.0))


def _rotation_x(angle_deg: float) -> tuple[Vec, Vec, Vec]:
    """Local axes rotated by ``angle_deg`` about the lateral (x) axis, y toward +z [deg]."""
    a = math.radians(angle_deg)
    c, sn = math.cos(a), math.sin(a)
    return ((1.0, 0.0, 0.0), (0.0, c, sn), (0.0, -sn, c))


@functools.lru_cache(maxsize=32)
def _lumbar_anatomy(t_mm: float):
    """Body and vertebrae L1-S1 (independent of needle and contrast), and key depths."""
    s = min(1.0, t_mm / LUMBAR_REF_THICKNESS_MM)
    v = {k: val * s for k, val in LUMBAR_VERTEBRA.items()}
    # prone patient: anterior abdomen on the table (z = 0), posterior skin at z = t
    z_ep = t_mm - (LUMBAR_SKIN_TO_EPIDURAL_MM * s + 0.5 * max(0.0, t_mm - LUMBAR_REF_THICKNESS_MM))
    z_canal_front = z_ep - v["canal_depth"]
    hd = v["body_depth"] / 2.0
    zc = z_canal_front - hd  # vertebral-body centre
    a_out, b_out = LUMBAR_WIDTH_PER_THICKNESS * t_mm / 2.0, t_mm / 2.0
    fat = LUMBAR_FAT_MM * s
    hh, disc = v["body_height"] / 2.0, v["disc"]
    pitch = 2.0 * hh + disc
    shapes = _ShapeList(scale=s)
    add = shapes.add

    def bone(outer: Shape, shell: float, texture: bool = False) -> int:
        i = add(outer)
        add(_core(outer, shell * s, i, texture))
        return i

    def y_axis_cyl(material, x, y0, y1, z, rx, rz, **kw) -> Cylinder:
        return Cylinder(
            material=material,
            start_mm=(x, y0, z),
            end_mm=(x, y1, z),
            radius_mm=rx,
            radius2_mm=rz,
            ref=(1.0, 0.0, 0.0),
            **kw,
        )

    fat_i = add(y_axis_cyl("adipose", 0.0, -1000.0, 1000.0, b_out, a_out, b_out, label="fat"))
    body = add(
        y_axis_cyl(
            "soft_tissue", 0.0, -1000.0, 1000.0, b_out, a_out - fat, b_out - fat,
            parent=fat_i, label="body",
        )
    )  # fmt: skip

    # ---- vertebral bodies and discs ----------------------------------------------------
    # guess: waist 4 mm deep (a 30 mm radius notch in each side, flaring to the end plates),
    # corners chamfered 5 mm; cortex and end plates 1 mm (thicker than the 0.3-0.5 mm
    # measured shell, standing in for the condensed trabeculae beneath it)
    shell, r_waist, waist, corner = 1.0 * s, 30.0 * s, 4.0 * s, 5.0 * s
    levels = [(name, k * pitch, w * s) for name, (k, w, *_rest) in LUMBAR_LEVELS.items()]
    levels.append(("S1", -2.5 * pitch, 50.0 * s))  # guess: S1 body 50 mm wide
    for i, (name, y0, width) in enumerate(levels):
        hw = width / 2.0

        # the concave waist: a wide cylinder along the beam (through source and receptor, the
        # cheapest chord) cut out of each side
        notches = tuple(
            Cylinder(
                material="bone_cortical",
                start_mm=(sx * (hw + r_waist - waist), y0, -1e4),
                end_mm=(sx * (hw + r_waist - waist), y0, 1e4),
                radius_mm=r_waist,
            )
            for sx in (-1.0, 1.0)
        )

        # rounded corners: the four corners of the AP outline chamfered (corner mm legs)
        planes = tuple(
            (sx, sy, 0.0, hw + hh - corner + sy * y0) for sx in (-1.0, 1.0) for sy in (-1.0, 1.0)
        )
        outer = y_axis_cyl(
            "bone_cortical", 0.0, y0 - hh, y0 + hh, zc, hw, hd,
            cuts=notches, planes=planes, parent=body, label=name,
        )  # fmt: skip
        oi = add(outer)
        # the cancellous core, textured: straight-sided inside the waist (the lateral cortex
        # thickens toward the end plates, as the condensed rims do)
        add(
            y_axis_cyl(
                "bone_cancellous", 0.0, y0 - hh + shell, y0 + hh - shell, zc,
                hw - waist - shell, hd - shell,
                planes=tuple((a, b, c, d - shell) for a, b, c, d in outer.planes),
                parent=oi, label=name, texture=CANCELLOUS_TEXTURE[0],
                texture_mm=CANCELLOUS_TEXTURE[1],
            )
        )  # fmt: skip
        if i + 1 < len(levels):  # the disc below
            below_hw = levels[i + 1][2] / 2.0
            add(
                y_axis_cyl(
                    "soft_tissue", 0.0, y0 - hh - disc, y0 - hh, zc, min(hw, below_hw) - 0.3 * s,
                    hd, parent=body, label=f"{name}-{levels[i + 1][0]}",
                )
            )  # fmt: skip

    # ---- posterior elements --------------------------------------------------------------
    # guess (adult, mm): laminae an oval plate 7 thick, 24 tall, minus the interlaminar
    # window (an arch 24 wide whose top is 8 mm below the lamina's centre line); spinous
    # process an ellipsoid 7 x 22 x 28 tilted 15 deg caudally; articular pillars 8 (superior)
    # and 6 (inferior) wide, 6 deep (compact bone standing in for cortex and core), facet
    # joint space 1.5 mm; transverse processes 12 tall, 5 deep; shells 1.5 mm
    z_lam = z_ep + 5.0 * s  # lamina centre; the ligamentum flavum (soft tissue) in front
    lam_t, pil_z, pil_rz = 7.0 * s, z_ep + 7.5 * s, 3.0 * s
    gap = 1.5 * s  # facet joint space
    geo = {}
    for name, (k, _w, ipd, pw, _tp) in LUMBAR_LEVELS.items():
        xp = (ipd + pw) / 2.0 * s
        geo[name] = (k * pitch, xp, pw * s)
    geo["S1"] = (-2.5 * pitch, geo["L5"][1] + 1.0 * s, 0.0)
    names = list(geo)
    for j, name in enumerate(names):
        y0, xp, pw = geo[name]
        lam_bottom, lam_top = y0 - 14.0 * s, y0 + 8.0 * s
        if name != "S1":
            # the laminae: a plate across the midline, minus the interlaminar window below it
            # (an ellipsoid: the arch, 8 mm below the top of the window at the midline)
            lw = xp + 1.0 * s

            def window(grow: float, y0=y0) -> Ellipsoid:
                return Ellipsoid(
                    material="bone_cortical",
                    center_mm=(0.0, y0 - 22.0 * s, z_lam),
                    semi_axes_mm=(12.0 * s + grow, 14.0 * s + grow, 2.0 * lam_t),
                )

            lam = Ellipsoid(
                material="bone_cortical",
                center_mm=(0.0, (lam_bottom + lam_top) / 2.0, z_lam),
                semi_axes_mm=(lw + 4.0 * s, (lam_top - lam_bottom) / 2.0 + 1.0 * s, lam_t / 2.0),
                cuts=(window(0.0),),
                parent=body,
                label=name,
            )
            li = add(lam)
            add(dataclasses.replace(_core(lam, 1.5 * s, li), cuts=(window(1.5 * s),)))
        for sx in (-1.0, 1.0):
            if name != "S1":
                tp_len = LUMBAR_LEVELS[name][4] * s
                # pedicle: an elliptic cylinder along the beam from the back of the body to
                # the lamina, seen end-on (the "eyes" of the AP view)
                bone(
                    Cylinder(
                        material="bone_cortical",
                        start_mm=(sx * xp, y0 + 4.0 * s, zc + hd),
                        end_mm=(sx * xp, y0 + 4.0 * s, z_lam - lam_t / 2.0),
                        radius_mm=pw / 2.0,
                        radius2_mm=v["pedicle_height"] / 2.0,
                        ref=(1.0, 0.0, 0.0),
                        parent=body,
                        label=name,
                    ),
                    1.5,
                )
                # transverse process: a tapering ellipsoid of compact bone from the pedicle
                # laterally (thin processes are mostly cortex: no core, to keep the phantom fast)
                add(
                    Ellipsoid(
                        material="bone_cortical",
                        center_mm=(sx * xp, y0 + 2.0 * s, z_ep - 3.5 * s),
                        semi_axes_mm=(tp_len + pw / 2.0, 6.0 * s, 2.5 * s),
                        planes=((-sx, 0.0, 0.0, -(xp + pw / 2.0)),),
                        parent=body,
                        label=name,
                    )
                )
                # inferior articular process, from the lamina down: medial to the superior
                # one of the level below, the facet joint space between them
                x_j = geo[names[j + 1]][1] - 1.0 * s  # facet joint with the level below
                add(
                    y_axis_cyl(
                        "bone_cortical", sx * (x_j - gap / 2.0 - 3.0 * s), y0 - 25.0 * s,
                        lam_bottom, pil_z, 3.0 * s, pil_rz, parent=body, label=name,
                    )
                )  # fmt: skip
            # superior articular process: lateral, rising from the lamina to the level above
            x_j = xp - 1.0 * s
            add(
                y_axis_cyl(
                    "bone_cortical", sx * (x_j + gap / 2.0 + 4.0 * s), lam_top,
                    y0 + 25.0 * s, pil_z, 4.0 * s, pil_rz, parent=body, label=name,
                )
            )  # fmt: skip
        if name != "S1":
            # spinous process behind the laminae, tilted caudally: a teardrop in the midline
            bone(
                Ellipsoid(
                    material="bone_cortical",
                    center_mm=(0.0, y0 - 7.0 * s, z_lam + lam_t / 2.0 + 13.0 * s),
                    semi_axes_mm=(3.5 * s, 11.0 * s, 14.0 * s),
                    axes=_rotation_x(-15.0),
                    planes=((0.0, 0.0, -1.0, -(z_lam + lam_t / 2.0)),),
                    parent=body,
                    label=name,
                ),
                1.5,
            )

    # ---- sacrum and pelvis ---------------------------------------------------------------
    # guess: sacral alae 44 x 32 x 18 mm beside S1; iliac wings plates 60 x 156 x 14 mm turned
    # 35 deg (anterolateral), the crests at the L4-L5 level (the intercristal line)
    y_s1 = geo["S1"][0]
    for sx in (-1.0, 1.0):
        ala = Ellipsoid(
            material="bone_cortical",
            center_mm=(sx * 39.0 * s, y_s1 - 6.0 * s, zc + 4.0 * s),
            semi_axes_mm=(22.0 * s, 16.0 * s, 9.0 * s),
            planes=((-sx, 0.0, 0.0, -25.0 * s),),  # from the side of the S1 body
            parent=body,
            label="S1",
        )
        bone(ala, 1.5)
        wing = Ellipsoid(
            material="bone_cortical",
            center_mm=(sx * 100.0 * s, -128.0 * s, zc + 8.0 * s),
            semi_axes_mm=(30.0 * s, 78.0 * s, 7.0 * s),
            axes=rotation_y(-sx * 35.0),
            parent=body,
            label="ilium",
        )
        bone(wing, 1.5)

    # ---- muscles -------------------------------------------------------------------------
    # erector spinae behind the transverse processes, lateral to the articular pillars
    z0m, z1m = z_ep + 2.0 * s, t_mm - fat - 8.0 * s
    muscles = []
    for sx in (-1.0, 1.0):
        muscles.append(
            add(
                y_axis_cyl(
                    "muscle", sx * 46.0 * s, -1000.0, 1000.0, (z0m + z1m) / 2.0, 19.0 * s,
                    (z1m - z0m) / 2.0, parent=body, label="erector spinae",
                )
            )
        )  # fmt: skip
    # the psoas shadows: retroperitoneal fat lateral to each psoas, whose lateral margin (a
    # plane) diverges caudally from ~35 mm off the midline at L1 to ~65 mm at L5; the psoas
    # itself is the soft tissue medial to it. The fat stops above the iliac crest.
    # guess: margin positions and fat 90 x 40 mm in section, by eye from AP abdominal films
    for sx in (-1.0, 1.0):
        add(
            y_axis_cyl(
                "adipose", sx * 62.0 * s, -1000.0, 1000.0, zc, 32.0 * s, 20.0 * s,
                planes=((-sx, -0.19, 0.0, -54.0 * s), (0.0, -1.0, 0.0, 48.0 * s)),
                parent=body, label="psoas fat",
            )
        )  # fmt: skip

    # ---- bowel gas -----------------------------------------------------------------------
    for x, y, z, a, b, c, ang in BOWEL_GAS_MM:
        add(
            Ellipsoid(
                material="air",
                center_mm=(x * s, y * s, z * s),
                semi_axes_mm=(a * s, b * s, c * s),
                axes=_rotation_z(ang),
                parent=body,
                label="bowel gas",
            )
        )

    key = {
        "s": s, "z_ep": z_ep, "zc": zc, "pitch": pitch, "a_out": a_out, "b_out": b_out,
        "fat_i": fat_i, "body": body, "muscles": tuple(muscles),
    }  # fmt: skip
    return tuple(shapes), key


def _needle_parents(shapes, containers, target, back, lam_lo, lam_hi):
    """Pieces (lo, hi, parent) of the needle line ``target + lam * back`` over [lam_lo, lam_hi]:
    split where it crosses a container (innermost first in ``containers``), exactly."""
    cuts = {lam_lo, lam_hi}
    o = tuple(float(c) for c in target)
    d = [np.array([c]) for c in back]
    for i in containers:
        t0, t1 = shapes[i]._clipped_interval(o, *d)
        for t in (float(t0[0]), float(t1[0])):
            if lam_lo < t < lam_hi:
                cuts.add(t)
    pts = sorted(cuts)
    pieces = []
    for lo, hi in zip(pts[:-1], pts[1:], strict=False):
        mid = np.asarray(target) + 0.5 * (lo + hi) * np.asarray(back)
        parent = next((i for i in containers if shapes[i].contains(mid[None, :])[0]), None)
        if pieces and pieces[-1][2] == parent:
            pieces[-1] = (pieces[-1][0], hi, parent)
        else:
            pieces.append((lo, hi, parent))
    return pieces


def _lumbar(t_mm: float, progress: float, vol_ml: float, conc: float) -> Phantom:
    bones, k = _lumbar_anatomy(t_mm)
    shapes = list(bones)
    s, z_ep, zc = k["s"], k["z_ep"], k["zc"]
    body = k["body"]
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

    containers = (*k["muscles"], body, k["fat_i"])  # innermost first
    for lo, hi, parent in _needle_parents(shapes, containers, target, back, lam_tip, lam_tail):
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
        f"lumbar spine L1-S1 (prone, AP), AP thickness {t_mm * CM_PER_MM:g} cm, needle"
        f" {progress:.0%} of the way to the L3-L4 epidural space ({length_n:g} mm 22 G),"
        f" epidural contrast {vol_ml:g} ml at {conc:g} mg I/ml ({length:.0f} mm x"
        f" {thick:.1f} mm layer)"
    )
    return Phantom("lumbar_spine", tuple(shapes), rois, desc, static_shapes=len(bones))


ENTRY = PhantomEntry(
    name="lumbar_spine",
    label="Lumbar spine (epidural injection)",
    build=_lumbar,
    needle=True,
    contrast="iodine",
    order=5,
)
