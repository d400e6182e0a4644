"""Tests of sim.phantoms: exact chords, divergent geometry, volumes, needle, contrast, rois."""

import math

import numpy as np
import pytest

from sim import phantoms as ph
from sim.geometry import DetectorGrid, Geometry, detector_grid_from, geometry_from
from sim.params import PHANTOMS, Params
from sim.phantoms.contrast_detail import MU_AL_50KEV_PER_MM
from sim.phantoms.hip import hip_contrast_layers
from sim.phantoms.lumbar_spine import epidural_layer
from sim.phantoms.trace import _sample_in
from sim.phantoms.vessels import vessel_tree

GEOM = Geometry(sid_cm=100.0, source_iso_cm=70.0, source_skin_cm=60.0, patient_thickness_cm=22)
GEOM_NO_TABLE = Geometry(
    sid_cm=100.0, source_iso_cm=70.0, source_skin_cm=60.0, patient_thickness_cm=22, table=False
)


def _one(shape: ph.Shape) -> ph.Phantom:
    return ph.Phantom("test", (shape,))


def _volume_from_map(path: np.ndarray, grid: DetectorGrid, geom: Geometry, depth_mm: float):
    """Object volume from a path map: sum of chord x solid angle x r^2 [mm^3].

    A pixel of area A at the receptor subtends dOmega = A cos^3(theta) / SID^2; a chord c at
    distance r from the source holds dOmega r^2 c, with r = d / cos(theta) for an object at
    source distance d on the central axis.
    """
    x, y = grid.coords_mm()
    sid = geom.sid_cm * 10.0
    cos = sid / np.sqrt(x[None, :] ** 2 + y[:, None] ** 2 + sid**2)
    d = geom.source_skin_cm * 10.0 + depth_mm
    return float(np.sum(path * grid.pixel_area_mm2 * cos * (d / sid) ** 2, dtype=np.float64))


def test_slab_path_is_thickness_over_cos_theta_at_the_corner():
    """Divergent rays: an infinite slab of thickness t is crossed over t / cos(theta)."""
    grid = DetectorGrid(64, 300.0)
    p = ph.make_phantom("water_slab", thickness_cm=22.0)
    water = ph.path_lengths(p, GEOM_NO_TABLE, grid)["water"]
    x, y = grid.coords_mm()
    cos_corner = 1000.0 / math.sqrt(x[0] ** 2 + y[0] ** 2 + 1000.0**2)
    assert water[0, 0] == pytest.approx(220.0 / cos_corner, rel=1e-5)
    assert water[32, 32] == pytest.approx(220.0 / (1000.0 / math.hypot(x[32], y[32], 1000.0)))
    assert water.dtype == np.float32 and water[0, 0] > water[32, 32]


def test_table_layers_added_when_geometry_has_table():
    grid = DetectorGrid(16, 300.0)
    p = ph.make_phantom("water_slab")
    with_table = ph.path_lengths(p, GEOM, grid, include_table=True)
    assert set(with_table) == {"water", "carbon_fibre", "foam"}
    assert with_table["foam"][8, 8] > 40.0  # 40 mm pad, oblique ray
    assert set(ph.path_lengths(p, GEOM_NO_TABLE, grid, include_table=True)) == {"water"}
    assert set(ph.path_lengths(p, GEOM, grid)) == {"water"}  # default: the chain filters


def test_sphere_chord_at_centre_is_diameter():
    """On the central ray the chord of a sphere is 2R exactly."""
    grid = DetectorGrid(101, 300.0)  # odd: a pixel centre on the axis
    s = ph.Sphere(material="water", center_mm=(0.0, 0.0, 80.0), radius_mm=24.0)
    path = ph.path_lengths(_one(s), GEOM_NO_TABLE, grid)["water"]
    assert path[50, 50] == pytest.approx(48.0, rel=1e-6)
    assert path.max() == pytest.approx(48.0, rel=1e-3)


