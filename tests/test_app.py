"""The Streamlit app, driven headless with streamlit.testing.v1.AppTest."""

from pathlib import Path

import pytest

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at, label_start):
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def test_spectrum_figures_follow_the_sliders(app):
    """More copper hardens the beam: HVL1 rises and output falls (issue 2, item 5)."""
    hvl0 = float(metric(app, "HVL1"))
    kerma0 = float(metric(app, "Air kerma"))
    app.slider(key="filtration.cu_mm").set_value(0.5).run()
    assert not app.exception
    assert float(metric(app, "HVL1")) > hvl0 * 1.2
    assert float(metric(app, "Air kerma")) < kerma0 * 0.6
    app.slider(key="filtration.cu_mm").set_value(0.1).run()


def test_every_widget_comes_from_the_knob_table(app):
    from sim.params import KNOBS

    keys = [w.key for w in (*app.slider, *app.checkbox, *app.selectbox)]
    assert keys and all(k in KNOBS for k in keys if k != "preset")
    kvp = app.slider(key="tube.kvp")
    assert (kvp.min, kvp.max, kvp.value) == (40.0, 150.0, 80.0) and "[kV]" in kvp.label


def test_image_stages_and_dose_are_shown(app):
    # the displayed image plus one image per stage
    captions = [i.proto.imgs[0].caption for i in app.get("image")]
    for stage in ("primary", "scatter", "after grid", "absorbed", "noisy", "processed"):
        assert stage in captions
    labels = [m.label for m in app.metric]
    assert "Ka,r rate [mGy/min]" in labels and "KAP [Gy·cm²]" in labels
    assert float(metric(app, "Ka,r rate")) > 0


def test_image_changes_when_the_phantom_changes(app):
    before = app.get("image")[0].proto.imgs[0].url
    app.selectbox(key="patient.phantom").set_value("water_slab").run()
    assert not app.exception
    after = app.get("image")[0].proto.imgs[0].url
    assert after != before
    app.selectbox(key="patient.phantom").set_value("hip_injection").run()


def test_inconsistent_geometry_is_a_message_not_a_traceback(app):
    app.slider(key="patient.thickness_cm").set_value(40.0).run()
    assert not app.exception
    assert any("geometry.sid_cm" in e.value for e in app.error)
    app.slider(key="patient.thickness_cm").set_value(22.0).run()
    assert not app.error


def test_engine_never_imports_streamlit():
    import ast

    for path in (Path(APP).parent / "sim").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "streamlit" for n in names), path


def test_a_scenario_sets_the_widgets_and_its_text_shows(app):
    from sim.presets import PRESETS

    app.selectbox(key="preset").set_value("paediatric").run()
    assert not app.exception
    want = PRESETS["paediatric"].params()
    assert app.checkbox(key="grid.enabled").value is want.grid.enabled is False
    assert app.slider(key="patient.thickness_cm").value == want.patient.thickness_cm
    assert any(PRESETS["paediatric"].text[:40] in i.value for i in app.info)
    app.selectbox(key="preset").set_value(app.selectbox(key="preset").options[0]).run()
    assert app.checkbox(key="grid.enabled").value is True


def test_the_run_tab_plays_a_procedure_and_shows_its_dose(app):
    app.number_input(key="run.fluoro_time_s").set_value(2.0).run()
    app.button(key="run_button").click().run()
    assert not app.exception
    assert float(metric(app, "Run Ka,r")) > 0
    assert any("last-image hold" in (i.proto.imgs[0].caption or "") for i in app.get("image"))
    app.number_input(key="run.fluoro_time_s").set_value(60.0).run()
