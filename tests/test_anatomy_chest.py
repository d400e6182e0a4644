"""The cardiac chest phantom ("vessels"): lungs, heart shadow, coronaries on the heart, spine."""

import numpy as np
import pytest

import sim.phantoms as ph
from sim import materials
from sim.geometry import DetectorGrid, Geometry
from sim.phantoms.vessels import HEART_CENTER_MM, _Chest, vessel_tree

GEOM = Geometry(100.0, 70.0, 60.0, 22.0, 30.0, "square", 30.0, 0.6, False)
GRID = DetectorGrid(128, 300.0)


@pytest.fixture(scope="module")
def chest():
    return ph.make_phantom("vessels", thickness_cm=22.0, contrast_ml=8.0,
                           contrast_mg_i_per_ml=350.0)  # fmt: skip


def test_inflated_lung_is_light_and_in_the_beam(chest):
    assert materials.density_g_cm3("lung_inflated") == pytest.approx(0.26)
    assert materials.composition("lung_inflated") == materials.composition("lung")
    lungs = [s for s in chest.shapes if s.label == "lung"]
    assert len(lungs) == 2 and all(s.material == "lung_inflated" for s in lungs)
    maps = ph.path_lengths(chest, GEOM, GRID)
    assert maps["lung_inflated"].max() > 100.0  # more than 10 cm of lung on some rays


def test_heart_shadow_lies_between_the_lungs(chest):
    maps = ph.path_lengths(chest, GEOM, GRID)
    lung, heart = maps["lung_inflated"], maps["muscle"]
    mid = GRID.n_px // 2
    row_l, row_h = lung[mid], heart[mid]
    beating = np.nonzero(row_h > 20.0)[0]
    assert beating.size > 0
    left, right = beating.min(), beating.max()
    # lung on both sides of the heart along the central row, and less lung behind the heart
    assert row_l[: left - 2].max() > 100.0 and row_l[right + 2 :].max() > 100.0
    assert row_l[(left + right) // 2] < 0.5 * row_l[right + 2 :].max()


def test_coronaries_lie_on_the_heart_in_its_epicardial_fat(chest):
    ch = _Chest(220.0)
    myo = ch.heart(0.0, material="muscle")
    peri = ch.heart(10.0, material="adipose")
    for p, q, _r, _g in vessel_tree(220.0):
        for f in np.linspace(0.0, 1.0, 5):
            c = np.asarray(p) + f * (np.subtract(q, p))
            assert peri.contains(c[None])[0] and not myo.contains(c[None])[0]
    # over the heart shadow in projection: every segment end within the heart's silhouette
    hx, hy = HEART_CENTER_MM[:2]
    ends = np.array([q for _p, q, _r, _g in vessel_tree(220.0)])
    assert np.all(np.hypot(ends[:, 0] - hx, ends[:, 1] - hy) < 80.0)
    vessels = chest.labelled("vessel")
    peri_index = next(i for i, s in enumerate(chest.shapes) if s.material == "adipose"
                      and s.label == "heart")  # fmt: skip
    assert all(chest.shapes[i].parent == peri_index for i in vessels)


def test_vertebrae_have_a_cortex_and_a_textured_core(chest):
    spine = [s for s in chest.shapes if s.material == "bone_cancellous" and s.label[:1] == "T"]
    cores = [s for s in spine if isinstance(s, ph.Cylinder) and s.radius_mm > 10.0]  # bodies
    assert len(cores) >= 8
    assert all(0.2 <= s.texture <= 0.35 and 0.6 <= s.texture_mm <= 1.2 for s in cores)
    assert all(chest.shapes[s.parent].material == "bone_cortical" for s in cores)


def test_no_overlapping_shapes(chest):
    assert ph.overlap_report(chest, samples=2000) == []
    assert ph.overlap_report(ph.make_phantom("vessels", thickness_cm=16.0), samples=1000) == []


def test_contrast_fills_the_coronaries_from_the_root():
    tree = vessel_tree(220.0)
    p0, q0, _r, g0 = tree[0]
    assert g0 == 0
    small = ph.make_phantom("vessels", contrast_ml=0.05, contrast_mg_i_per_ml=350.0)
    filled = [s for s in small.shapes if "+I" in s.material]
    assert filled and all(s.start_mm == p0 for s in filled)  # only the left main, from its start
    none = ph.make_phantom("vessels", contrast_ml=0.0)
    assert not any("+I" in s.material for s in none.shapes)
