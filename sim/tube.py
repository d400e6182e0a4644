"""Ratings of the X-ray generator and tube: the loading a technique may ask for.

Three ratings bound the tube current of every technique, set by hand or by the automatic
brightness control (``sim.brightness``):

- **generator power** during a pulse, kV x mA <= :data:`GENERATOR_POWER_MAX_KW` (pulsed
  fluoroscopy; continuous fluoroscopy is far below it);
- **energy per pulse**, kV x mA x pulse width <= :data:`PULSE_ENERGY_MAX_J` (the focal track's
  short-time rating);
- **mean power** (anode heat over minutes of fluoroscopy), kV x mA x duty <=
  :data:`FLUORO_POWER_MAX_W`, with duty = pulse width x pulse rate in pulsed mode and 1 in
  continuous mode (the beam is always on): continuous fluoroscopy is the duty-1 case of the
  same limit, so a pulsed technique cannot dodge it with long pulses.

kV x mA is a power in watts (1e3 V x 1e-3 A), kV x mA x s an energy in joules. The ratings
describe a large-capacity angiography tube on an 80 kW generator, the kind of system the
scenarios describe; a mobile C-arm would have far lower ones (see the references). Not
modelled: the focal-spot dependence of the ratings (``tube.focal_spot_mm`` does not change
them), the heat already stored in the anode (a run may last as long as it likes at the mean
rating), the fall of the single-load rating with loading time (one energy for every pulse
width), and cine/DSA acquisition, which may load the tube far more for a few seconds. With
these values the mean-power rating is the one that bites first at pulse rates above 0.75/s
(4 kJ x 0.75/s = 3 kW); the energy per pulse bites only for long pulses at lower rates, the
generator power only for short, intense pulses at low rates.

The standards [1], [2] were not read for this module: their definitions are as manufacturers'
data sheets quote them ([4], [5]: nominal anode input power "at 100 kV and 0.1 s").

References
----------
.. [1] IEC 60601-2-54:2009, Medical electrical equipment - Part 2-54: Particular requirements
   for the basic safety and essential performance of X-ray equipment for radiography and
   radioscopy (NOMINAL ELECTRICAL POWER of the high-voltage generator: the highest constant
   power it can deliver for a loading time of 0.1 s at 100 kV).
.. [2] IEC 60613:2010, Electrical and loading characteristics of X-ray tube assemblies for
   medical diagnosis (NOMINAL ANODE INPUT POWER: the highest anode input power for a single
   load of 0.1 s; anode heat dissipation and equivalent anode input power for long loads).
.. [3] Generators, cine pulse systems, and X-ray tubes for coronary cineangiography,
   Cleveland Clinic Journal of Medicine (https://www.mdedge.com/ccjm/article/91186): working
   range 50-120 kV, no more than 800 mA needed, "the power requirements are never more
   than 100 kW".
.. [4] A-192 rotating-anode X-ray tube insert, product data sheet: 150 kV; nominal anode input
   power (IEC 60613) 40 kW for the 0.6 mm and 100 kW for the 1.2 mm focal spot; equivalent
   anode input power 125 W
   (https://vdocuments.mx/x-ray-a-192-products-rotating-anode-x-ray-tube-general-serial-radiography-puts.html).
.. [5] Philips Veradius (mobile C-arm) instructions for use, 9.2.1 (X-ray tube RO-0306):
   nominal anode input power (100 kV, 0.1 s) 6.0 kW (0.3 mm) and 25 kW (0.6 mm focal
   spot), maximum continuous heat dissipation 300 W
   (https://manualslib.de/manual/861544/Philips-Veradius.html?page=184).
.. [6] GE Maxiray 100 tube unit (Precision 500D manual, 2-3 Thermal ratings): tube unit
   maximum heat dissipation 740 W (blower) to 925 W (heat exchanger)
   (https://www.easymanua.ls/ge/precision-500d/manual?p=274).
.. [7] T. Schmidt, R. Behling, "MRC: a successful platform for future X-ray tube development",
   MedicaMundi 44(2) (2000): liquid-metal spiral-groove bearings let angiography tubes carry
   very high continuous loads.
.. [8] J.T. Bushberg et al., *The Essential Physics of Medical Imaging*, 3rd ed., ch. 9:
   continuous fluoroscopy at a few mA; pulsed fluoroscopy at tens of mA in short pulses
   (as cited in ``sim.brightness``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.units import J_PER_KJ, MS_PER_S, W_PER_KW

GENERATOR_POWER_MAX_KW = 80.0
"""Highest kV x mA during a pulse [kW]. guess: the low end of the 80-100 kW of angiography
generators ([3]: never more than 100 kW; [4]: 100 kW tube rating at 0.1 s)."""

PULSE_ENERGY_MAX_J = 4000.0
"""Highest kV x mA x pulse width of one pulse [J]: the 40 kW nominal anode input power of a
0.6 mm focal spot (the default ``tube.focal_spot_mm``) over the 0.1 s at which it is defined
([2], [4]). guess: held at 4 kJ for every pulse width (the single-load rating falls for longer
loads and rises for shorter ones) and for every focal spot."""

FLUORO_POWER_MAX_W = 3000.0
"""Highest mean kV x mA x duty over a fluoroscopy run [W] (anode heat). guess: a large-capacity
angiography tube [7], well above the 0.3 kW of a mobile C-arm [5] and the 0.74-0.93 kW of an
R/F tube unit [6]; continuous fluoroscopy at 10 mA and 125 kV (1.25 kW) stays inside it."""

RTOL = 1e-9
"""Relative tolerance of the checks (a technique capped exactly at a rating passes) [-]."""


@dataclass(frozen=True)
class Loading:
    """What a technique asks of the tube.

    Attributes
    ----------
    power_kw : float
        kV x mA while the beam is on [kW].
    pulse_energy_j : float
        kV x mA x beam-on time of one pulse (one frame in continuous mode) [J].
    mean_power_w : float
        kV x mA x duty, averaged over the run [W].
    """

    power_kw: float
    pulse_energy_j: float
    mean_power_w: float


def _duty(pulse_ms: float, pulse_rate_pps: float, continuous: bool) -> float:
    return 1.0 if continuous else pulse_ms / MS_PER_S * pulse_rate_pps


def loading(
    kvp: float, ma: float, pulse_ms: float, pulse_rate_pps: float, continuous: bool
) -> Loading:
    """Peak power, energy per pulse and mean power of a technique.

    Parameters
    ----------
    kvp : float
        Tube potential [kV].
    ma : float
        Tube current while the beam is on [mA].
    pulse_ms : float
        Pulse width [ms] (ignored in continuous mode).
    pulse_rate_pps : float
        Pulse rate [1/s] (ignored in continuous mode).
    continuous : bool
        Continuous fluoroscopy: beam always on (the ratings count no pulse).

    Returns
    -------
    Loading
        Power [kW], energy per pulse [J], mean power [W]; in continuous mode the energy is
        that of one 1/30 s frame, for information (no rating applies to it).

    References
    ----------
    kV x mA = W (IEC 60613 anode input power); see the module docstring.
    """
    from sim.params import CONTINUOUS_FRAME_RATE_PPS

    power_w = kvp * ma
    if continuous:
        pulse_ms, pulse_rate_pps = MS_PER_S / CONTINUOUS_FRAME_RATE_PPS, CONTINUOUS_FRAME_RATE_PPS
    return Loading(
        power_kw=power_w / W_PER_KW,
        pulse_energy_j=power_w * pulse_ms / MS_PER_S,
        mean_power_w=power_w * _duty(pulse_ms, pulse_rate_pps, continuous),
    )


def max_ma(kvp: float, pulse_ms: float, pulse_rate_pps: float, continuous: bool) -> float:
    """Highest tube current every rating allows for this kV, pulse width and pulse rate.

    min(generator power / kV, pulse energy / (kV x pulse width), mean power / (kV x duty));
    in continuous mode only the mean power (duty 1) and the generator power apply.

    Parameters
    ----------
    kvp : float
        Tube potential [kV], > 0.
    pulse_ms : float
        Pulse width [ms], > 0 (ignored in continuous mode).
    pulse_rate_pps : float
        Pulse rate [1/s], > 0 (ignored in continuous mode).
    continuous : bool
        Continuous fluoroscopy.

    Returns
    -------
    float
        Tube current [mA].

    References
    ----------
    IEC 60601-2-54 (generator power), IEC 60613 (anode input power, heat); see the module
    docstring for the values.
    """
    top = GENERATOR_POWER_MAX_KW * W_PER_KW / kvp
    top = min(top, FLUORO_POWER_MAX_W / (kvp * _duty(pulse_ms, pulse_rate_pps, continuous)))
    if not continuous:
        top = min(top, PULSE_ENERGY_MAX_J / (kvp * pulse_ms / MS_PER_S))
    return top


def _floor(x: float, step: float = 0.1) -> str:
    """x rounded down to ``step`` (so that the value shown is allowed), as short text."""
    return f"{math.floor(x / step + 1e-9) * step:.10g}"


def _g(x: float) -> str:
    return f"{x:.4g}"


def check_loading(
    kvp: float, ma: float, pulse_ms: float, pulse_rate_pps: float, continuous: bool
) -> None:
    """Raise ``ValueError`` if a manual technique exceeds a rating of the generator or tube.

    The message names the knobs, their product, the rating with its unit and the highest
    ``tube.ma`` that would be allowed (``max_ma``), e.g. ``tube.kvp × tube.ma = 150 kV × 1000 mA
    = 150 kW exceeds the generator's 80 kW rating: lower tube.ma to at most 533.3 mA ...``.

    Parameters
    ----------
    kvp, ma, pulse_ms, pulse_rate_pps, continuous
        As in :func:`loading` [kV, mA, ms, 1/s, -].

    References
    ----------
    See the module docstring.
    """
    load = loading(kvp, ma, pulse_ms, pulse_rate_pps, continuous)
    allowed = max_ma(kvp, pulse_ms, pulse_rate_pps, continuous)
    fix = f"lower tube.ma to at most {_floor(allowed)} mA at {_g(kvp)} kV"
    if not continuous:
        fix += " (or lower tube.kvp, tube.pulse_ms or tube.pulse_rate_pps)"
    else:
        fix += " (or lower tube.kvp, or use pulsed fluoroscopy)"
    tol = 1.0 + RTOL
    if load.power_kw > GENERATOR_POWER_MAX_KW * tol:
        raise ValueError(
            f"tube.kvp × tube.ma = {_g(kvp)} kV × {_g(ma)} mA = {_g(load.power_kw)} kW exceeds"
            f" the generator's {GENERATOR_POWER_MAX_KW:g} kW rating: {fix}"
        )
    if not continuous and load.pulse_energy_j > PULSE_ENERGY_MAX_J * tol:
        raise ValueError(
            f"tube.kvp × tube.ma × tube.pulse_ms = {_g(kvp)} kV × {_g(ma)} mA × {_g(pulse_ms)} ms"
            f" = {_g(load.pulse_energy_j / J_PER_KJ)} kJ per pulse exceeds the tube's"
            f" {PULSE_ENERGY_MAX_J / J_PER_KJ:g} kJ single-pulse rating: {fix}"
        )
    if load.mean_power_w > FLUORO_POWER_MAX_W * tol:
        if continuous:
            what = (
                f"tube.kvp × tube.ma = {_g(kvp)} kV × {_g(ma)} mA ="
                f" {_g(load.mean_power_w / W_PER_KW)} kW with the beam always on"
                " (tube.mode=continuous)"
            )
        else:
            what = (
                f"the mean power tube.kvp × tube.ma × tube.pulse_ms × tube.pulse_rate_pps ="
                f" {_g(kvp)} kV × {_g(ma)} mA × {_g(pulse_ms)} ms × {_g(pulse_rate_pps)}/s"
                f" = {_g(load.mean_power_w / W_PER_KW)} kW"
            )
        raise ValueError(
            f"{what} exceeds the tube's {FLUORO_POWER_MAX_W / W_PER_KW:g} kW fluoroscopy"
            f" (anode heat) rating: {fix}"
        )