@pytest.mark.parametrize(
    "shape",
    [
        ph.Sphere(material="water", center_mm=(3.0, -2.0, 60.0), radius_mm=20.0),
        ph.Ellipsoid(
            material="water",
            center_mm=(5.0, 4.0, 70.0),
            semi_axes_mm=(30.0, 12.0, 18.0),
            axes=ph.rotation_y(30.0),
        ),
        ph.Cylinder(
            material="water",
            start_mm=(-30.0, -20.0, 40.0),
            end_mm=(25.0, 30.0, 90.0),
            radius_mm=9.0,
            radius2_mm=5.0,
            ref=(0.0, 0.0, 1.0),
        ),
        ph.Box(
            material="water",
            center_mm=(0.0, 10.0, 60.0),
            size_mm=(40.0, 20.0, 30.0),
            axes=ph.rotation_y(-20.0),
        ),
    ],
    ids=["sphere", "ellipsoid", "elliptic_cylinder", "box"],
)
def test_projected_volume_equals_shape_volume(shape):
    """Volume conservation: sum over pixels of chord x dOmega x r^2 = shape volume (< 2 %)."""
    grid = DetectorGrid(256, 200.0)
    path = ph.path_lengths(_one(shape), GEOM_NO_TABLE, grid)["water"]
    depth = (shape.aabb()[0][2] + shape.aabb()[1][2]) / 2.0
    vol = _volume_from_map(path, grid, GEOM_NO_TABLE, depth)
    assert vol == pytest.approx(shape.volume_mm3(), rel=0.02)


@pytest.mark.parametrize(
    ("shape", "rel"),
    [
        (
            ph.Cylinder(
                material="Al",
                start_mm=(10.0, 5.0, 220.0),
                end_mm=(10.0, 5.0, 220.1),
                radius_mm=4.0,
                feature_mm=1.0,
            ),
            0.02,
        ),
        (
            ph.Sphere(
                material="Al",
                center_mm=(0.0, 0.0, 100.0),
                radius_mm=24.1,
                cuts=(ph.Sphere(material="Al", center_mm=(0.0, 0.0, 100.0), radius_mm=24.0),),
                feature_mm=0.1,
            ),
            0.02,
        ),
        (ph.Needle(start_mm=(-30.0, -40.0, 150.0), end_mm=(20.0, 30.0, 60.0)), 0.02),
        (
            ph.Box(
                material="Al",
                center_mm=(3.0, 1.0, 50.0),
                size_mm=(0.1, 8.0, 0.05),
                feature_mm=0.1,
            ),
            0.05,
        ),
    ],
    ids=["thin_disc", "thin_shell", "needle", "bar"],
)
def test_supersampled_thin_shapes_conserve_volume(shape, rel):
    """Thin objects at coarse pixels (1.5 mm at the object) keep their volume (partial volume)."""
    grid = DetectorGrid(128, 300.0)
    maps = ph.path_lengths(_one(shape), GEOM_NO_TABLE, grid)
    depth = (shape.aabb()[0][2] + shape.aabb()[1][2]) / 2.0
    vol = _volume_from_map(maps["Al" if "Al" in maps else "steel"], grid, GEOM_NO_TABLE, depth)
    expected = shape.volume_mm3() - sum(c.volume_mm3() for c in shape.cuts)
    assert vol == pytest.approx(expected, rel=rel)


def test_chords_match_numeric_line_integrals_with_cuts_and_planes():
    """Analytic chords (planes, overlapping cuts by inclusion-exclusion) = sampled ray."""
    cut_a = ph.Sphere(material="water", center_mm=(0.0, 0.0, 50.0), radius_mm=15.0)
    cut_b = ph.Cylinder(
        material="water", start_mm=(0.0, -40.0, 50.0), end_mm=(0.0, 40.0, 50.0), radius_mm=8.0
    )
    shape = ph.Ellipsoid(
        material="water",
        center_mm=(0.0, 0.0, 50.0),
        semi_axes_mm=(40.0, 30.0, 25.0),
        planes=((1.0, 0.3, 0.2, 20.0),),
        cuts=(cut_a, cut_b),
    )
    grid = DetectorGrid(9, 120.0)
    p = _one(shape)
    path = ph.shape_path(p, 0, GEOM_NO_TABLE, grid)
    x, y = grid.coords_mm()
    skin, sid = 600.0, 1000.0
    t = (np.arange(200000) + 0.5) / 200000
    for i, j in [(4, 4), (2, 6), (1, 3), (6, 2), (4, 7)]:
        d = np.array([x[j], y[i], sid])
        pts = np.array([0.0, 0.0, -skin])[None, :] + t[:, None] * d[None, :]
        numeric = shape.contains(pts).mean() * np.linalg.norm(d)
        assert path[i, j] == pytest.approx(numeric, abs=0.02)


