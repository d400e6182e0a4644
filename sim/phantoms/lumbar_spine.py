"""Adult lumbar spine L2-L5 in the AP view of a lumbar epidural injection.

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
"""

from __future__ import annotations

import functools

import numpy as np

from sim import materials
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import (
    SPINAL_NEEDLE_LENGTHS_MM,
    Box,
    Cylinder,
    Vec,
    _line_exit,
    _ShapeList,
    _t,
    _unit,
    needle_shapes,
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


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _lumbar(t_mm, progress, contrast_ml, mg_i_per_ml)


ENTRY = PhantomEntry(
    name="lumbar_spine",
    label="Lumbar spine (epidural injection)",
    build=build,
    needle=True,
    contrast="iodine",
    order=5,
    source=__name__,
)
