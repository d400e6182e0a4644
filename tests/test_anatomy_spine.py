"""Anatomy of the lumbar spine phantom (sim.phantoms.lumbar_spine) as a radiographer reads it:
vertebral bodies with a waist, cortex and textured cancellous core; pedicles end-on; discs;
midline spinous processes; laminae with the interlaminar window; articular pillars; body fat,
muscles, psoas shadows and bowel gas; and a needle that still reaches the epidural space."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim import phantoms as ph
from sim.geometry import DetectorGrid, Geometry
from sim.phantoms.lumbar_spine import (
    LUMBAR_FAT_MM,
    LUMBAR_LEVELS,
    LUMBAR_VERTEBRA,
    _lumbar_anatomy,
)
from sim.phantoms.trace import _sample_in

GEOM = Geometry(sid_cm=100.0, source_iso_cm=70.0, source_skin_cm=60.0, patient_thickness_cm=24)
LEVELS = tuple(LUMBAR_LEVELS)  # L1 ... L5


@pytest.fixture(scope="module")
def adult():
    """The adult (24 cm, unscaled) phantom, no contrast, needle in the epidural space."""
    return ph.make_phantom("lumbar_spine", thickness_cm=24.0, contrast_ml=0.0, needle_progress=1.0)


@pytest.fixture(scope="module")
def key():
    return _lumbar_anatomy(240.0)[1]


def _is_along_z(c: ph.Cylinder) -> bool:
    d = np.subtract(c.end_mm, c.start_mm)
    return abs(d[0]) < 1e-9 and abs(d[1]) < 1e-9


def _vertebral_body(p, level):
    """(index, shape) of a level's body: its widest cylinder along the spine."""
    cands = [
        (i, s)
        for i, s in enumerate(p.shapes)
        if s.label == level and isinstance(s, ph.Cylinder) and s.material == "bone_cortical"
        and not _is_along_z(s)
    ]  # fmt: skip
    return max(cands, key=lambda t: t[1].radius_mm)


def _children(p, index):
    return [s for s in p.shapes if s.parent == index]


def _pedicles(p, level):
    return [
        (i, s)
        for i, s in enumerate(p.shapes)
        if s.label == level and isinstance(s, ph.Cylinder) and s.material == "bone_cortical"
        and _is_along_z(s)
    ]  # fmt: skip


def test_vertebral_bodies_have_a_waist_a_cortex_and_a_textured_cancellous_core(adult, key):
    for level in (*LEVELS, "S1"):
        i, body = _vertebral_body(adult, level)
        y0 = 0.5 * (body.start_mm[1] + body.end_mm[1])
        hw, zc, hh = body.radius_mm, body.start_mm[2], body.length_mm / 2.0

        # concave waist: narrower at mid-height than near the end plates, on both sides
        def half_width(dy, sx, body=body, y0=y0, zc=zc, hw=hw):
            xs = np.arange(0.0, hw + 0.05, 0.05)
            pts = np.stack([sx * xs, np.full_like(xs, y0 + dy), np.full_like(xs, zc)], axis=1)
            return xs[body.contains(pts)].max()

        for sx in (-1.0, 1.0):
            waist = half_width(0.0, sx)
            assert half_width(9.0, sx) > waist + 1.0 and half_width(-9.0, sx) > waist + 1.0
        # rounded corners: the very corner of the bounding rectangle is not bone
        assert not body.contains([(hw - 0.5, y0 + hh - 0.5, zc)])[0]
        cores = [c for c in _children(adult, i) if c.material == "bone_cancellous"]
        assert len(cores) == 1
        core = cores[0]
        assert 0.2 <= core.texture <= 0.35 and 0.6 <= core.texture_mm <= 1.2
        # the core lies inside a cortical shell and end plates ~1 mm thick
        assert body.length_mm - core.length_mm == pytest.approx(2.0, abs=0.01)
        assert 0.5 <= body.radius2_mm - core.radius2_mm <= 2.0
    # bodies widen caudally (Panjabi 1992)
    widths = [_vertebral_body(adult, lv)[1].radius_mm for lv in LEVELS]
    assert widths == sorted(widths) and widths[2] == pytest.approx(22.5)


def test_the_texture_shows_in_the_cancellous_path_map(adult):
    """The cancellous path of a body, over the same without texture: a trabecular pattern of
    ~ the texture's spread, mean 1."""
    grid = DetectorGrid(512, 300.0)
    i, _ = _vertebral_body(adult, "L3")
    core = next(s for s in adult.shapes if s.parent == i)
    plain = dataclasses.replace(core, texture=0.0, parent=None)
    textured = dataclasses.replace(core, parent=None)
    a = ph.path_lengths(ph.Phantom("t", (textured,)), GEOM, grid)["bone_cancellous"]
    b = ph.path_lengths(ph.Phantom("p", (plain,)), GEOM, grid)["bone_cancellous"]
    inside = b > 0.8 * b.max()
    ratio = a[inside] / b[inside]
    assert ratio.mean() == pytest.approx(1.0, abs=0.05)
    assert 0.5 * core.texture < ratio.std() < 1.5 * core.texture