def test_parent_rule_and_void_lumen():
    """A child's path moves from the parent's material to its own; void is a hole."""
    grid = DetectorGrid(33, 100.0)
    body = ph.Slab(material="water", z0_mm=0.0, z1_mm=100.0)
    bone = ph.Sphere(material="bone_cortical", center_mm=(0, 0, 50.0), radius_mm=10.0, parent=0)
    core = ph.Sphere(material=ph.VOID, center_mm=(0, 0, 50.0), radius_mm=6.0, parent=1)
    maps = ph.path_lengths(ph.Phantom("t", (body, bone, core)), GEOM_NO_TABLE, grid)
    assert set(maps) == {"water", "bone_cortical"}
    c = 16
    ray = math.hypot(*grid.coords_mm()[0][[c]], 1000.0) / 1000.0
    assert maps["bone_cortical"][c, c] == pytest.approx(8.0 * ray, rel=1e-5)
    assert maps["water"][c, c] == pytest.approx(80.0 * ray, rel=1e-5)
    assert maps["water"][0, 0] > maps["water"][c, c]


@pytest.mark.parametrize("name", list(PHANTOMS))
def test_every_phantom_builds_nonnegative_maps_and_rois(name):
    p = Params().replace(**{"patient.phantom": name, "run.image_px": 128})
    geom, grid = geometry_from(p), detector_grid_from(p)
    phantom = ph.build_phantom(p)
    maps = ph.path_lengths(phantom, geom, grid)
    assert maps, name
    for material, m in maps.items():
        assert m.dtype == np.float32 and m.shape == (128, 128)
        assert m.min() >= 0.0 and m.max() > 0.0, material
    rois = ph.roi_masks(phantom, geom, grid)
    for key in ("signal", "background", "center"):
        assert rois[key].dtype == bool and rois[key].any(), (name, key)


@pytest.mark.parametrize("thickness_cm", [5.0, 16.0, 22.0, 30.0, 40.0])
def test_hip_shapes_nest_without_overlaps(thickness_cm):
    """Children lie in their parents; bones, contrast do not overlap (sampled check)."""
    p = ph.make_phantom("hip_injection", thickness_cm=thickness_cm, contrast_ml=20.0)
    no_needle = ph.Phantom("hip", tuple(s for s in p.shapes if s.label != "needle"))
    assert ph.overlap_report(no_needle, samples=1500) == []


def test_needle_never_enters_bone():
    p = ph.make_phantom("hip_injection", needle_progress=1.0, contrast_ml=0.0)
    bones = [s for s in p.shapes if s.label in ("femur", "pelvis")]
    rng = np.random.default_rng(1)
    for needle in (s for s in p.shapes if s.label == "needle" and s.material == "steel"):
        pts = _sample_in(needle, 3000, rng)
        for b in bones:
            assert not b.contains(pts).any()


def test_hip_anatomy_is_adult_and_centred():
    p = ph.make_phantom("hip_injection", thickness_cm=22.0, contrast_ml=0.0)
    head = next(s for s in p.shapes if isinstance(s, ph.Sphere) and s.label == "femur")
    assert head.radius_mm == pytest.approx(24.0)
    assert head.center_mm[:2] == (0.0, 0.0)  # the joint is on the central ray
    assert 0.0 < head.center_mm[2] < 220.0


def _needle_pixels(progress: float, grid: DetectorGrid) -> np.ndarray:
    p = ph.make_phantom("hip_injection", needle_progress=progress, contrast_ml=0.0)
    return ph.path_lengths(p, GEOM, grid)["steel"]


