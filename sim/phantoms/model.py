"""A phantom: named shapes (parents before children) and regions of interest."""

from __future__ import annotations

from dataclasses import dataclass

from sim import materials
from sim.phantoms.shapes import VOID, Shape, Vec


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
