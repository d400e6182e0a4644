"""Every technique, dose and metric quantity the engine reports, declared once for display.

``sim.simulate(p)`` and ``sim.run(p)`` report flat mappings (``Result.technique``,
``.dose``, ``.metrics``) whose keys carry their units (``kar_rate_mGy_per_min``). This table
gives each one a name a student reads, its unit in display form, one line on what it is and
why it matters, and how many significant digits are worth showing, so that the app, the command
line and any report read them from one place, as the knobs are read from ``sim.params``.

Keys are dotted ``section.name`` with section ``technique``, ``dose`` or ``metrics``
(``dose.kar_rate_mGy_per_min``, ``metrics.cnr``, ``technique.kvp``).

Examples
--------
>>> quantity("dose.kar_rate_mGy_per_min").format(15.311878523629282)
'15.3 mGy/min'
>>> quantity("dose.over_limit").format(False)
'no'

References
----------
21 CFR 1020.32 (rate limits, displays); IEC 60601-2-43 (reference air kerma); NCRP Report 168
and Stecker et al., J. Vasc. Interv. Radiol. 20 (2009) S263 (SRDL, notification levels);
Balter et al., Radiology 254 (2010) 326 (skin-dose bands); Benmakhlouf et al., Phys. Med. Biol.
56 (2011) 7179 (backscatter); Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed.
(2012) (grid, image quality).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

SECTIONS = {"technique": "Technique", "dose": "Dose", "metrics": "Image metrics"}
"""Section of a key -> its heading, in display order."""


@dataclass(frozen=True)
class Quantity:
    """One reported quantity: dotted key, display label and unit, meaning, display digits.

    Attributes
    ----------
    key : str
        ``section.name`` as reported (``dose.kap_Gycm2``).
    label : str
        Display name ("Kerma-area product").
    unit : str
        Display unit ("Gy·cm²"); "" for dimensionless numbers, counts, flags and text.
    meaning : str
        One plain-English line: what it is and why it matters.
    digits : int
        Significant digits shown [-].
    """

    key: str
    label: str
    unit: str
    meaning: str
    digits: int = 3

    @property
    def section(self) -> str:
        """``technique``, ``dose`` or ``metrics``."""
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The key without its section (the key of ``Result.dose`` etc.)."""
        return self.key.split(".", 1)[1]

    @property
    def heading(self) -> str:
        """``label [unit]``, or the label alone when there is no unit."""
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    def format(self, value: Any, unit: bool = True) -> str:
        """The value as text: rounded to :attr:`digits` significant digits, with the unit.

        Booleans read "yes" / "no", strings are returned as they are, integers in full;
        NaN and None read "n/a".

        Parameters
        ----------
        value : bool, int, float, str or None
            The reported value (numpy scalars too).
        unit : bool
            Append the unit (when there is one).

        Returns
        -------
        str
            e.g. "15.3 mGy/min".
        """
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            value = value.item()  # numpy scalar -> Python
        if value is None:
            return "n/a"
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            text = significant(value, self.digits)
        else:
            raise ValueError(f"{self.key}={value!r} is not a number, flag or text")
        return f"{text} {self.unit}" if unit and self.unit and text != "n/a" else text


def significant(x: float, digits: int) -> str:
    """``x`` rounded to ``digits`` significant digits, without trailing zeros.

    Plain decimals from 1e-4 to below 1e7, scientific notation outside; "n/a" for NaN.

    Parameters
    ----------
    x : float
        The number.
    digits : int
        Significant digits, >= 1 [-].

    Returns
    -------
    str
        e.g. ``significant(15.311878523629282, 3) == "15.3"``, ``significant(0.0039725, 2)
        == "0.004"``, ``significant(1594125.3, 3) == "1590000"``.
    """
    if digits < 1:
        raise ValueError(f"digits={digits!r} must be >= 1")
    if math.isnan(x):
        return "n/a"
    if math.isinf(x) or x == 0.0:
        return "0" if x == 0.0 else str(x)
    rounded = float(f"{x:.{digits - 1}e}")
    exponent = math.floor(math.log10(abs(rounded)))
    if not -4 <= exponent < 7:
        return f"{rounded:.{digits}g}"
    text = f"{rounded:.{max(0, digits - 1 - exponent)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# fmt: off
