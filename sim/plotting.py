"""Matplotlib figures of results (never imports streamlit; uses ``Figure``, not pyplot).

Streamlit closes every pyplot figure after each run of each session, so figures are built from
``matplotlib.figure.Figure`` directly (docs/references.md [StreamlitNotes]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

FIGSIZE_IN = (6.4, 3.4)


def spectrum_figure(
    spectra: Mapping[str, object],
    *,
    per_mas: bool = True,
    normalise: bool = False,
    log: bool = False,
    e_min_keV: float = 0.0,
) -> Figure:
    """Spectra as step curves: photons per mm^2 per keV per mAs at 100 cm.

    Parameters
    ----------
    spectra
        Label -> ``sim.spectrum.Spectrum``.
    per_mas
        Label the axis per mAs (spectra straight from the tube model) [-].
    normalise
        Scale each spectrum to a peak of 1, to compare shapes [-].
    log
        Logarithmic fluence axis spanning four decades below the highest curve, so that a
        heavily filtered beam stays visible beside the unfiltered one [-].
    e_min_keV
        Lowest energy shown (the tungsten L lines near 10 keV dwarf everything else) [keV].
    """
    fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
    ax = fig.add_subplot()
    top = 0.0
    for label, s in spectra.items():
        y = s.fluence / np.gradient(s.energy_keV)
        shown = s.energy_keV >= e_min_keV
        if normalise and y[shown].max() > 0:
            y = y / y[shown].max()
        top = max(top, float(y[shown].max()))
        ax.step(s.energy_keV, y, where="mid", label=label, lw=1.2)
    ax.set_xlabel("photon energy [keV]")
    unit = "photons / (mm² keV mAs) at 100 cm" if per_mas else "photons / (mm² keV)"
    if normalise:
        unit = "relative fluence per keV"
    ax.set_ylabel(unit)
    ax.set_xlim(e_min_keV, max(float(s.kvp) for s in spectra.values()) + 5)
    if log and top > 0:
        ax.set_yscale("log")
        ax.set_ylim(top * 1e-4, top * 2.0)
    else:
        ax.set_ylim(0, top * 1.05 if top > 0 else 1)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def series_figure(
    t_s: np.ndarray, curves: Mapping[str, np.ndarray], ylabel: str, limits: Sequence = ()
) -> Figure:
    """Curves against time, with optional horizontal limit lines (label, value).

    Parameters
    ----------
    t_s
        Times [s].
    curves
        Label -> values, same length as ``t_s``.
    ylabel
        Axis label with unit.
    limits
        Pairs (label, value) drawn as dashed lines.
    """
    fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
    ax = fig.add_subplot()
    for label, y in curves.items():
        ax.plot(t_s, y, label=label, lw=1.5)
    for label, value in limits:
        ax.axhline(value, ls="--", lw=1, color="tab:red")
        ax.annotate(label, (t_s[0] if len(t_s) else 0, value), va="bottom", fontsize=8)
    ax.set_xlabel("time [s]")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def to_uint8(img: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """Scale any image to 8 bits between two percentiles, for showing a stage.

    Parameters
    ----------
    img
        2-D image, any units.
    lo_pct, hi_pct
        Percentiles mapped to 0 and 255 [%].
    """
    a = np.asarray(img, dtype=np.float32)
    sample = a[:: max(1, a.shape[0] // 128), :: max(1, a.shape[1] // 128)]
    lo, hi = np.percentile(sample, [lo_pct, hi_pct])
    if not hi > lo:
        hi = lo + 1.0
    return (np.clip((a - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# sweeps: any two columns, and the ready-made teaching figures
# --------------------------------------------------------------------------------------------
MAX_HUES = 12
"""Most lines one sweep figure draws (one per value of the hue column) [-]."""


def axis_label(name: str, units: Mapping[str, str] | None = None) -> str:
    """``label [unit]`` of a sweep column (a knob or a reported quantity), else the name."""
    from sim.sweep import column_of

    try:
        col = column_of(name)
    except ValueError:
        unit = (units or {}).get(name, "")
        return f"{name} [{unit}]" if unit else name
    return col.heading


def _value_text(v: object) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        from sim.quantities import significant

        return significant(float(v), 3)
    return str(v)


def sweep_figure(
    df,
    x: str,
    y: str,
    hue: str | None = None,
    *,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
    ylabel: str | None = None,
) -> Figure:
    """One line of ``y`` against ``x`` per value of ``hue``, axes labelled with units.

    Rows with an ``error`` are left out; where several rows share an ``x`` (and hue), their
    mean is drawn (other knobs varied too) and the legend says so.

    Parameters
    ----------
    df : pandas.DataFrame
        A sweep (:func:`sim.sweep.sweep`, :func:`sim.sweep.read_table`).
    x, y, hue : str
        Column names (``tube.kvp``, ``metrics.cnr``, ``filtration.cu_mm``).
    logx, logy : bool
        Logarithmic axes.
    title, ylabel : str, optional
        Figure title; y-axis label instead of the column's.

    Raises
    ------
    ValueError
        A column missing or not numeric, or too many hue values.
    """
    import pandas as pd

    for role, name in (("--x", x), ("--y", y), ("--hue", hue)):
        if name is not None and name not in df.columns:
            import difflib

            near = difflib.get_close_matches(name, [str(c) for c in df.columns], 3, 0.5)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            raise ValueError(f"{role} {name!r}: no such column in the sweep{hint}")
    data = df
    if "error" in df.columns:
        data = df[df["error"].isna() | (df["error"].astype(str) == "")]
    for role, name in (("--x", x), ("--y", y)):
        if not pd.api.types.is_numeric_dtype(data[name]) or pd.api.types.is_bool_dtype(data[name]):
            raise ValueError(f"{role} {name!r}: not a numeric column")
    groups = [(None, data)] if hue is None else list(data.groupby(hue, sort=True))
    if len(groups) > MAX_HUES:
        raise ValueError(f"--hue {hue!r}: {len(groups)} values, more than {MAX_HUES} lines")
    units = getattr(df, "attrs", {}).get("units", {})
    fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
    ax = fig.add_subplot()
    averaged = False
    for value, g in groups:
        g = g[[x, y]].dropna()
        if g.empty:
            continue
        averaged |= bool(g[x].duplicated().any())
        line = g.groupby(x, sort=True)[y].mean()
        label = None if hue is None else _value_text(value)
        ax.plot(line.index.to_numpy(float), line.to_numpy(float), marker="o", ms=3, label=label)
    ax.set_xlabel(axis_label(x, units))
    ax.set_ylabel(ylabel or axis_label(y, units))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if hue is not None:
        extra = "\n(mean over the other knobs)" if averaged else ""
        ax.legend(title=axis_label(hue, units) + extra, frameon=False, fontsize=8, title_fontsize=8)
    elif averaged:
        ax.set_title("mean over the other knobs", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


TEACHING_FIGURES = {
    "iodine_cnr": "Iodine CNR² per skin dose against kVp at several Cu filters",
    "abc_thickness": "Ka,r rate and kVp against patient thickness under ABC",
    "spr_field": "Scatter-to-primary ratio against field size, with and without the grid",
    "dqe_dose": "DQE(0) against receptor air kerma per frame",
}
"""Name -> title of the ready-made teaching figures (:func:`teaching_figure`)."""


def teaching_figure(name: str, *, image_px: int = 128, jobs: int = 1) -> tuple[Figure, object]:
    """Run the sweep behind a teaching figure and draw it.

    Parameters
    ----------
    name : str
        One of :data:`TEACHING_FIGURES`.
    image_px : int
        Image side of the simulations [px] (the figures' numbers barely depend on it).
    jobs : int
        Local worker processes.

    Returns
    -------
    Figure, pandas.DataFrame
        The figure and the sweep it shows.
    """
    import sim
    from sim.dose import kar_rate_limit_mGy_per_min
    from sim.params import Params

    if name not in TEACHING_FIGURES:
        raise ValueError(f"unknown figure {name!r}: expected one of {', '.join(TEACHING_FIGURES)}")
    title = TEACHING_FIGURES[name]
    manual = Params().replace(**{"abc.enabled": False, "run.image_px": image_px})
    if name == "iodine_cnr":
        base = manual.replace(**{"patient.phantom": "vessels", "patient.thickness_cm": 20.0})
        vary = {
            "tube.kvp": [50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0],
            "filtration.cu_mm": [0.0, 0.1, 0.3, 0.6],
            "run.seed": list(range(1, 13)),  # CNR from one noisy frame scatters: average 12
        }
        df = sim.sweep(base, vary, jobs=jobs)
        df["cnr2_per_skin_mGy"] = df["metrics.cnr"] ** 2 / df["dose.skin_dose_mGy"]
        df.attrs["units"]["cnr2_per_skin_mGy"] = "1/mGy"
        fig = sweep_figure(
            df,
            "tube.kvp",
            "cnr2_per_skin_mGy",
            "filtration.cu_mm",
            title=title + "\n(iodine vessel phantom, 20 cm, fixed mAs, mean of 12 frames)",
            ylabel="CNR² per entrance skin dose [1/mGy]",
        )
        return fig, df
    if name == "abc_thickness":
        base = Params().replace(**{"run.image_px": image_px, "patient.phantom": "water_slab"})
        thick = [10.0 + 2.5 * i for i in range(12)]  # 10-37.5 cm
        df = sim.sweep(base, {"patient.thickness_cm": thick}, jobs=jobs)
        fig = sweep_figure(df, "patient.thickness_cm", "dose.kar_rate_mGy_per_min", title=title)
        ax = fig.axes[0]
        limit = kar_rate_limit_mGy_per_min(False)
        ax.axhline(limit, ls="--", lw=1, color="tab:red")
        ax.annotate(f"{limit:g} mGy/min limit", (thick[0], limit), va="bottom", fontsize=8)
        ax.lines[0].set_label("Ka,r rate")
        right = ax.twinx()
        right.plot(thick, df["technique.kvp"], color="tab:orange", marker="s", ms=3, label="kVp")
        right.set_ylabel(axis_label("technique.kvp"))
        handles = ax.get_lines()[:1] + right.get_lines()
        ax.legend(handles, [h.get_label() for h in handles], frameon=False, fontsize=8)
        return fig, df
    if name == "spr_field":
        base = manual.replace(**{"patient.phantom": "water_slab", "patient.thickness_cm": 20.0})
        vary = {
            "geometry.field_cm": [5.0, 10.0, 15.0, 20.0, 25.0, 30.0],
            "grid.enabled": [False, True],
        }
        df = sim.sweep(base, vary, jobs=jobs)
        fig = sweep_figure(
            df,
            "geometry.field_cm",
            "metrics.spr_after_grid",
            "grid.enabled",
            title=title + " (20 cm water)",
            ylabel="SPR at the receptor (after the grid, if in)",
        )
        return fig, df
    base = manual.replace(**{"patient.phantom": "water_slab", "patient.thickness_cm": 20.0})
    vary = {
        "tube.ma": [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
        "receptor.electronic_noise_e": [500.0, 1500.0, 5000.0],
    }
    df = sim.sweep(base, vary, jobs=jobs)
    fig = sweep_figure(
        df,
        "metrics.receptor_nGy_per_frame",
        "metrics.dqe0",
        "receptor.electronic_noise_e",
        logx=True,
        title=title + " (80 kV, 20 cm water, mA varied)",
    )
    return fig, df