def test_needle_visible_and_tip_moves_with_progress():
    grid = DetectorGrid(256, 300.0)
    rows = {}
    for prog in (0.0, 0.5, 1.0):
        steel = _needle_pixels(prog, grid)
        assert steel.max() > 0.2  # 22 G wall, partial volume at 1.2 mm pixels
        assert (steel > 0.05).sum() > 30  # a line, not a dot
        r, _ = np.nonzero(steel > 0.02)
        rows[prog] = r.min()  # the tip is the most cranial (top) end of the needle
    assert rows[0.0] > rows[0.5] > rows[1.0]


@pytest.mark.parametrize("thickness_cm", [10.0, 22.0, 40.0])
def test_needle_keeps_its_length_while_it_advances(thickness_cm):
    """The needle (skin, fat and muscle segments) is one standard spinal needle long."""
    for prog in (0.0, 0.4, 1.0):
        p = ph.make_phantom("hip_injection", thickness_cm=thickness_cm, needle_progress=prog)
        tubes = [s for s in p.shapes if s.label == "needle" and s.material == "steel"]
        total = sum(t.length_mm for t in tubes)
        assert min(abs(total - L) for L in ph.SPINAL_NEEDLE_LENGTHS_MM) < 1e-6
        assert all(t.radius_mm == pytest.approx(0.359) for t in tubes)


def test_contrast_volume_in_path_maps_scales_with_contrast_ml():
    """Iodinated-contrast volume recovered from the path maps = contrast_ml (5 %)."""
    grid = DetectorGrid(384, 300.0)
    vols = {}
    for ml in (1.0, 2.0, 4.0):
        p = ph.make_phantom("hip_injection", contrast_ml=ml, contrast_mg_i_per_ml=300.0)
        maps = ph.path_lengths(p, GEOM, grid)
        contrast = maps["water+I300"]
        depth = next(s for s in p.shapes if s.label == "contrast").center_mm[2]
        vols[ml] = _volume_from_map(contrast, grid, GEOM, depth) / 1000.0
        assert vols[ml] == pytest.approx(ml, rel=0.05)
        assert hip_contrast_layers(220.0, ml)[2] == pytest.approx(ml, rel=1e-3)
    assert vols[4.0] / vols[2.0] == pytest.approx(2.0, rel=0.03)
    none = ph.path_lengths(ph.make_phantom("hip_injection", contrast_ml=0.0), GEOM, grid)
    assert not any("+I" in k for k in none)


def test_hip_contrast_layers_of_an_adult_do_not_depend_on_the_body_thickness():
    """The layers are solved once for every adult thickness (the joint only moves in depth):
    the same as a solve on each thick body's own anatomy, to round-off."""
    from sim.phantoms import hip

    for t_mm in (200.0, 236.5, 310.0):
        for ml in (0.5, 2.0, 20.0):
            own = hip._contrast_layers.__wrapped__(t_mm, ml)  # uncached, this body's anatomy
            assert hip_contrast_layers(t_mm, ml) == pytest.approx(own, rel=1e-12, abs=0.0)
    # a child's hip is smaller: its own solve, thicker layers for the same volume
    assert hip_contrast_layers(150.0, 2.0)[1] > hip_contrast_layers(220.0, 2.0)[1]


def test_vessels_fill_from_the_root_and_hold_no_iodine_without_contrast():
    grid = DetectorGrid(128, 300.0)
    iodine = []
    for ml in (0.5, 2.0, 8.0):
        maps = ph.path_lengths(ph.make_phantom("vessels", contrast_ml=ml), GEOM, grid)
        iodine.append(float(maps["water+I240"].sum()))
    assert iodine[0] < iodine[1] < iodine[2]
    empty = ph.path_lengths(ph.make_phantom("vessels", contrast_ml=0.0), GEOM, grid)
    assert "blood" in empty and not any("+I" in k for k in empty)
    radii = [r for *_, r, _g in vessel_tree(220.0)]
    assert max(radii) == 3.0 and 0.5 <= min(radii) < 1.0  # 6 mm down to 1-2 mm diameter


