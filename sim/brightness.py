"""Automatic brightness (dose-rate) control: hold the receptor air kerma per frame.

The ABC holds a target receptor air kerma per frame by moving along an operating curve: a
table of nodes (kVp, Cu, mA, pulse width) ordered so that every step raises the receptor
signal (more mA x ms, more kV, less Cu). A scalar effort ``s`` in [0, n_nodes - 1] picks a
point on the curve (kV and Cu linear, mA and pulse width geometric between nodes). The
receptor kerma is monotone in ``s``, so the controller solves ``log(K_receptor(s) / target)
= 0`` on ``s`` by secant steps kept inside the bracket found so far (regula falsi, Illinois
variant, as the safeguard), starting from the curve's second node with prior slopes from the
node table: 2-4 measurements for a 10-28 cm water slab, 6-8 when the limit bites. If the Ka,r
rate at the solution exceeds the limit (88 mGy/min, 176 with high-level control), it solves
``Ka,r rate(s) = limit`` instead, from below and from a fixed start, and reports
``limited=True`` with the shortfall (achieved / target): past that point the image simply
gets noisier. If even the bottom of the curve exceeds the limit (a source close to the IRP and
no filtration), the current is lowered below the curve until the rate is under the limit. If
the end of the curve (tube limits: the curve's own caps and the ratings of ``sim.tube``)
cannot reach the target, it stays there and reports ``tube_limited``.

Targets: low 20, normal 40, high 80 nGy per frame at the receptor input at 15 pulses/s for a
flat panel (typical flat-panel fluoroscopy 10-100 nGy per pulse, "normal" presets 20-50; FANC
acceptance limit 1.5 uGy/s = 100 nGy per frame at 15 pulses/s), scaled by
``(15 / rate)^abc.rate_exponent`` (dose per pulse raised at low pulse rates, as real systems
do) and, for an image intensifier, by ``(40 cm / FOV)^2`` (the brightness gain falls with the
minified input area, so ABC raises the input dose in the magnified modes).

Curves (node tables below; numbers are guesses modelled on typical vendor curves, marked):

- ``standard``: at 70 kV raise mA x ms first, then kV and mA x ms together up to 125 kV,
  with the Cu of ``filtration.cu_mm``, dropped to 0 at the very end;
- ``low_dose``: 0.6 mm Cu and higher kV throughout; Cu dropped last (0.3, 0.1, 0);
- ``iodine`` (cardiac and angiographic): kV held at 70 kV, in the iodine band (K edge at
  33.2 keV), with its own copper schedule: a thin patient is imaged through 0.9 mm Cu while
  mA x ms rises; then the Cu comes out step by step (0.6, 0.3, 0.2, 0.1, 0 mm) at the
  highest mA x ms, and only once it is out does the kV rise, as a last resort. This is the
  spectral-filter logic of the automatic dose-rate control of cardiovascular angiography
  systems [6], [7]: the filter is the first thing given up for a thicker patient, the low kV
  that keeps the iodine contrast the last. Real systems switch between discrete filters; here
  the Cu is interpolated between the nodes so that the receptor signal is continuous.

``low_dose`` and ``iodine`` set their own Cu (:func:`curve_sets_cu`); ``standard`` uses the
Cu of ``filtration.cu_mm``.

References
----------
.. [1] US FDA 21 CFR 1020.32(e) (air kerma rate limits; automatic exposure rate control).
.. [2] J.T. Bushberg, J.A. Seibert, E.M. Leidholdt, J.M. Boone, *The Essential Physics of
   Medical Imaging*, 3rd ed., ch. 9 (fluoroscopy: ABC curves, receptor dose per frame,
   magnification modes and image-intensifier brightness gain).
.. [3] FANC (Belgium) acceptance criteria for fluoroscopy (image-receptor air kerma
   rate <= 1.5 uGy/s) — docs/references.md [FANC], [Tab-ReceptorDose].
.. [4] S. Balter, "Fluoroscopic frame rates: not only dose", AJR 203 (2014) W234 (dose per
   pulse and pulse rate set independently); R. Aufrichtig et al., "Perceptual comparison of
   pulsed and continuous fluoroscopy", Med. Phys. 21 (1994) 245 (dose for equal perception
   at lower pulse rates).
.. [5] M. Dowell, P. Jarratt, "A modified regula falsi method for computing the root of an
   equation", BIT 11 (1971) 168-174 (the Illinois algorithm).
.. [6] P. Rauch, P.-J. P. Lin, S. Balter et al., "Functionality and operation of fluoroscopic
   automatic brightness control/automatic dose rate control logic in modern cardiovascular
   and interventional angiography systems: a report of AAPM Task Group 125", Med. Phys. 39
   (2012) 2826-2828 (AAPM Report 125): spectral shaping (Cu) filters selected by the
   automatic dose-rate control, thickest for thin patients and reduced as the attenuation
   grows (docs/references.md [Rauch2012]).
.. [7] L. Sukupova, "Exposure parameters of cine mode and fluoroscopy mode of the angiography
   system", Ces. Radiol. 67 (2013) 232-237 (Siemens Axiom Artis: with phantom thickness the
   ABC raises the tube current, then current and pulse width at constant kV; when the kV
   rises, the added filtration is lowered) (docs/references.md [Sukupova2013]).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from scipy.optimize import brentq

from sim import receptor
from sim.dose import IRP_FROM_ISOCENTRE_CM, kar_rate_limit_mGy_per_min, table_layers
from sim.params import (
    CONTINUOUS_FRAME_RATE_PPS,
    Params,
    Technique,
    technique_from,
)
from sim.tube import max_ma
from sim.units import MM_PER_CM, MS_PER_S, NGY_PER_UGY, S_PER_MIN, UGY_PER_MGY

TARGET_NGY_PER_FRAME = {"low": 20.0, "normal": 40.0, "high": 80.0}
"""Receptor air kerma per frame at 15 pulses/s, flat panel [nGy] (docs/references.md
[Tab-ReceptorDose], status R)."""

REFERENCE_RATE_PPS = 15.0
"""Pulse rate at which the targets apply [1/s]."""

II_REFERENCE_FOV_CM = 23.0
"""Field of view at which the image intensifier's target equals the flat panel's (the 9-inch
mode, the field at which II input dose rates are usually quoted); smaller modes ask more as
(23 / FOV)^2, larger ones less [cm]. With it a 23 cm mode asks 40 nGy per frame at 15 p/s
(0.6 uGy/s) and 28 nGy at 30 p/s (0.85 uGy/s): inside the textbook II input range of 10-50
nGy per frame and below the FANC limit of 1.5 uGy/s down to the 15 cm mode (docs/references.md
[Tab-ReceptorDose]). The anchor at 23 cm is a guess; II and flat panel then need similar Ka,r
rates at the same field, as published comparisons find."""

MA_MAX_PULSED = 100.0
"""Highest tube current of the pulsed-fluoroscopy curves [mA]. guess (fluoro, not cine)."""

PULSE_MS_MAX = 20.0
"""Longest pulse of the curves [ms]. guess (motion blur limit)."""

MA_MAX_CONTINUOUS = 10.0
"""Highest tube current of the curves in continuous fluoroscopy [mA]. guess (typical 1-5 mA;
the tube's own ratings, ``sim.tube``, allow more)."""

TARGET_TOLERANCE = 0.02
"""Relative tolerance on the receptor target and (from below) on the Ka,r-rate limit [-]."""

MAX_MEASUREMENTS = 40
"""Most calls of ``measure`` in one solve [-]."""

BELOW_CURVE_TRIES = 3
"""Most current reductions below the bottom of the curve when even it exceeds the Ka,r-rate
limit (one suffices: Ka,r is proportional to mA) [-]."""

LIMIT_SEARCH_START = 3.0
"""Fixed starting effort of the Ka,r-limit search (its answer must not depend on the patient)."""

GRID_PRIMARY_TRANSMISSION = 0.7
"""Grid primary transmission in :func:`slab_measure` [-] ([R] Tp 0.6-0.75, docs/references.md
[Tab-ScatterGrid])."""


@dataclass(frozen=True)
class Measurement:
    """What the chain measures for a technique in the ABC sensing region.

    Attributes
    ----------
    receptor_nGy_per_frame : float
        Receptor input air kerma per frame in the central region [nGy].
    kar_rate_mGy_per_min : float
        Reference air kerma rate at the IRP [mGy/min].
    """

    receptor_nGy_per_frame: float
    kar_rate_mGy_per_min: float


@dataclass(frozen=True)
class Node:
    """One operating point of an ABC curve: kVp [kV], Cu [mm], mA [mA], pulse width [ms]."""

    kvp: float
    cu_mm: float
    ma: float
    pulse_ms: float


@dataclass(frozen=True)
class AbcResult:
    """Outcome of automatic brightness control.

    Attributes
    ----------
    technique : sim.params.Technique
        Technique chosen.
    receptor_nGy_per_frame : float
        Receptor air kerma per frame achieved [nGy].
    target_nGy_per_frame : float
        Target receptor air kerma per frame [nGy].
    kar_rate_mGy_per_min : float
        Reference air kerma rate at the chosen technique [mGy/min].
    limited : bool
        True when the Ka,r-rate limit stopped the control short of the target.
    iterations : int
        Calls of ``measure`` [-].
    curve : str
        Curve name (``"manual"`` when ABC is off).
    shortfall : float
        Achieved / target receptor kerma (1 when the target is met) [-].
    effort : float
        Position on the curve, 0 .. n_nodes - 1 [-].
    limit_mGy_per_min : float
        Air-kerma-rate limit in force [mGy/min].
    tube_limited : bool
        True when the end of the curve (tube limits) could not reach the target.
    message : str
        One sentence for the user.
    """

    technique: Technique
    receptor_nGy_per_frame: float
    target_nGy_per_frame: float
    kar_rate_mGy_per_min: float
    limited: bool
    iterations: int
    curve: str
    shortfall: float
    effort: float
    limit_mGy_per_min: float
    tube_limited: bool = False
    message: str = ""


# --------------------------------------------------------------------------- curves

# guess: node tables modelled on typical vendor ABC curves (Bushberg ch. 9 figures); kVp [kV],
# mA [mA], pulse [ms]. "cu" marks the Cu of filtration.cu_mm.
_STANDARD = (
    (70.0, "cu", 0.5, 2.0),
    (70.0, "cu", 12.0, 8.0),  # mA x ms first, at 70 kV
    (80.0, "cu", 20.0, 8.0),
    (90.0, "cu", 32.0, 10.0),
    (100.0, "cu", 50.0, 12.0),
    (110.0, "cu", 75.0, 14.0),
    (120.0, "cu", 100.0, 17.0),
    (125.0, "cu", 100.0, 20.0),
    (125.0, 0.0, 100.0, 20.0),  # last resort: Cu out
)
_LOW_DOSE = (
    (75.0, 0.6, 1.0, 2.0),
    (75.0, 0.6, 20.0, 8.0),
    (85.0, 0.6, 32.0, 8.0),
    (95.0, 0.6, 50.0, 10.0),
    (105.0, 0.6, 70.0, 12.0),
    (115.0, 0.6, 90.0, 16.0),
    (125.0, 0.6, 100.0, 20.0),
    (125.0, 0.3, 100.0, 20.0),  # Cu dropped last
    (125.0, 0.1, 100.0, 20.0),
    (125.0, 0.0, 100.0, 20.0),
)
# Iodine (cardiac, angiography): the spectral-filter logic of TG-125 [6], [7]. Its own Cu: the
# filter steps 0.9/0.6/0.3/0.2/0.1 mm are those of common cardiac systems and of the engine's
# E/KAP source (Vano et al.: 0, 0.1, 0.4, 0.9 mm); 70 kV, pulses <= 10 ms while the Cu is in
# (coronary motion) and the node mA values are guesses.
_IODINE = (
    (70.0, 0.9, 1.0, 2.0),
    (70.0, 0.9, 25.0, 5.0),
    (70.0, 0.9, 100.0, 10.0),  # mA x ms first, with 0.9 mm Cu in the beam
    (70.0, 0.6, 100.0, 10.0),  # then the Cu out, step by step, kV held
    (70.0, 0.3, 100.0, 10.0),
    (70.0, 0.2, 100.0, 10.0),
    (70.0, 0.1, 100.0, 10.0),
    (70.0, 0.0, 100.0, 10.0),
    (80.0, 0.0, 100.0, 12.0),  # kV up only once the Cu is out (last resort)
    (95.0, 0.0, 100.0, 16.0),
    (110.0, 0.0, 100.0, 20.0),
    (125.0, 0.0, 100.0, 20.0),
)
_CURVES = {"standard": _STANDARD, "low_dose": _LOW_DOSE, "iodine": _IODINE}
CURVE_NAMES = tuple(_CURVES)


def curve_sets_cu(curve: str) -> bool:
    """Whether an ABC curve sets its own Cu (``filtration.cu_mm`` then has no effect).

    Parameters
    ----------
    curve : str
        ``standard``, ``low_dose`` or ``iodine``.

    Returns
    -------
    bool
        True for ``low_dose`` and ``iodine`` (Cu schedules of their own), False for
        ``standard`` (the Cu of ``filtration.cu_mm``, removed only at the end).

    References
    ----------
    Rauch et al., Med. Phys. 39 (2012) 2826 (AAPM TG-125: the automatic dose-rate control of
    angiography systems selects the spectral filter; docs/references.md [Rauch2012]).
    """
    if curve not in _CURVES:
        raise ValueError(f"curve={curve!r} is invalid: expected one of {', '.join(_CURVES)}")
    return all(cu != "cu" for _, cu, _, _ in _CURVES[curve])


ABC_OWNED = ("tube.kvp", "tube.ma", "tube.pulse_ms")
"""Knobs that ABC always sets while it is on (Cu too on the curves of :func:`curve_sets_cu`)."""


def abc_owned(values: Any) -> tuple[str, ...]:
    """Knobs ABC sets under these values (none when ABC is off): their values are not used.

    Parameters
    ----------
    values : sim.Params or mapping
        Parameters, or a mapping with at least ``abc.enabled`` and ``abc.curve``.

    Returns
    -------
    tuple of str
        ``tube.kvp``, ``tube.ma``, ``tube.pulse_ms``, and ``filtration.cu_mm`` on the curves
        that set their own Cu; empty when ABC is off.
    """
    get = values.get if hasattr(values, "get") else values.__getitem__
    if not get("abc.enabled"):
        return ()
    if curve_sets_cu(get("abc.curve")):
        return (*ABC_OWNED, "filtration.cu_mm")
    return ABC_OWNED


def check_not_abc_owned(names: Any, values: Any, hint: str = "--set abc.enabled=false") -> None:
    """Refuse setting by hand a knob that ABC sets under ``values`` (what you ask is what runs).

    Parameters
    ----------
    names : iterable of str
        Knobs the caller set or varies explicitly.
    values : sim.Params or mapping
        The parameters they are set in (see :func:`abc_owned`).
    hint : str
        How to switch ABC off, for the message (``--set abc.enabled=false`` on the command
        line, ``abc.enabled=False`` in Python).

    Raises
    ------
    ValueError
        One line: the first such knob, that ABC sets it, and how to set it by hand.
    """
    owned = abc_owned(values)
    for name in names:
        if name in owned:
            get = values.get if hasattr(values, "get") else values.__getitem__
            curve = get("abc.curve")
            why = f" on the {curve} curve" if name == "filtration.cu_mm" else ""
            raise ValueError(
                f"{name} is set by ABC while abc.enabled=true{why}, so a value given for it "
                f"would not be used: add {hint} to set it by hand"
            )


@lru_cache(maxsize=64)
def curve_nodes(curve: str, cu_mm: float = 0.1) -> tuple[Node, ...]:
    """Operating points of an ABC curve, in order of increasing receptor signal.

    Parameters
    ----------
    curve : str
        ``standard``, ``low_dose`` or ``iodine``.
    cu_mm : float
        Copper of ``filtration.cu_mm``, used where the curve keeps the user's Cu (the
        standard curve; ``low_dose`` and ``iodine`` set their own) [mm].

    Returns
    -------
    tuple[Node, ...]
        Nodes with non-decreasing kVp, mA and pulse width and non-increasing Cu (consecutive
        duplicates removed).

    References
    ----------
    Bushberg et al., *The Essential Physics of Medical Imaging*, ch. 9 (ABC curves); Rauch et
    al., Med. Phys. 39 (2012) 2826 (TG-125, the iodine curve's Cu logic); the node values are
    guesses (see the module docstring).
    """
    if curve not in _CURVES:
        raise ValueError(f"curve={curve!r} is invalid: expected one of {', '.join(_CURVES)}")
    if not (isinstance(cu_mm, (int, float)) and math.isfinite(cu_mm) and 0.0 <= cu_mm <= 1.0):
        raise ValueError(f"cu_mm={cu_mm!r} is out of range [0, 1] mm")
    nodes: list[Node] = []
    for kvp, cu, ma, ms in _CURVES[curve]:
        node = Node(kvp, float(cu_mm) if cu == "cu" else float(cu), ma, ms)
        if not nodes or node != nodes[-1]:
            nodes.append(node)
    return tuple(nodes)


def technique_at(params: Params, effort: float, nodes: Sequence[Node] | None = None) -> Technique:
    """Technique at a position on the ABC curve of ``params``.

    kVp and Cu are interpolated linearly between nodes, mA and pulse width geometrically.
    Continuous mode converts the node's mA x ms per frame to a continuous current at 30 frames/s,
    capped at ``MA_MAX_CONTINUOUS``. The ratings of the generator and tube cap mA at
    ``sim.tube.max_ma`` (generator power, energy per pulse, mean power at the pulse rate), so
    every technique of the curve is one the tube can deliver.

    Parameters
    ----------
    params : sim.params.Params
        Parameters (``abc.curve``, ``filtration.cu_mm``, ``tube.mode``, ``tube.pulse_rate_pps``).
    effort : float
        Position on the curve, 0 .. n_nodes - 1 [-].
    nodes : sequence of Node, optional
        Curve nodes (default: ``curve_nodes(params.abc.curve, params.filtration.cu_mm)``).

    Returns
    -------
    sim.params.Technique
        The technique.

    References
    ----------
    Bushberg et al., ch. 9 (ABC operating curves).
    """
    if nodes is None:
        nodes = curve_nodes(params.abc.curve, params.filtration.cu_mm)
    top = len(nodes) - 1
    s = float(effort)
    if not (math.isfinite(s) and 0.0 <= s <= top):
        raise ValueError(f"effort={effort!r} is out of range [0, {top}]")
    i = min(int(s), top - 1) if top > 0 else 0
    f = s - i if top > 0 else 0.0
    a, b = nodes[i], nodes[min(i + 1, top)]
    kvp = a.kvp + f * (b.kvp - a.kvp)
    cu = a.cu_mm + f * (b.cu_mm - a.cu_mm)
    ma = a.ma * (b.ma / a.ma) ** f
    pulse_ms = a.pulse_ms * (b.pulse_ms / a.pulse_ms) ** f
    base = technique_from(params)
    if base.continuous:
        frame_ms = MS_PER_S / CONTINUOUS_FRAME_RATE_PPS
        ma = min(ma * pulse_ms / frame_ms, MA_MAX_CONTINUOUS)
        pulse_ms = frame_ms
    ma = min(ma, max_ma(kvp, pulse_ms, base.pulse_rate_pps, base.continuous))
    return replace(base, kvp=kvp, cu_mm=cu, ma=ma, pulse_ms=pulse_ms)


# --------------------------------------------------------------------------- targets


def target_nGy_per_frame(params: Params) -> float:
    """Target receptor input air kerma per frame.

    target = base(mode) x (15 / rate)^abc.rate_exponent x the receptor's factor
    (:meth:`sim.receptor.Receptor.abc_target_factor`: (23 / FOV)^2 for the image intensifier,
    :data:`II_REFERENCE_FOV_CM`; 1 for the flat panel), with base = 20 / 40 / 80 nGy for low /
    normal / high and rate the pulse rate (30 frames/s in continuous mode).

    Parameters
    ----------
    params : sim.params.Params
        Parameters (``abc.mode``, ``abc.rate_exponent``, ``receptor.kind``,
        ``geometry.fov_cm``, ``tube.mode``, ``tube.pulse_rate_pps``).

    Returns
    -------
    float
        Target [nGy per frame].

    References
    ----------
    Bushberg et al., ch. 9 (typical 10-100 nGy per frame at the receptor; II brightness gain
    proportional to the minification (FOV)^2); FANC acceptance limit 1.5 uGy/s
    (docs/references.md [FANC]). The rate exponent is a knob: 0 keeps the dose per pulse (dose
    rate proportional to the pulse rate), 1 keeps the dose rate; real systems sit between
    (Aufrichtig et al. 1994; Balter 2014), the default 0.5 is a guess.
    """
    rate = technique_from(params).pulse_rate_pps
    target = TARGET_NGY_PER_FRAME[params.abc.mode]
    target *= (REFERENCE_RATE_PPS / rate) ** params.abc.rate_exponent
    rx = receptor.of(params.receptor, params.geometry.fov_cm)
    target *= rx.abc_target_factor(II_REFERENCE_FOV_CM)
    return target


# --------------------------------------------------------------------------- solver


def _check_measured(source: str, name: str, v: Any) -> float:
    if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{source}() returned {name}={v!r}: expected a finite number >= 0")
    return float(v)


def _check_measurement(m: Measurement) -> Measurement:
    for name in ("receptor_nGy_per_frame", "kar_rate_mGy_per_min"):
        _check_measured("measure", name, getattr(m, name, None))
    return m


# Heuristic slopes of log(signal) along a segment, used only as the first secant slope
# (they change the number of measurements, never the answer): receptor kerma ~ mAs x kV^4
# behind a thick patient, Ka,r ~ mAs x kV^2 (Bushberg et al., ch. 9 and 6), and 0.1 mm Cu
# costs about 25 % of the signal at 80 kV (guess).
_LOG_PER_MM_CU = 2.5
_KV_POWER = {"receptor": 4.0, "kar": 2.0}


def _prior_slopes(nodes: Sequence[Node], kind: str) -> tuple[float, ...]:
    """Expected d log(signal) / d effort on each segment (positive)."""
    out = []
    for a, b in zip(nodes[:-1], nodes[1:], strict=True):
        d = math.log((b.ma * b.pulse_ms) / (a.ma * a.pulse_ms))
        d += _KV_POWER[kind] * math.log(b.kvp / a.kvp) + _LOG_PER_MM_CU * (a.cu_mm - b.cu_mm)
        out.append(max(d, 0.05))
    return tuple(out)


class _Found(Exception):
    """Raised inside Brent's method when a point is accepted."""

    def __init__(self, x: float) -> None:
        self.x = x


def _secant(
    g: Callable[[float], float],
    top: float,
    x0: float,
    slopes: Sequence[float],
    accept: Callable[[float, float], bool],
    budget: Callable[[], bool],
    stop: Callable[[float], bool] = lambda x: False,
) -> tuple[float, float | None, float | None]:
    """Root of an increasing ``g`` on [0, top]: secant steps until bracketed, then Brent.

    Starts at ``x0`` and steps with the prior slope of its segment, then with the secant slope
    of the last two points, until the root is bracketed; then Brent's method (inverse
    quadratic interpolation, secant and bisection) inside the bracket. Returns (x, a, b): the
    accepted point (or the best point below the root when the budget runs out or an end of the
    curve is reached), and the bracket ends (None when unknown). ``stop(x)`` ends the search
    early at x.
    """
    a = b = None
    x = x0
    gx = g(x)

    def prior(at: float) -> float:
        return slopes[min(int(at), len(slopes) - 1)] if slopes else 1.0

    slope = prior(x)
    for _ in range(100):
        if accept(x, gx) or stop(x):
            return x, a, b
        if gx < 0:
            a = x
            if x >= top:
                return x, a, b  # end of the curve, still below the root
        else:
            b = x
            if x <= 0.0:
                return x, a, b  # bottom of the curve, still above the root
        if a is not None and b is not None:
            break
        if not budget():
            return x if a is None else a, a, b
        xn = min(max(x - gx / slope, 0.0), top)
        if xn == x:
            xn = top if gx < 0 else 0.0
        gn = g(xn)
        secant = (gn - gx) / (xn - x)
        slope = secant if secant > 0 else prior(xn)
        x, gx = xn, gn
    if a is None or b is None:
        return x, a, b
    below = [a]

    def f(xi: float) -> float:
        gi = g(xi)
        if accept(xi, gi) or stop(xi):
            raise _Found(xi)
        if gi < 0:
            below.append(xi)
        if not budget():
            raise _Found(max(below))
        return gi

    try:
        brentq(f, a, b, xtol=1e-9, rtol=1e-12, maxiter=100)
    except _Found as found:
        return found.x, a, b
    return max(below), a, b


def solve(
    params: Params,
    measure: Callable[[Technique], Measurement],
    kar: Callable[[Technique], float] | None = None,
) -> AbcResult:
    """Choose the technique that holds the receptor target, within tube and Ka,r-rate limits.

    Two one-dimensional searches along the curve. (1) Receptor target: a bracketed secant on
    ``log(K_receptor / target)`` from the curve's second node, accepted within 2 %. If a point
    below the target already exceeds the Ka,r-rate limit, or the accepted point does, (2) the
    limit: the same search on ``log(Ka,r rate / limit)``, accepted in [0.98, 1] x limit and
    started from a fixed point, so that its answer depends only on the Ka,r rate along the
    curve (the same technique for every patient past the limit).

    Parameters
    ----------
    params : sim.params.Params
        Parameters (``abc.*``, ``tube.*``, ``filtration.cu_mm``, ``receptor.kind``,
        ``geometry.fov_cm``).
    measure : callable
        ``measure(technique) -> Measurement``: receptor air kerma per frame in the sensing
        region and the Ka,r rate, as the chain computes them. Both must increase along the
        curve (they do for any patient: every step adds mAs or kV or removes Cu).

    Returns
    -------
    AbcResult
        Technique, achieved and target receptor kerma, Ka,r rate, whether the limit or the tube
        stopped the control, the number of measurements, and a message.

    References
    ----------
    21 CFR 1020.32(e) (limits); Bushberg et al., ch. 9 (ABC); Dowell and Jarratt, BIT 11
    (1971) 168 (Illinois regula falsi).
    """
    if not isinstance(params, Params):
        raise ValueError(f"params must be a sim.Params, got {type(params).__name__}")
    if not callable(measure):
        raise ValueError("measure must be callable: measure(technique) -> Measurement")
    if kar is not None and not callable(kar):
        raise ValueError("kar must be callable: kar(technique) -> Ka,r rate [mGy/min]")
    limit = kar_rate_limit_mGy_per_min(params.abc.high_level)
    target = target_nGy_per_frame(params)
    calls: dict[float, tuple[Technique, Measurement]] = {}

    if not params.abc.enabled:
        t = technique_from(params)
        m = _check_measurement(measure(t))
        return AbcResult(
            t,
            m.receptor_nGy_per_frame,
            target,
            m.kar_rate_mGy_per_min,
            limited=False,
            iterations=1,
            curve="manual",
            shortfall=m.receptor_nGy_per_frame / target,
            effort=float("nan"),
            limit_mGy_per_min=limit,
            message="ABC off: the technique is as set.",
        )

    nodes = curve_nodes(params.abc.curve, params.filtration.cu_mm)
    top = float(len(nodes) - 1)
    log_tol = math.log1p(TARGET_TOLERANCE)

    def at(s: float) -> Measurement:
        if s not in calls:
            t = technique_at(params, s, nodes)
            calls[s] = (t, _check_measurement(measure(t)))
        return calls[s][1]

    kar_only: dict[float, float] = {}

    def kar_at(s: float) -> float:
        if s in calls or kar is None:
            return at(s).kar_rate_mGy_per_min
        if s not in kar_only:
            v = kar(technique_at(params, s, nodes))
            kar_only[s] = _check_measured("kar", "kar_rate_mGy_per_min", v)
        return kar_only[s]

    def budget() -> bool:
        return len(calls) < MAX_MEASUREMENTS and len(kar_only) < 4 * MAX_MEASUREMENTS

    def g_target(s: float) -> float:
        return math.log(max(at(s).receptor_nGy_per_frame, 1e-30) / target)

    def g_limit(s: float) -> float:
        return math.log(max(kar_at(s), 1e-30) / limit)

    def over_limit(s: float) -> bool:
        return kar_at(s) > limit

    log_floor = math.log1p(-TARGET_TOLERANCE)

    def g_both(s: float) -> float:  # increasing; its root is the lower of s_target, s_limit
        gl = g_limit(s)
        return g_target(s) if gl <= 0.0 else max(g_target(s), gl)

    def done(x: float, g: float) -> bool:
        met = g_limit(x) <= 0.0 and abs(g_target(x)) <= log_tol
        return met or (x <= 0.0 and g > 0) or (x >= top and g < 0)

    def at_limit_short(x: float) -> bool:  # at (or over) the limit, still short of the target
        return g_limit(x) >= log_floor and g_target(x) < -log_tol

    s, _, _ = _secant(
        g_both, top, min(1.0, top), _prior_slopes(nodes, "receptor"), done, budget, at_limit_short
    )
    limited = over_limit(s) or at_limit_short(s)
    tube_limited = (not limited) and s >= top and g_target(s) < -log_tol
    if limited:
        # Deterministic: from a fixed start, on the Ka,r rate alone (patient independent).
        s, a, _ = _secant(
            g_limit,
            top,
            min(LIMIT_SEARCH_START, top),
            _prior_slopes(nodes, "kar"),
            lambda x, g: log_floor <= g <= 0.0 or (x <= 0.0 and g > 0),
            budget,
        )
        if over_limit(s):  # budget exhausted or even the bottom of the curve is over the limit
            s = a if a is not None else 0.0

    t, m = technique_at(params, s, nodes), at(s)
    below_curve = 0  # measurements below the bottom of the curve
    while m.kar_rate_mGy_per_min > limit and below_curve < BELOW_CURVE_TRIES:
        # even the lowest output of the curve is over the limit (a short source-IRP distance,
        # no filtration): less current, below the curve (Ka,r is proportional to mA)
        scale = limit / m.kar_rate_mGy_per_min * (1.0 - 0.5 * TARGET_TOLERANCE)
        t = replace(t, ma=t.ma * scale)
        m = _check_measurement(measure(t))
        below_curve += 1
        limited, tube_limited = True, False
    achieved = m.receptor_nGy_per_frame
    shortfall = min(achieved / target, 1.0) if (limited or tube_limited) else achieved / target
    if below_curve:
        message = (
            f"Ka,r rate limit {limit:g} mGy/min: even the lowest output of the "
            f"{params.abc.curve} curve exceeds it, so the tube current is lowered to "
            f"{t.ma:.3g} mA (receptor {achieved:.3g} nGy per frame)."
        )
    elif limited:
        message = (
            f"Ka,r rate limit {limit:g} mGy/min reached: receptor {achieved:.3g} of "
            f"{target:.3g} nGy per frame ({100 * achieved / target:.0f} %); the image is noisier."
        )
    elif tube_limited:
        message = (
            f"Tube at the end of the {params.abc.curve} curve: receptor {achieved:.3g} of "
            f"{target:.3g} nGy per frame ({100 * achieved / target:.0f} %); the image is noisier."
        )
    elif s == 0.0 and achieved > target * (1 + TARGET_TOLERANCE):
        message = (
            f"Lowest output of the curve still gives {achieved:.3g} nGy per frame "
            f"(target {target:.3g})."
        )
    else:
        message = f"Target {target:.3g} nGy per frame held at {m.kar_rate_mGy_per_min:.3g} mGy/min."
    return AbcResult(
        technique=t,
        receptor_nGy_per_frame=achieved,
        target_nGy_per_frame=target,
        kar_rate_mGy_per_min=m.kar_rate_mGy_per_min,
        limited=limited,
        iterations=len(calls) + below_curve,
        curve=params.abc.curve,
        shortfall=shortfall,
        effort=s,
        limit_mGy_per_min=limit,
        tube_limited=tube_limited,
        message=message,
    )


# --------------------------------------------------------------------------- thickness sweeps


def sweep_thickness(
    params: Params,
    measure_for_thickness: Callable[[float], Callable[[Technique], Measurement]],
    thicknesses_cm: Sequence[float],
    kar: Callable[[Technique], float] | None = None,
) -> list[AbcResult]:
    """ABC result for each patient thickness.

    Parameters
    ----------
    params : sim.params.Params
        Parameters.
    measure_for_thickness : callable
        ``measure_for_thickness(thickness_cm) -> measure`` (see :func:`solve`).
    thicknesses_cm : sequence of float
        Thicknesses [cm].
    kar : callable, optional
        The Ka,r rate alone (see :func:`solve`).

    Returns
    -------
    list[AbcResult]
        One result per thickness.

    References
    ----------
    Bushberg et al., ch. 9 (ABC response to patient thickness).
    """
    return [solve(params, measure_for_thickness(float(t)), kar) for t in thicknesses_cm]


def limit_thickness_cm(
    params: Params,
    measure_for_thickness: Callable[[float], Callable[[Technique], Measurement]],
    lo_cm: float = 10.0,
    hi_cm: float = 35.0,
    tol_cm: float = 0.1,
    kar: Callable[[Technique], float] | None = None,
) -> float | None:
    """Thinnest patient for which the Ka,r-rate limit stops the ABC short of its target.

    Bisection on thickness (the limit bites for every thicker patient).

    Parameters
    ----------
    params : sim.params.Params
        Parameters.
    measure_for_thickness : callable
        ``measure_for_thickness(thickness_cm) -> measure`` (see :func:`solve`).
    lo_cm, hi_cm : float
        Search range [cm].
    tol_cm : float
        Resolution [cm].
    kar : callable, optional
        The Ka,r rate alone (see :func:`solve`).

    Returns
    -------
    float or None
        Thickness [cm] (within ``tol_cm``, rounded up), ``lo_cm`` if the limit already bites
        there, ``None`` if it does not bite at ``hi_cm``.

    References
    ----------
    21 CFR 1020.32(e) (limit); bisection.
    """
    if not (math.isfinite(lo_cm) and math.isfinite(hi_cm) and 0 < lo_cm < hi_cm):
        raise ValueError(f"lo_cm={lo_cm!r}, hi_cm={hi_cm!r}: expected 0 < lo_cm < hi_cm [cm]")
    if not (math.isfinite(tol_cm) and tol_cm > 0):
        raise ValueError(f"tol_cm={tol_cm!r} is out of range (0, inf) cm")

    def limited(t: float) -> bool:
        return solve(params, measure_for_thickness(t), kar).limited

    if not limited(hi_cm):
        return None
    if limited(lo_cm):
        return lo_cm
    lo, hi = lo_cm, hi_cm
    while hi - lo > tol_cm:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if limited(mid) else (mid, hi)
    return hi


# --------------------------------------------------------------------------- a slab model


def slab_measure(
    params: Params, thickness_cm: float, material: str = "water"
) -> Callable[[Technique], Measurement]:
    """A simple ``measure`` for a uniform slab: primary air kerma at the receptor.

    Receptor kerma per frame = K(SID) of the spectrum filtered by Al, the technique's Cu, the
    table and pad (when in the beam) and the slab, times the grid primary transmission (0.7
    with a grid), times mAs per frame; scatter is ignored (so the receptor signal of thick
    slabs is underestimated and the limit bites earlier than in the full chain). Ka,r rate from
    the filtered spectrum at the IRP. For tests, lessons and sweeps without the imaging chain.

    Parameters
    ----------
    params : sim.params.Params
        Parameters (``tube.anode_angle_deg``, ``filtration.al_mm``, ``geometry.*``,
        ``grid.enabled``).
    thickness_cm : float
        Slab thickness [cm].
    material : str
        Slab material (a ``sim.materials`` name).

    Returns
    -------
    callable
        ``measure(technique) -> Measurement``.

    References
    ----------
    Beer-Lambert attenuation of the polyenergetic primary; inverse-square law; grid primary
    transmission [R] 0.6-0.75 (docs/references.md [Tab-ScatterGrid]).
    """
    if not (isinstance(thickness_cm, (int, float)) and 0.0 <= thickness_cm <= 100.0):
        raise ValueError(f"thickness_cm={thickness_cm!r} is out of range [0, 100] cm")
    g = params.geometry
    irp_cm = g.source_iso_cm - IRP_FROM_ISOCENTRE_CM  # IEC 60601-2-43 C-arm IRP
    tp = GRID_PRIMARY_TRANSMISSION if params.grid.enabled else 1.0
    layers = dict(table_layers()) if g.table else {}
    slab = {material: thickness_cm * MM_PER_CM}

    def measure(t: Technique) -> Measurement:
        from sim.spectrum import beam as make_beam

        beam = make_beam(t.kvp, params.tube.anode_angle_deg, params.filtration.al_mm, t.cu_mm)[1]
        exit_ = beam.filtered(layers).filtered(slab) if layers else beam.filtered(slab)
        receptor_uGy = exit_.air_kerma_uGy_per_mAs(g.sid_cm) * t.mas_per_frame * tp
        kar_uGy = beam.air_kerma_uGy_per_mAs(irp_cm) * t.mas_per_frame
        return Measurement(
            receptor_nGy_per_frame=receptor_uGy * NGY_PER_UGY,
            kar_rate_mGy_per_min=kar_uGy / t.frame_time_s * S_PER_MIN / UGY_PER_MGY,
        )

    return measure
