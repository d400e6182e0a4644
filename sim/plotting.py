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