_DECLARED: tuple[tuple[str, str, str, int, str], ...] = (
    # key, label, unit, digits, meaning
    # ---------------------------------------------------------------- technique
    ("technique.kvp", "Tube potential", "kV", 3,
     "Peak tube voltage: beam penetration and subject contrast (ABC sets it when on)."),
    ("technique.ma", "Tube current", "mA", 3,
     "Current during the pulse: photons, and dose, are in proportion to it."),
    ("technique.pulse_ms", "Pulse width", "ms", 3,
     "Beam-on time per frame (the whole frame in continuous mode); long pulses blur motion."),
    ("technique.pulse_rate_pps", "Pulse rate", "pulses/s", 3,
     "Frames per second: at a fixed dose per pulse the dose rate is in proportion to it."),
    ("technique.cu_mm", "Copper filter", "mm", 2,
     "Added Cu: hardens the beam, lowering skin dose for the same receptor dose."),
    ("technique.mas_per_frame", "Tube charge per frame", "mAs", 3,
     "Current x pulse width: the photons produced per frame, in proportion."),
    ("technique.abc_limited", "ABC held at the rate limit", "", 3,
     "Yes when the 21 CFR 1020.32(e) Ka,r-rate limit stopped ABC short: a noisier image."),
    ("technique.abc_solves", "ABC adjustments", "", 3,
     "Times ABC chose a technique in the run: at the start, then when the receptor dose drifts."),
    # ---------------------------------------------------------------- dose
    ("dose.frames", "Frames", "", 3,
     "Pulses (frames) delivered in the fluoroscopy time."),
    ("dose.fluoro_time_s", "Fluoroscopy time", "s", 3,
     "Beam-on time: NCRP 168 notifies at 30 min and sets its SRDL at 60 min."),
    ("dose.frames_per_s", "Frame rate", "frames/s", 3,
     "Frames delivered per second (30 in continuous mode)."),
    ("dose.kar_uGy_per_frame", "Ka,r per frame", "µGy", 3,
     "Reference air kerma of one pulse at the interventional reference point (IEC 60601-2-43)."),
    ("dose.kar_rate_mGy_per_min", "Ka,r rate", "mGy/min", 3,
     "Air kerma rate at the reference point; 21 CFR 1020.32(e) limits it to 88 mGy/min."),
    ("dose.kar_mGy", "Cumulative Ka,r", "mGy", 3,
     "Reference air kerma so far, shown on the console (21 CFR 1020.32(k)); SRDL 5 Gy."),
    ("dose.kap_uGycm2_per_frame", "KAP per frame", "µGy·cm²", 3,
     "Kerma-area product of one pulse."),
    ("dose.kap_rate_Gycm2_per_min", "KAP rate", "Gy·cm²/min", 3,
     "Kerma-area product per minute of fluoroscopy."),
    ("dose.kap_Gycm2", "Kerma-area product", "Gy·cm²", 3,
     "Air kerma x beam area, the same at any distance: tracks stochastic risk; SRDL 500 Gy·cm²."),
    ("dose.incident_mGy", "Incident air kerma", "mGy", 3,
     "Air kerma at the skin entrance, through the table and pad, without backscatter."),
    ("dose.esak_mGy", "Entrance surface air kerma", "mGy", 3,
     "Incident air kerma x backscatter factor (Benmakhlouf et al. 2011)."),
    ("dose.skin_dose_mGy", "Entrance skin dose", "mGy", 3,
     "Dose to the skin where the beam enters: entrance surface air kerma as dose to water."),
    ("dose.skin_dose_rate_mGy_per_min", "Skin dose rate", "mGy/min", 3,
     "Entrance skin dose per minute of fluoroscopy."),
    ("dose.peak_skin_dose_mGy", "Peak skin dose", "mGy", 3,
     "Highest skin dose (one fixed beam: the entrance dose); reactions from 2 Gy (NCRP 168)."),
    ("dose.bsf", "Backscatter factor", "", 3,
     "Radiation scattered back out of the patient adds to the skin's air kerma (Benmakhlouf)."),
    ("dose.mu_en_ratio", "Water/air energy-absorption ratio", "", 3,
     "Ratio of mass energy-absorption coefficients: air kerma to dose in skin (Benmakhlouf)."),
    ("dose.table_transmission", "Table and pad transmission", "", 3,
     "Fraction of the air kerma the table and pad let through to the skin."),
    ("dose.hvl_mm_al", "Half-value layer", "mm Al", 3,
     "Aluminium that halves the air kerma: beam quality (minimum set by 21 CFR 1020.30(m))."),
    ("dose.effective_dose_mSv", "Effective dose", "mSv", 2,
     "KAP x a region coefficient (ICRP 103 weights): compares procedures, not individuals."),
    ("dose.e_per_kap_mSv_per_Gycm2", "Effective dose per KAP", "mSv/(Gy·cm²)", 2,
     "Conversion coefficient of the body region (Vano et al. for cardiac, by Cu filtration)."),
    ("dose.region", "Body region", "", 3,
     "Region whose coefficient turns KAP into effective dose."),
    ("dose.limit_mGy_per_min", "Ka,r rate limit", "mGy/min", 3,
     "88 mGy/min, 176 with high-level control (21 CFR 1020.32(e))."),
    ("dose.over_limit", "Above the rate limit", "", 3,
     "Yes when the Ka,r rate exceeds the 21 CFR 1020.32(e) limit (possible with ABC off)."),
    ("dose.cfr_point_rate_mGy_per_min", "Air kerma rate at the CFR point", "mGy/min", 3,
     "Rate at the 21 CFR 1020.32(e) compliance point, 30 cm in front of the receptor."),
    ("dose.receptor_nGy_per_frame", "Receptor air kerma per frame", "nGy", 3,
     "Air kerma at the receptor input in the centre per frame: what ABC holds constant."),
    ("dose.receptor_uGy_per_s", "Receptor air kerma rate", "µGy/s", 3,
     "Receptor air kerma per second (FANC acceptance limit 1.5 µGy/s for flat panels)."),
    ("dose.receptor_uGy", "Cumulative receptor air kerma", "µGy", 3,
     "Receptor air kerma summed over the run."),
    ("dose.reaction", "Expected skin reaction", "", 3,
     "Most severe tissue reaction whose threshold the peak skin dose passes (Balter 2010)."),
    ("dose.reaction_band", "NCRP 168 skin-dose band", "", 3,
     "A1 < 2 Gy, A2 2-5 Gy, B 5-10 Gy, C 10-15 Gy, D > 15 Gy (NCRP 168; Balter et al. 2010)."),
    ("dose.srdl_kar", "Ka,r SRDL reached", "", 3,
     "Cumulative Ka,r at or above 5 Gy, NCRP 168's substantial radiation dose level."),
    ("dose.srdl_kap", "KAP SRDL reached", "", 3,
     "KAP at or above 500 Gy·cm², NCRP 168's substantial radiation dose level."),
    ("dose.srdl_psd", "Peak skin dose SRDL reached", "", 3,
     "Peak skin dose at or above 3 Gy, NCRP 168's substantial radiation dose level."),
    ("dose.srdl_fluoro_time", "Fluoroscopy time SRDL reached", "", 3,
     "Fluoroscopy time at or above 60 min, NCRP 168's substantial radiation dose level."),
    ("dose.srdl_any", "Any SRDL reached", "", 3,
     "Yes when any SRDL is reached: record the dose and follow the patient up (NCRP 168)."),
    ("dose.notify_kar", "Ka,r notifications", "", 3,
     "NCRP 168 notification levels passed: 3 Gy, then every 1 Gy more."),
    ("dose.notify_kap", "KAP notifications", "", 3,
     "NCRP 168 notification levels passed: 300 Gy·cm², then every 100 Gy·cm² more."),
    ("dose.notify_psd", "Peak skin dose notifications", "", 3,
     "NCRP 168 notification levels passed: 2 Gy, then every 0.5 Gy more."),
    ("dose.notify_fluoro_time", "Fluoroscopy time notifications", "", 3,
     "NCRP 168 notification levels passed: 30 min, then every 15 min more."),
    # ---------------------------------------------------------------- metrics
    ("metrics.spr", "Scatter-to-primary ratio", "", 2,
     "Scatter over primary at the receptor before the grid; contrast falls by 1/(1 + SPR)."),
    ("metrics.spr_after_grid", "SPR after the grid", "", 2,
     "Scatter-to-primary ratio reaching the receptor through the grid (SPR x Ts / Tp)."),
    ("metrics.grid_tp", "Grid primary transmission", "", 3,
     "Fraction of the primary the grid lets through (Day & Dance 1983)."),
    ("metrics.grid_ts", "Grid scatter transmission", "", 3,
     "Fraction of the scatter the grid lets through (Day & Dance 1983)."),
    ("metrics.bucky_factor", "Bucky factor", "", 3,
     "How much more dose the grid needs for the same receptor signal."),
    ("metrics.contrast_improvement", "Contrast improvement factor", "", 3,
     "Contrast with the grid over contrast without it."),
    ("metrics.receptor_nGy_per_frame", "Receptor air kerma per frame", "nGy", 3,
     "Air kerma at the receptor input in the centre per frame: what ABC holds constant."),
    ("metrics.signal_mean", "Mean signal in the object", "keV", 3,
     "Noise-free detector signal in the object region (keV absorbed per pixel)."),
    ("metrics.background_mean", "Mean signal in the background", "keV", 3,
     "Noise-free detector signal in the background region (keV absorbed per pixel)."),
    ("metrics.noise_std", "Noise", "keV", 3,
     "Standard deviation of the noise in the background region."),
    ("metrics.contrast", "Contrast", "", 3,
     "Relative signal difference between background and object, (B - S) / B."),
    ("metrics.snr", "Signal-to-noise ratio", "", 3,
     "Background signal over its noise."),
    ("metrics.cnr", "Contrast-to-noise ratio", "", 3,
     "Signal difference over noise: how visible the object is (Rose: about 5 to see it)."),
    ("metrics.signal_px", "Object region in the beam", "px", 3,
     "Pixels of the object region the beam reaches; 0 leaves contrast and CNR undefined."),
    ("metrics.background_px", "Background region in the beam", "px", 3,
     "Pixels of the background region the beam reaches; 0 leaves SNR and CNR undefined."),
    ("metrics.dqe0", "DQE(0)", "", 2,
     "Detective quantum efficiency at zero frequency: the share of the quanta put to use."),
    ("metrics.figure_of_merit", "Figure of merit", "1/mGy", 3,
     "CNR² per mGy of cumulative Ka,r: image quality per dose (Williams et al. 2008)."),
    ("metrics.recursive_noise_factor", "Recursive-filter noise factor", "", 3,
     "Noise after the recursive temporal filter relative to a single frame."),
    ("metrics.pulses", "Pulses", "", 3,
     "Pulses in the run."),
    ("metrics.frames_kept", "Frames kept", "", 3,
     "Frames kept as images (at most run.max_frames)."),
    ("metrics.frames_detected", "Frames simulated", "", 3,
     "Frames given their own noise: the kept ones and the warm-up of the temporal filters."),
    ("metrics.content_states", "Content states", "", 3,
     "Distinct needle and contrast states in the run."),
    ("metrics.anchor_frames", "Full-chain frames", "", 3,
     "Content states computed by the whole chain."),
    ("metrics.local_states", "Locally updated states", "", 3,
     "Content states derived from a full-chain frame where only the needle moved."),
)
# fmt: on