def test_contrast_detail_and_step_wedge_details():
    p = ph.make_phantom("contrast_detail")
    discs = [s for s in p.shapes if s.label.startswith("disc")]
    assert len(discs) == 18 and all(d.radius_mm == 4.0 for d in discs)
    thick = [d.length_mm for d in discs]
    assert thick == sorted(thick, reverse=True)
    mu = MU_AL_50KEV_PER_MM
    assert 1 - math.exp(-mu * thick[0]) == pytest.approx(0.167, rel=1e-6)
    bars = {s.label for s in p.shapes if s.label.startswith("bars")}
    assert len(bars) == 21 and "bars0.5" in bars and "bars5" in bars
    w = ph.make_phantom("step_wedge", thickness_cm=10.0)
    steps = [s.size_mm[2] for s in w.shapes if s.label.startswith("step")]
    assert steps == [1.0 + 2.0 * i for i in range(11)]  # assets/phantoms/step_wedge.toml


def test_only_the_needle_is_recomputed_when_it_moves():
    """Chord blocks are cached per shape: moving the needle leaves the anatomy's blocks."""
    grid = DetectorGrid(64, 300.0)
    a = ph.make_phantom("hip_injection", needle_progress=0.2)
    b = ph.make_phantom("hip_injection", needle_progress=0.7)
    assert a.shapes[: a.static_shapes] == b.shapes[: b.static_shapes]
    ma, mb = ph.path_lengths(a, GEOM, grid), ph.path_lengths(b, GEOM, grid)
    np.testing.assert_array_equal(ma["bone_cortical"], mb["bone_cortical"])
    assert not np.array_equal(ma["steel"], mb["steel"])
    assert ph.make_phantom("hip_injection", needle_progress=0.2) is a  # cached by value


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "banana"}, "water_slab, hip_injection"),
        ({"name": "water_slab", "thickness_cm": 50.0}, "thickness_cm=50"),
        ({"name": "water_slab", "thickness_cm": float("nan")}, "thickness_cm"),
        ({"name": "hip_injection", "needle_progress": 1.5}, "needle_progress"),
        ({"name": "vessels", "contrast_ml": -1.0}, "contrast_ml"),
        ({"name": "vessels", "contrast_mg_i_per_ml": 500.0}, "contrast_mg_i_per_ml"),
    ],
)
def test_bad_phantom_input(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ph.make_phantom(**kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match="radius_mm"):
        ph.Sphere(material="water", center_mm=(0, 0, 0), radius_mm=-1.0)
    with pytest.raises(ValueError, match="center_mm"):
        ph.Sphere(material="water", center_mm=(0, float("nan"), 0), radius_mm=1.0)
    with pytest.raises(ValueError, match="start_mm"):
        ph.Cylinder(material="water", start_mm=(0, 0, 0), end_mm=(0, 0, 0), radius_mm=1.0)
    with pytest.raises(ValueError, match="z0_mm"):
        ph.Slab(material="water", z0_mm=5.0, z1_mm=1.0)
    with pytest.raises(ValueError, match="orthonormal"):
        ph.Box(material="water", center_mm=(0, 0, 0), size_mm=(1, 1, 1), axes=((1, 0, 0),) * 3)
    with pytest.raises(ValueError, match="unobtainium"):
        ph.Phantom("x", (ph.Slab(material="unobtainium", z0_mm=0.0, z1_mm=1.0),))
    with pytest.raises(ValueError, match="parent"):
        ph.Phantom("x", (ph.Slab(material="water", z0_mm=0.0, z1_mm=1.0, parent=0),))


# ---- lumbar spine and swallow ------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "thickness_cm"),
    [("lumbar_spine", 12.0), ("lumbar_spine", 24.0), ("lumbar_spine", 36.0), ("swallow", 12.0)],
)
def test_spine_and_neck_shapes_nest_without_overlaps(name, thickness_cm):
    """Children lie in their parents; vertebrae, airway and contrast do not overlap."""
    p = ph.make_phantom(name, thickness_cm=thickness_cm, contrast_ml=20.0)
    no_needle = ph.Phantom(name, tuple(s for s in p.shapes if s.label != "needle"))
    assert ph.overlap_report(no_needle, samples=1500) == []


