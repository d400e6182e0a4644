"""Water slab: uniform water, laterally infinite (dose, ABC, QA).

Water, ``thickness_cm`` thick, laterally infinite (dose, ABC, QA).
"""

from __future__ import annotations

from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import Slab
from sim.units import CM_PER_MM


def _water_slab(t_mm: float) -> Phantom:
    body = Slab(material="water", z0_mm=0.0, z1_mm=t_mm, label="body")
    centre = (0.0, 0.0, t_mm / 2.0)
    rois = (Roi("signal", centre, 10.0), Roi("background", centre, 10.0))
    return Phantom("water_slab", (body,), rois, f"uniform water slab {t_mm * CM_PER_MM:g} cm thick")


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _water_slab(t_mm)


ENTRY = PhantomEntry(
    name="water_slab",
    label="Uniform water slab",
    build=build,
    order=0,
)