QUANTITIES: dict[str, Quantity] = {
    key: Quantity(key, label, unit, meaning, digits)
    for key, label, unit, digits, meaning in _DECLARED
}
"""Every reported quantity by dotted key, in display order (technique, dose, metrics)."""

BEAM_QUANTITIES: dict[str, Quantity] = {
    key: Quantity(key, label, unit, meaning, digits)
    for key, label, unit, digits, meaning in (
        ("beam.hvl1_mm_al", "First half-value layer", "mm Al", 3,
         "Aluminium that halves the air kerma: the beam quality (IEC 61267)."),
        ("beam.hvl2_mm_al", "Second half-value layer", "mm Al", 3,
         "Aluminium that halves it again; larger than HVL1 for a polyenergetic beam."),
        ("beam.homogeneity", "Homogeneity coefficient", "", 3,
         "HVL1 / HVL2: 1 for a single energy; filtration brings it closer to 1."),
        ("beam.mean_energy_keV", "Mean photon energy", "keV", 3,
         "Fluence-weighted mean energy of the beam entering the patient."),
        ("beam.kerma_uGy_per_mAs", "Tube output", "µGy/mAs", 3,
         "Air kerma per mAs at 100 cm from the focal spot, after the filters."),
    )
}  # fmt: skip
"""Figures of the filtered beam (``beam.*``), which the app shows beside the spectra."""


