"""Neck in the lateral view of a barium swallow.

Neck in the LATERAL view of a swallow study (image x = anterior): soft-tissue
elliptic cylinder ``thickness_cm`` across (along the beam) and 1.08 x that AP; the
airway (air column, 18 mm), cervical spine C3-C7 (bodies, articular pillars,
laminae, spinous processes) and the oesophagus on the central ray, filled from the
hypopharynx down by a column of ``contrast_ml`` of barium sulfate suspension
(:func:`sim.materials.barium_material`, 60 % w/v; :func:`swallow_column_mm`).
``contrast_mg_i_per_ml`` does not apply.
"""

from __future__ import annotations

import functools
import math

from sim import materials
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import _ZERO_MM, Box, Cylinder, _ShapeList
from sim.units import CM_PER_MM, MM_PER_CM

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


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _swallow(t_mm, progress, contrast_ml)


ENTRY = PhantomEntry(
    name="swallow",
    label="Lateral neck (barium swallow)",
    build=build,
    needle=False,
    contrast="barium",
    order=6,
    source=__name__,
)
