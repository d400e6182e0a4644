"""Leeds TOR 18FG-like contrast-detail test object on a water slab.

A Leeds TOR 18FG-like test object on the exit surface of a water slab: 18 aluminium
discs of 8 mm diameter with nominal contrasts 16.7-0.9 %, 21 lead bar-pattern groups
0.5-5 lp/mm (5 bars each, 0.05 mm Pb), a lead circle of 200 mm diameter.
"""

from __future__ import annotations

import math

from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import Box, Cylinder, Shape, Slab
from sim.units import CM_PER_MM

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


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _contrast_detail(t_mm)


ENTRY = PhantomEntry(
    name="contrast_detail",
    label="Contrast-detail test object (TOR 18FG-like)",
    build=build,
    order=2,
)
