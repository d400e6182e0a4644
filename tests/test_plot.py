"""Plots of sweeps: any column against another from the command line, and the teaching
figures, with labelled axes and units, as PNG and SVG."""

import pytest

import sim
from sim.__main__ import main
from sim.plotting import TEACHING_FIGURES, sweep_figure, teaching_figure

FAST = sim.Params().replace(**{"run.image_px": 64, "abc.enabled": False})


@pytest.fixture(scope="module")
def sweep_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "sweep.csv"
    args = ["sweep", "--vary", "tube.kvp=60:90:10", "--vary", "filtration.cu_mm=0,0.3"]
    args += ["--set", "abc.enabled=false", "--set", "run.image_px=64", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    return out


def test_cli_plot_writes_png_and_svg_with_labelled_axes(sweep_csv, capsys):
    args = ["plot", str(sweep_csv), "--x", "tube.kvp", "--y", "metrics.cnr"]
    assert main([*args, "--hue", "filtration.cu_mm"]) == 0
    png, svg = sweep_csv.with_suffix(".png"), sweep_csv.with_suffix(".svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    for label in ("Tube potential [kV]", "Contrast-to-noise ratio", "Added copper"):
        assert label in text
    out = sweep_csv.with_name("kar.pdf")
    assert (
        main(["plot", str(sweep_csv), "--x", "tube.kvp", "--y", "dose.kar_mGy", "--out", str(out)])
        == 0
    )
    assert out.read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--x", "tube.kvp", "--y", "metrics.cnrr"], "did you mean metrics.cnr"),
        (["--x", "tube.kvp", "--y", "dose.region"], "not a numeric column"),
        (["--x", "tube.kvp", "--y", "metrics.cnr", "--hue", "grid.enabled"], "--hue"),
        (["--x", "tube.kvp"], "--x and --y"),
        (["--x", "tube.kvp", "--y", "metrics.cnr", "--out", "a.gif"], ".png, .svg or .pdf"),
    ],
)
def test_cli_plot_bad_input_exits_2_with_one_line(sweep_csv, capsys, extra, needle):
    assert main(["plot", str(sweep_csv), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_a_missing_sweep_file_exits_2(capsys, tmp_path):
    assert main(["plot", str(tmp_path / "no.csv"), "--x", "a", "--y", "b"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_sweep_figure_draws_one_line_per_hue_value():
    df = sim.sweep(FAST, {"tube.kvp": [60.0, 80.0], "grid.enabled": [True, False]})
    ax = sweep_figure(df, "tube.kvp", "dose.kar_rate_mGy_per_min", "grid.enabled").axes[0]
    assert len(ax.get_lines()) == 2
    assert ax.get_xlabel() == "Tube potential [kV]"
    assert ax.get_ylabel() == "Ka,r rate [mGy/min]"


@pytest.mark.parametrize("name", list(TEACHING_FIGURES))
def test_teaching_figures(name, tmp_path):
    fig, df = teaching_figure(name, image_px=64)
    ax = fig.axes[0]
    assert "[" in ax.get_xlabel() and ax.get_ylabel() and df["error"].isna().all()
    if name == "iodine_cnr":  # Cu improves iodine CNR² per skin dose at 80-100 kV
        y = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
        assert y["0.6"][4] > y["0"][4]  # 90 kV
    if name == "abc_thickness":  # kVp rises with thickness; the rate stops at the limit
        assert fig.axes[1].get_ylabel() == "Tube potential [kV]"
        assert df["dose.kar_rate_mGy_per_min"].max() <= 88.0 * 1.001
    if name == "spr_field":
        grid = df[df["grid.enabled"]]["metrics.spr_after_grid"].to_numpy()
        assert (grid[1:] > grid[:-1]).all()
    if name == "dqe_dose":
        assert ax.get_xscale() == "log"
    assert main(["plot", "--figure", name, "--px", "64", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / f"{name}.png").exists() and (tmp_path / f"{name}.svg").exists()