def quantity(key: str) -> Quantity:
    """The :class:`Quantity` of a dotted key, or ``ValueError`` with a did-you-mean.

    Parameters
    ----------
    key : str
        ``section.name`` (``"dose.kap_Gycm2"``).

    Returns
    -------
    Quantity
        Its declaration.
    """
    known = key in QUANTITIES or key in BEAM_QUANTITIES if isinstance(key, str) else False
    if not known:
        near = difflib.get_close_matches(str(key), [*QUANTITIES, *BEAM_QUANTITIES], 3, 0.5)
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        raise ValueError(f"unknown quantity {key!r}{hint} (sim.quantities.QUANTITIES lists them)")
    return QUANTITIES.get(key) or BEAM_QUANTITIES[key]


def labelled(summary: dict[str, dict[str, Any]]) -> list[tuple[Quantity, Any]]:
    """Rows to display from ``Result.summary()`` or ``RunResult.summary()``.

    Parameters
    ----------
    summary : dict
        ``{"technique": {...}, "dose": {...}, "metrics": {...}}``.

    Returns
    -------
    list of (Quantity, value)
        One row per reported value, sections in :data:`SECTIONS` order, keys in report order;
        ``q.heading`` and ``q.format(value)`` give the text.
    """
    unknown = set(summary) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}: expected {', '.join(SECTIONS)}")
    return [
        (quantity(f"{section}.{name}"), value)
        for section in SECTIONS
        for name, value in summary.get(section, {}).items()
    ]