def test_lumbar_vertebra_is_adult_sized_and_spine_posterior():
    """Body 45 mm wide, 30 mm tall (typical adult L3, Panjabi 1992); prone: spine near exit."""
    p = ph.make_phantom("lumbar_spine", thickness_cm=24.0, contrast_ml=0.0)
    bodies = [s for s in p.shapes if s.label == "L3" and isinstance(s, ph.Cylinder)]
    body = max(bodies, key=lambda s: s.radius_mm)
    assert 2 * body.radius_mm == pytest.approx(45.0) and body.length_mm == pytest.approx(30.0)
    assert 120.0 < body.start_mm[2] < 240.0 - 50.0  # posterior half, anterior of the canal


def test_lumbar_needle_stays_out_of_bone_and_tip_moves_with_progress():
    grid = DetectorGrid(256, 300.0)
    top = {}
    for prog in (0.0, 0.5, 1.0):
        p = ph.make_phantom("lumbar_spine", needle_progress=prog, contrast_ml=0.0)
        steel = ph.path_lengths(p, GEOM, grid)["steel"]
        assert (steel > 0.05).sum() > 10  # a line, not a dot
        r, _ = np.nonzero(steel > 0.02)
        top[prog] = r.min()  # the needle points cranially: the tip is its top end
        bones = [s for s in p.shapes if s.material.startswith("bone")]
        rng = np.random.default_rng(2)
        for needle in (s for s in p.shapes if s.label == "needle" and s.material == "steel"):
            pts = _sample_in(needle, 2000, rng)
            assert not any(b.contains(pts).any() for b in bones)
        tubes = [s for s in p.shapes if s.label == "needle" and s.material == "steel"]
        assert (
            min(abs(sum(t.length_mm for t in tubes) - L) for L in ph.SPINAL_NEEDLE_LENGTHS_MM)
            < 1e-6
        )
    assert top[0.0] > top[0.5] > top[1.0]
    rois = ph.roi_masks(p, GEOM, grid)
    assert rois["needle_tip"].any() and (steel[rois["needle_tip"]] > 0).any()


def test_epidural_contrast_volume_in_path_maps_equals_contrast_ml():
    """Iodinated-contrast volume recovered from the lumbar path maps = contrast_ml (5 %)."""
    grid = DetectorGrid(256, 300.0)
    vols = {}
    for ml in (1.0, 3.0, 6.0):
        p = ph.make_phantom("lumbar_spine", contrast_ml=ml, contrast_mg_i_per_ml=240.0)
        contrast = ph.path_lengths(p, GEOM, grid)["water+I240"]
        depth = next(s for s in p.shapes if s.label == "contrast").center_mm[2]
        vols[ml] = _volume_from_map(contrast, grid, GEOM, depth) / 1000.0
        assert vols[ml] == pytest.approx(ml, rel=0.05)
        assert epidural_layer(ml)[2] == pytest.approx(ml, rel=1e-9)
    assert vols[1.0] < vols[3.0] < vols[6.0]
    none = ph.path_lengths(ph.make_phantom("lumbar_spine", contrast_ml=0.0), GEOM, grid)
    assert not any("+I" in k for k in none)


def test_barium_column_grows_with_bolus_volume():
    """Barium volume from the path maps = contrast_ml (5 %); none without a bolus."""
    grid = DetectorGrid(256, 300.0)
    vols = {}
    for ml in (2.0, 5.0, 10.0):
        p = ph.make_phantom("swallow", thickness_cm=12.0, contrast_ml=ml)
        barium = ph.path_lengths(p, GEOM, grid)["barium"]
        vols[ml] = _volume_from_map(barium, grid, GEOM, 60.0) / 1000.0
        assert vols[ml] == pytest.approx(ml, rel=0.05)
    assert vols[2.0] < vols[5.0] < vols[10.0]
    # the iodine concentration knob does not apply to barium (same cached phantom)
    assert ph.make_phantom("swallow", contrast_ml=5.0, contrast_mg_i_per_ml=100.0) is (
        ph.make_phantom("swallow", contrast_ml=5.0, contrast_mg_i_per_ml=300.0)
    )
    empty = ph.path_lengths(ph.make_phantom("swallow", contrast_ml=0.0), GEOM, grid)
    assert "barium" not in empty and "air" in empty and "bone_cortical" in empty