def test_pedicles_are_end_on_ovals_of_cortex_around_cancellous_bone(adult):
    grid = DetectorGrid(512, 300.0)
    maps = ph.path_lengths(adult, GEOM, grid)
    ipd = []
    for level in LEVELS:
        peds = _pedicles(adult, level)
        assert len(peds) == 2, level
        (ia, a), (ib, b) = sorted(peds, key=lambda t: t[1].start_mm[0])
        assert a.start_mm[0] == pytest.approx(-b.start_mm[0])  # symmetric
        for i, c in ((ia, a), (ib, b)):
            assert c.radius2_mm > c.radius_mm  # oval: taller than wide (Panjabi 1992)
            assert any(k.material == "bone_cancellous" for k in _children(adult, i))
        ipd.append(b.start_mm[0] - b.radius_mm - (a.start_mm[0] + a.radius_mm))
        # seen end-on: within the outline of the body, in its upper half
        _, body = _vertebral_body(adult, level)
        y0 = body.start_mm[1] + body.length_mm / 2.0
        assert b.start_mm[0] + b.radius_mm < body.radius_mm + 3.0
        assert b.start_mm[1] > y0
    # interpediculate distance widens caudally (Hinck 1966); L3 as in LUMBAR_VERTEBRA
    assert ipd == sorted(ipd) and ipd[2] == pytest.approx(LUMBAR_VERTEBRA["interpedicular"])
    # on the image: a ring, more cortex on the rim than through the centre
    _, ped = sorted(_pedicles(adult, "L3"), key=lambda t: t[1].start_mm[0])[1]
    z = ped.start_mm[2]
    m = (GEOM.source_skin_cm * 10.0 + z) / (GEOM.sid_cm * 10.0)  # receptor -> patient

    def px(x_mm, y_mm):
        c = int((x_mm / m + 150.0) / grid.pixel_mm)
        r = int((150.0 - y_mm / m) / grid.pixel_mm)
        return r, c

    cx, cy = ped.start_mm[0], ped.start_mm[1]
    centre = px(cx, cy)
    rim = px(cx + ped.radius_mm - 0.6, cy)
    cort = maps["bone_cortical"]
    assert maps["bone_cancellous"][centre] > 5.0
    assert cort[rim] > cort[centre] + 2.0


def test_discs_lie_between_the_bodies(adult):
    names = (*LEVELS, "S1")
    for up, lo in zip(names[:-1], names[1:], strict=True):
        discs = [s for s in adult.shapes if s.label == f"{up}-{lo}"]
        assert len(discs) == 1, (up, lo)
        disc = discs[0]
        assert disc.material == "soft_tissue"
        _, b_up = _vertebral_body(adult, up)
        _, b_lo = _vertebral_body(adult, lo)
        ys = sorted((disc.start_mm[1], disc.end_mm[1]))
        assert ys[1] == pytest.approx(min(b_up.start_mm[1], b_up.end_mm[1]))
        assert ys[0] == pytest.approx(max(b_lo.start_mm[1], b_lo.end_mm[1]))
        assert ys[1] - ys[0] == pytest.approx(LUMBAR_VERTEBRA["disc"])
        assert disc.radius_mm <= min(b_up.radius_mm, b_lo.radius_mm)


def test_spinous_processes_are_midline_teardrops_behind_the_laminae(adult, key):
    for level in LEVELS:
        sps = [
            s for s in adult.shapes
            if s.label == level and isinstance(s, ph.Ellipsoid) and s.material == "bone_cortical"
            and s.center_mm[2] > key["z_ep"] + 10.0
        ]  # fmt: skip
        assert len(sps) == 1, level
        sp = sps[0]
        lo, hi = sp.aabb()
        assert sp.center_mm[0] == 0.0 and hi[0] - lo[0] < 10.0  # narrow, in the midline
        assert hi[1] - lo[1] > 2.0 * (hi[0] - lo[0])  # tall: an upright oval seen end-on
        _, body = _vertebral_body(adult, level)
        assert body.start_mm[1] - 5.0 < sp.center_mm[1] < body.end_mm[1]  # over its body
        # laminae in front of it, with the interlaminar window cut out below them
        lams = [
            s for s in adult.shapes
            if s.label == level and isinstance(s, ph.Ellipsoid) and s.material == "bone_cortical"
            and s.cuts
        ]  # fmt: skip
        assert len(lams) == 1
        lam = lams[0]
        assert lam.center_mm[2] < sp.center_mm[2] and lam.aabb()[1][0] > 15.0
        z = lam.center_mm[2]
        y_bottom = lam.center_mm[1] - lam.semi_axes_mm[1] + 2.0
        assert not lam.contains([(0.0, y_bottom, z)])[0]  # the window's arch, midline
        assert lam.contains([(14.0, lam.center_mm[1] - 8.0, z)])[0]  # lamina beside it


