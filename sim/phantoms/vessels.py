"""A branching arterial tree in a soft-tissue slab, filled with iodinated contrast.

A branching arterial tree (:func:`vessel_tree`, 6 mm trunk to 1-2 mm branches) at
mid-depth in a soft-tissue slab; ``contrast_ml`` of contrast fills it from the root
(the rest of the tree holds blood), so ``contrast_ml = 0`` gives the DSA mask.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from sim import materials
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import Cylinder, Shape, Slab, Vec, _t, _unit
from sim.units import CM_PER_MM, MM_PER_CM

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


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _vessels(t_mm, contrast_ml, mg_i_per_ml)


ENTRY = PhantomEntry(
    name="vessels",
    label="Iodine-filled vessels (cardiac)",
    build=build,
    needle=False,
    contrast="iodine",
    order=3,
    source=__name__,
)
