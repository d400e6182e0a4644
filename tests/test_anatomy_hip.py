"""Anatomy of the hip phantom (sim.phantoms.hip): what a radiographer looks for on an AP hip.

Points are given in the hip's own frame (mm from the femoral-head centre, +x medial, +y
cranial) and found on the receptor through the magnification at the joint's depth.
"""

import dataclasses

import numpy as np
import pytest

from sim import phantoms as ph
from sim.geometry import DetectorGrid, Geometry
from sim.phantoms.hip import HIP_TEXTURE, HIP_TEXTURE_MM, _fat_mm

GEOM = Geometry(sid_cm=100.0, source_iso_cm=70.0, source_skin_cm=60.0, patient_thickness_cm=22)
GRID = DetectorGrid(256, 400.0)
Z_JOINT_MM = 0.6 * 220.0  # joint centre depth below the entrance surface at 22 cm


def _hip(**kw) -> ph.Phantom:
    args = {"thickness_cm": 22.0, "contrast_ml": 0.0, "needle_progress": 0.5} | kw
    return ph.make_phantom("hip_injection", **args)


def _pixel(x_mm: float, y_mm: float) -> tuple[int, int]:
    """(row, col) of the receptor pixel on the ray through the point at the joint's depth."""
    k = GEOM.sid_cm * 10.0 / (GEOM.source_skin_cm * 10.0 + Z_JOINT_MM)
    x, y = GRID.coords_mm()
    return int(np.argmin(abs(y - y_mm * k))), int(np.argmin(abs(x - x_mm * k)))


@pytest.fixture(scope="module")
def maps():
    return ph.path_lengths(_hip(), GEOM, GRID)


def _bone(maps) -> np.ndarray:
    return maps["bone_cortical"] + maps["bone_cancellous"]


def test_obturator_foramen_is_a_hole_ringed_by_bone(maps):
    """No bone on the ray through the foramen; rami, ischium and pubis around it."""
    bone = _bone(maps)
    assert bone[_pixel(40, -55)] == 0.0
    ring = {"superior ramus": (40, -26), "inferior ramus": (40, -84)}
    ring |= {"ischium": (12, -60), "pubic body": (73, -45)}
    for name, (x, y) in ring.items():
        assert bone[_pixel(x, y)] > 8.0, name


def test_femoral_cortex_thickens_from_head_to_shaft():
    """Subchondral shell of the head < neck cortex < shaft cortex, shaft canal fatty."""
    p = _hip()
    shells = {}
    for i, s in enumerate(p.shapes):
        core = next((c for c in p.shapes if c.parent == i), None)
        if s.label == "femur" and isinstance(s, ph.Cylinder | ph.Sphere) and core is not None:
            shells[(type(s).__name__, s.radius_mm)] = (s.radius_mm - core.radius_mm, core)
    head = shells[("Sphere", 24.0)][0]
    neck = shells[("Cylinder", 16.0)][0]
    (shaft, canal) = next(v for (kind, r), v in shells.items() if kind == "Cylinder" and r < 16)
    assert head < neck < shaft and shaft >= 5.0
    assert canal.material == "adipose"


def test_shaft_shows_two_cortices_and_a_canal(maps):
    """Across the shaft the cortical path peaks at both edges, not in the middle (canal)."""
    row, c0 = _pixel(-31, -150)
    profile = maps["bone_cortical"][row, c0 - 20 : c0 + 21]
    mid = profile[20]
    assert profile[:20].max() > 1.5 * mid and profile[21:].max() > 1.5 * mid
    assert maps["adipose"][row, c0] > maps["adipose"][row, c0 - 20] + 5.0  # the canal


def test_cancellous_bone_carries_a_trabecular_texture(maps):
    """Cancellous cores are textured; the head's cancellous path is rough pixel to pixel."""
    p = _hip()
    cores = [s for s in p.shapes if s.material == "bone_cancellous"]
    assert len(cores) >= 8
    assert all(s.texture > 0 for s in cores)
    assert 0.2 <= HIP_TEXTURE <= 0.35 and 0.6 <= HIP_TEXTURE_MM <= 1.2
    smooth = ph.Phantom(
        "smooth", tuple(dataclasses.replace(s, texture=0.0) for s in p.shapes), p.rois
    )
    plain = ph.path_lengths(smooth, GEOM, GRID)["bone_cancellous"]
    r, c = _pixel(0, 0)

    def rough(m):
        return float(np.median(np.abs(np.diff(m[r - 8 : r + 8, c - 8 : c + 8], axis=1))))

    assert rough(maps["bone_cancellous"]) > 1.0
    assert rough(maps["bone_cancellous"]) > 5.0 * rough(plain)


def test_body_has_subcutaneous_fat_and_muscle(maps):
    """The central ray crosses the fat layer twice (posterior and anterior) and muscle."""
    centre = _pixel(0, 0)
    assert maps["adipose"][centre] > 2 * 0.9 * _fat_mm(220.0)
    assert maps["muscle"][centre] > 50.0
    p = _hip()
    assert p.shapes[0].material == "adipose" and p.shapes[1].material == "muscle"
    assert p.shapes[1].parent == 0


def test_bowel_gas_over_the_pelvis_not_over_the_joint(maps):
    air = maps["air"]
    assert air.max() > 15.0
    rows, cols = np.nonzero(air > 1.0)
    r0, c0 = _pixel(0, 0)
    assert rows.mean() < r0 and cols.mean() > c0  # cranial and medial of the hip
    assert air[r0 - 30 : r0 + 30, c0 - 30 : c0 + 30].max() == 0.0  # none over the joint


def test_iliac_wing_rises_superolaterally_and_sacrum_lies_medially(maps):
    bone = _bone(maps)
    assert bone[_pixel(-25, 90)] > 4.0  # the wing, lateral of the joint, 9 cm up
    assert bone[_pixel(90, 100)] > 10.0  # sacrum at the midline
    assert bone[_pixel(-70, 70)] == 0.0  # above the greater trochanter: soft tissue


@pytest.mark.parametrize("thickness_cm", [10.0, 22.0, 34.0])
def test_needle_reaches_the_head_neck_junction_without_entering_bone(thickness_cm):
    """At full progress the tip is within 4 mm of the femoral neck, outside all bone."""
    p = _hip(thickness_cm=thickness_cm, needle_progress=1.0)
    tip = np.array(next(r for r in p.rois if r.name == "needle_tip").center_mm)
    femur = [s for s in p.shapes if s.label == "femur" and s.material == "bone_cortical"]
    bones = [s for s in p.shapes if s.label in ("femur", "pelvis")]
    assert not any(b.contains(tip[None, :]).any() for b in bones)
    rng = np.random.default_rng(3)
    d = rng.normal(size=(4000, 3))
    near = tip + 4.0 * d / np.linalg.norm(d, axis=1)[:, None]
    assert any(b.contains(near).any() for b in femur)


def test_anatomy_nests_without_overlaps_with_contrast():
    p = _hip(contrast_ml=2.0, needle_progress=1.0)
    no_needle = ph.Phantom("hip", tuple(s for s in p.shapes if s.label != "needle"))
    assert ph.overlap_report(no_needle, samples=3000) == []


def test_child_hip_is_scaled_down():
    p = _hip(thickness_cm=10.0)
    head = next(s for s in p.shapes if isinstance(s, ph.Sphere) and s.label == "femur")
    assert head.radius_mm == pytest.approx(12.0)
    air = [s for s in p.shapes if s.material == "air"]
    assert air and all(max(s.semi_axes_mm) < 20.0 for s in air)