def test_articular_pillars_meet_at_facet_joints_with_a_joint_space(adult):
    pillars = [
        s for s in adult.shapes
        if s.label == "L3" and isinstance(s, ph.Cylinder) and s.material == "bone_cortical"
        and not _is_along_z(s) and s.radius_mm < 6.0
    ]  # fmt: skip
    inferior = [s for s in pillars if s.start_mm[1] < s.end_mm[1] < 20.0]
    l4_sup = [
        s for s in adult.shapes
        if s.label == "L4" and isinstance(s, ph.Cylinder) and not _is_along_z(s)
        and s.radius_mm < 6.0 and s.start_mm[1] > -20.0
    ]  # fmt: skip
    for sx in (-1.0, 1.0):
        iap = next(s for s in inferior if np.sign(s.start_mm[0]) == sx)
        sap = next(s for s in l4_sup if np.sign(s.start_mm[0]) == sx)
        gap = abs(sap.start_mm[0]) - sap.radius_mm - (abs(iap.start_mm[0]) + iap.radius_mm)
        assert 1.0 <= gap <= 3.0  # facet joint space, the inferior process medial
        # they overlap cranio-caudally: the joint lies at the level of the L3-L4 disc
        assert min(iap.start_mm[1], iap.end_mm[1]) < max(sap.start_mm[1], sap.end_mm[1])


def test_body_has_fat_muscles_psoas_shadows_and_bowel_gas(adult, key):
    fat, body = adult.shapes[0], adult.shapes[1]
    assert fat.material == "adipose" and body.material == "soft_tissue" and body.parent == 0
    assert fat.radius2_mm - body.radius2_mm == pytest.approx(LUMBAR_FAT_MM)
    labels = {s.label: s.material for s in adult.shapes}
    assert labels["erector spinae"] == "muscle" and labels["psoas fat"] == "adipose"
    grid = DetectorGrid(256, 300.0)
    maps = ph.path_lengths(adult, GEOM, grid)
    assert {"adipose", "muscle", "air", "bone_cortical", "bone_cancellous"} <= set(maps)
    # the psoas margins diverge caudally: the lateral fat starts further out at L4 than at L2
    idx = [i for i, s in enumerate(adult.shapes) if s.label == "psoas fat"]
    psoas = sum(ph.shape_path(adult, i, GEOM, grid) for i in idx)
    m = GEOM.sid_cm * 10.0 / (GEOM.source_skin_cm * 10.0 + key["zc"])  # magnification
    x = (np.arange(256) + 0.5) * grid.pixel_mm - 150.0

    def margin(y_mm):
        row = int((150.0 - y_mm * m) / grid.pixel_mm)
        right = x > 0
        return x[right][psoas[row, right] > 1.0].min() / m

    assert margin(-20.0) > margin(60.0) + 8.0
    # bowel gas in front of the spine, some of it over the vertebral bodies
    gas = [s for s in adult.shapes if s.material == "air"]
    assert len(gas) >= 5 and all(s.label == "bowel gas" for s in gas)
    assert all(s.aabb()[1][2] < key["zc"] - 30.0 for s in gas)
    half = _vertebral_body(adult, "L3")[1].radius_mm
    assert any(abs(s.center_mm[0]) < half for s in gas)
    centre_cols = np.abs(x) < half * m
    assert (maps["air"][:, centre_cols] > 1.0).any()


@pytest.mark.parametrize("thickness_cm", [12.0, 22.0, 30.0])
def test_no_overlaps_at_the_preset_and_other_sizes(thickness_cm):
    """No overlaps among the anatomy and the contrast (the needle's tube segments end square
    where they change parent, a sub-millimetre wedge the sampling would flag)."""
    p = ph.make_phantom("lumbar_spine", thickness_cm=thickness_cm, contrast_ml=3.0)
    no_needle = ph.Phantom("x", tuple(s for s in p.shapes if s.label != "needle"))
    assert ph.overlap_report(no_needle, samples=1500) == []


def test_the_needle_still_reaches_the_l3_l4_epidural_space(adult, key):
    """Tip in the posterior epidural space (between the laminae and the canal's front), near
    the midline, in the L3-L4 interlaminar window, in soft tissue; the shaft misses bone."""
    tip = np.array(next(r for r in adult.rois if r.name == "needle_tip").center_mm)
    z_front = key["z_ep"] - LUMBAR_VERTEBRA["canal_depth"]
    assert z_front < tip[2] < key["z_ep"]
    assert abs(tip[0]) < 5.0
    _, l3 = _vertebral_body(adult, "L3")
    _, l4 = _vertebral_body(adult, "L4")
    assert l4.end_mm[1] < tip[1] < l3.start_mm[1]  # at the level of the L3-L4 disc space
    bones = [s for s in adult.shapes if s.material.startswith("bone")]
    assert not any(b.contains(tip[None, :])[0] for b in bones)
    rng = np.random.default_rng(4)
    tubes = [s for s in adult.shapes if s.label == "needle" and s.material == "steel"]
    for t in tubes:
        pts = _sample_in(t, 3000, rng)
        assert not any(b.contains(pts).any() for b in bones)
    # the shaft runs from air through the fat into the soft tissue (parents follow it)
    parents = {adult.shapes[t.parent].label if t.parent is not None else None for t in tubes}
    assert parents == {None, "fat", "body"}
