"""Phantoms as data: the registry, TOML phantom files, and what a run does with each phantom."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import phantoms, sequence
from sim.geometry import DetectorGrid, geometry_from
from sim.params import KNOBS, PHANTOMS, Params
from sim.phantoms.data import parse_phantom, register_text

GOOD = """
name = "test_discs"
label = "Two discs"
[body]
material = "water"
[[shape]]
type = "cylinder"
material = "Al"
start_mm = [0, 0, 10]
end_mm = [0, 0, 15]
radius_mm = 5.0
label = "disc"
[[shape]]
type = "sphere"
material = "bone_cortical"
center_mm = [30, 0, 50]
radius_mm = 8.0
label = "ball"
[[shape]]
type = "sphere"
material = "bone_cancellous"
center_mm = [30, 0, 50]
radius_mm = 6.0
parent = "ball"
[[roi]]
name = "signal"
center_mm = [0, 0, 12]
radius_mm = 3.0
[[roi]]
name = "background"
center_mm = [0, 0, 12]
radius_mm = 9.0
inner_mm = 7.0
"""


def _step_wedge_in_code(t_mm: float) -> phantoms.Phantom:
    """The step wedge as it was written in code before it became assets/phantoms/step_wedge.toml."""
    shapes = [phantoms.Slab(material="water", z0_mm=0.0, z1_mm=t_mm, label="body")]
    for i in range(11):
        al = 1.0 + 2.0 * i
        h = min(al, t_mm)
        cx = (i - 5) * 10.0
        shapes.append(
            phantoms.Box(
                material="Al",
                center_mm=(cx, 0.0, h / 2.0),
                size_mm=(10.0, 60.0, h),
                parent=0,
                feature_mm=2.0,
                label=f"step{i}",
            )
        )
    return phantoms.Phantom("step_wedge_code", tuple(shapes))


@pytest.mark.parametrize("thickness_cm", [2.0, 10.0])
def test_a_data_phantom_has_the_chord_lengths_of_the_same_shapes_in_code(thickness_cm):
    p = Params().replace(**{"patient.phantom": "step_wedge", "patient.thickness_cm": thickness_cm})
    g, grid = geometry_from(p), DetectorGrid(128, 300.0)
    from_file = phantoms.path_lengths(phantoms.build_phantom(p), g, grid)
    in_code = phantoms.path_lengths(_step_wedge_in_code(thickness_cm * 10.0), g, grid)
    assert set(from_file) == set(in_code) == {"water", "Al"}
    for m in in_code:
        np.testing.assert_allclose(from_file[m], in_code[m], rtol=1e-6, atol=1e-5)
    assert from_file["Al"].max() == pytest.approx(min(21.0, thickness_cm * 10.0), rel=0.02)


def test_a_users_phantom_file_is_simulated_and_named_in_the_knob(tmp_path):
    path = tmp_path / "discs.toml"
    path.write_text(GOOD, encoding="utf-8")
    e = phantoms.load_phantom_file(path)
    assert e.name == "test_discs" and "test_discs" in PHANTOMS
    assert "test_discs" in KNOBS["patient.phantom"].describe_range()
    r = sim.simulate(Params().replace(**{"patient.phantom": "test_discs", "run.image_px": 64}))
    assert r.metrics["signal_px"] > 0 and r.metrics["contrast"] > 0.05  # the Al disc shows
    ball = phantoms.make_phantom("test_discs").shapes[3]
    assert ball.parent == 2  # "ball" is shape 2 after the body slab


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('name = "test_discs"', ""), "name: missing"),
        (('name = "test_discs"', 'name = "two words"'), "name"),
        (('label = "Two discs"', "label = 3"), "label"),
        (("radius_mm = 5.0", 'radius_mm = "five"'), "shape[0].radius_mm"),
        (("start_mm = [0, 0, 10]", "start_mm = [0, 10]"), "shape[0].start_mm"),
        (('material = "Al"', 'material = "unobtainium"'), "shape[0].material"),
        (('type = "cylinder"', 'type = "torus"'), "shape[0].type"),
        (('parent = "ball"', 'parent = "nothing"'), "shape[2].parent"),
        (('label = "disc"', 'label = "disc"\ncolour = "red"'), "shape[0].colour"),
        (("radius_mm = 3.0", "radius_mm = -3.0"), "roi[0].radius_mm"),
        (('[body]\nmaterial = "water"', ""), "body"),
        (("radius_mm = 8.0", "radius_mm = nan"), "shape[1].radius_mm"),
        (("name = ", "name == "), "not valid TOML"),
    ],
)
def test_a_malformed_phantom_file_names_the_field(change, field):
    old, new = change
    assert old in GOOD
    with pytest.raises(ValueError, match="bad.toml") as exc:
        parse_phantom(GOOD.replace(old, new, 1), "bad.toml")
    assert field in str(exc.value)


def test_a_file_cannot_take_a_built_in_phantoms_name():
    with pytest.raises(ValueError, match="taken"):
        register_text(GOOD.replace("test_discs", "hip_injection"), "mine.toml")


def test_the_knob_the_app_and_make_phantom_read_the_one_registry():
    names = [e.name for e in phantoms.entries()]
    assert list(PHANTOMS) == names == list(KNOBS["patient.phantom"].choices)
    assert {"hip_injection", "lumbar_spine", "swallow", "step_wedge"} <= set(names)
    from classroom import controls

    for e in phantoms.entries():
        assert controls.choice_label("patient.phantom", e.name) == e.label


@pytest.mark.parametrize("name", [e.name for e in phantoms.entries()])
def test_a_short_run_shows_each_phantoms_needle_contrast_and_bolus(name):
    """Every registered phantom: a needle advances where it has one, iodinated contrast arrives
    where it takes it, a barium bolus passes where it swallows, and nothing moves elsewhere."""
    e = phantoms.entry(name)
    p = Params().replace(
        **{
            "patient.phantom": name,
            "patient.contrast_ml": 2.0,
            "run.fluoro_time_s": 6.0,
            "sequence.needle_s": 3.0,
            "sequence.inject_s": 3.0,
            "sequence.fill_s": 2.0,
            "run.image_px": 64,
        }
    )
    c = sequence.content_at(p, np.linspace(0.0, 6.0, 61))
    assert (np.ptp(c["needle_progress"]) > 0.5) == (e.needle or e.bolus), name
    assert (c["contrast_ml"][0] == 0.0 and c["contrast_ml"][-1] > 0) == e.iodine, name
    if e.bolus:
        assert c["contrast_ml"].max() > 0.0 and c["contrast_ml"][0] == 0.0
    r = sim.run(p.replace(**{"run.fluoro_time_s": 1.0, "sequence.needle_s": 0.5}))
    assert r.frames.shape[0] > 0 and np.isfinite(r.dose["kar_mGy"])
    if e.needle:
        assert "needle_tip" in {roi.name for roi in phantoms.build_phantom(p).rois}


def test_the_command_line_loads_a_phantom_file(tmp_path, capsys):
    from sim.__main__ import main

    path = tmp_path / "discs.toml"
    path.write_text(GOOD.replace("test_discs", "cli_discs"), encoding="utf-8")
    args = ["run", "--phantom-file", str(path), "--set", "patient.phantom=cli_discs"]
    assert main([*args, "--set", "run.image_px=64", "--json"]) == 0
    assert '"cnr"' in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("radius_mm = 5.0", 'radius_mm = "five"'), encoding="utf-8")
    assert main(["run", "--phantom-file", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "shape[0].radius_mm" in err and len(err.splitlines()) == 1