def test_barium_suspension_holds_its_w_v_concentration():
    """60 % w/v: 0.60 g BaSO4 per ml; additive-volume density 1 + 0.6 (1 - 1/4.49) g/ml."""
    from sim import materials

    for wv in (40.0, 60.0, 250.0):
        name = materials.barium_material(wv)
        rho = materials.density_g_cm3(name)
        ba = materials.composition(name)["Ba"]
        ba_in_baso4 = materials.composition("BaSO4")["Ba"]
        assert rho * ba / ba_in_baso4 == pytest.approx(wv / 100.0, rel=1e-9)
        assert rho == pytest.approx(1.0 + wv / 100.0 * (1.0 - 1.0 / 4.49), rel=1e-3)
    assert materials.barium_material() == "barium"
    with pytest.raises(ValueError, match="w_v_percent"):
        materials.barium_material(300.0)


def test_presets_and_runs_use_the_new_phantoms():
    from sim import sequence
    from sim.presets import preset_params

    lumbar = preset_params("lumbar_epidural")
    assert lumbar.patient.phantom == "lumbar_spine"
    assert preset_params("barium_swallow").patient.phantom == "swallow"
    c = sequence.content_at(lumbar, [0.0, 10.0, 40.0])
    assert c["needle_progress"][0] < c["needle_progress"][1] < c["needle_progress"][2] == 1.0
    assert c["contrast_ml"][0] == 0.0 and c["contrast_ml"][2] == lumbar.patient.contrast_ml
    s = sequence.content_at(preset_params("barium_swallow"), [0.0, 6.0, 100.0])
    assert s["contrast_ml"][0] == 0.0 < s["contrast_ml"][1]  # the bolus on its way down
    assert s["contrast_ml"][2] == 0.0  # 95 s after the first swallow: between two boluses


@pytest.mark.parametrize("name", ["lumbar_spine", "swallow"])
def test_new_phantoms_run_through_the_chain(name):
    import sim

    p = Params().replace(
        **{"patient.phantom": name, "patient.contrast_ml": 3.0, "run.image_px": 96}
    )
    r = sim.simulate(p)
    assert np.isfinite(np.asarray(r.image)).all()
    for key in ("snr", "cnr", "contrast", "receptor_nGy_per_frame"):
        assert math.isfinite(r.metrics[key]), key
    assert r.metrics["contrast"] > 0.0  # contrast (iodine or barium) darker than background


def test_a_texture_varies_the_density_not_the_chord_and_keeps_the_mean():
    """Textured cancellous bone: its own path is modulated (mean 1, spread ~ texture), the
    parent loses the plain chord, and the pattern is the same every time it is traced."""
    grid = DetectorGrid(128, 150.0)
    slab = ph.Slab(material="water", z0_mm=0.0, z1_mm=200.0)

    def maps(texture):
        ball = ph.Sphere(
            material="bone_cancellous",
            center_mm=(0.0, 0.0, 100.0),
            radius_mm=40.0,
            parent=0,
            texture=texture,
        )
        return ph.path_lengths(ph.Phantom("t", (slab, ball)), GEOM, grid)

    plain, textured = maps(0.0), maps(0.3)
    inside = plain["bone_cancellous"] > 10.0
    ratio = textured["bone_cancellous"][inside] / plain["bone_cancellous"][inside]
    assert ratio.mean() == pytest.approx(1.0, abs=0.03)
    assert ratio.std() == pytest.approx(0.3, rel=0.2)
    np.testing.assert_array_equal(textured["water"], plain["water"])
    ph.clear_caches()
    np.testing.assert_array_equal(maps(0.3)["bone_cancellous"], textured["bone_cancellous"])
    with pytest.raises(ValueError, match="texture"):
        ph.Sphere(material="bone_cancellous", center_mm=(0, 0, 0), radius_mm=1.0, texture=0.9)
