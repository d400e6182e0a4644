"""Named teaching scenarios: a title, a short text for the student and the knobs they set.

Each preset changes a few knobs of the default :class:`sim.params.Params`;
``preset_params(name)`` gives the validated parameters, which ``sim.simulate`` shows as one
frame and ``sim.sequence.run`` plays as a fluoroscopy run. Values are typical of practice, with
the published figures they were checked against in ``sources``; where the simulator has no
matching anatomy the text says what stands in for it.

References
----------
.. [1] C. Y. Chang, F. J. Simeone, M. C. DeLorenzo et al., "Dose reduction for fluoroscopically
   guided injections: phantom simulation and patient procedures", Skeletal Radiol. 47 (2018)
   223-231: 1094 joint injections, fluoroscopy time 0.7 min, reference dose 5.6 mGy, DAP
   56.9 uGy m^2 (0.57 Gy cm^2) per injection before dose-minimisation (0.2 min, 1.9 mGy,
   19.1 uGy m^2 after).
.. [2] "Relationship between radiologist training level and radiation exposure for therapeutic
   hip injections" (1362 fluoroscopy-guided hip injections, 2012-2015): fluoroscopy time
   26 +/- 17 s, DAP 20.4 +/- 22.3 uGy m^2 (0.20 Gy cm^2),
   https://discovery.researcher.life/article/relationship-between-radiologist-training-level-and-radiation-exposure-for-therapeutic-hip-injections/ea8e02249c883c80b512d4a1232626ed
.. [3] J. Kim, M. H. Lee, M. J. Shin et al., "Transforaminal epidural steroid injection for low
   back pain: comparison of fluoroscopy time and radiation dose at different levels of
   lumbosacral nerve", ASSR 2012 abstract: 70 kV, 15 pulses/s, 16 ms; fluoroscopy time 11-161 s
   (mean 36 s for transforaminal injections), http://theassr.org/ ; S. Kim et al., "Factors
   affecting radiation exposure during lumbar epidural steroid injection", Korean J. Radiol.
   17 (2016) 405-412. The full series (S.-J. Kim, M. H. Lee, H. W. Chung et al., fluoroscopy-
   guided transforaminal and caudal epidural steroid injections, 228 patients, PubMed
   24441060, 2014): transforaminal KAP 3.0-1048 uGy m^2, mean 101.7 uGy m^2 (1.02 Gy cm^2),
   median 67.8 uGy m^2 (0.68 Gy cm^2); fluoroscopy time 11-161 s, mean 36.0 s, median 29 s.
   System-reported KAP includes the table's share: S. D. Mann et al., "Improved dose
   estimates for fluoroscopically guided lumbar epidural injections", Pain Med. 20 (2019)
   971-978 (34 % on average). (docs/references.md [KimJ2012], [KimS2016], [KimSJ2014],
   [Mann2019])
.. [4] I. Zammit-Maempel, C.-L. Chapple, P. Leslie, "Radiation dose in videofluoroscopic
   swallow studies", Dysphagia 22 (2007) 13-15: median screening time 171 s, median DAP
   1.4 Gy cm^2; M. T. Crawley et al., "Patient and operator dose during fluoroscopic
   examination of swallow mechanism", Br. J. Radiol. 77 (2004) 654-656: median DAP 3.5 Gy cm^2,
   median screening time 3.7 min.
.. [5] European Society of Radiology, "White paper on radiation protection", Insights Imaging
   (2011), Table 3 (after Neofotistou et al.): coronary angiography 57 Gy cm^2 (6 min
   fluoroscopy), coronary angioplasty 94 Gy cm^2 (16 min); T. Siiskonen et al., "Establishing
   the European diagnostic reference levels for interventional cardiology", Phys. Med. 54
   (2018) 42-48; R. Padovani, E. Vano, A. Trianni et al., "Reference levels at European level
   for cardiac interventional procedures", Radiat. Prot. Dosim. 129 (2008) 104-107 (SENTINEL):
   coronary angiography / angioplasty 45 / 85 Gy cm^2, Ka,r 650 / 1500 mGy, fluoroscopy
   6.5 / 15.5 min (cine included); entrance surface air kerma rate in fluoroscopy 13 mGy/min
   (20 cm PMMA, the standard adult). Fluoroscopy entrance rates of 15, 29 and 36 mGy/min
   (low, medium, high) on an adult PMMA phantom, AP, flat-panel cardiac system: "Scatter
   radiation dose at the height of the operator's eye in interventional cardiology" (Belo
   Horizonte),
   https://discovery.researcher.life/article/scatter-radiation-dose-at-the-height-of-the-operators-eye-in-interventional-cardiology/be2d9e0a19853053aae50d7d861f1018
   . Added Cu 0-0.9 mm in cardiac beams: E. Vano, R. M. Sanchez, J. M. Fernandez, J. I. Ten,
   "Conversion factors to estimate effective doses from kerma area product in interventional
   cardiology. Impact of added filtration", Phys. Med. (0, 0.1, 0.4, 0.9 mm). The lowest
   fluoroscopy dose level as a cardiac laboratory's default, raised only when needed (6 % of
   the fluoroscopy time; DAP rate -74 %): "X-ray dose reduction in fluoroscopically guided
   electrophysiology procedures",
   https://scilit.com/publications/50a3a17df53565b6acc46ac70d83d6e0 . (docs/references.md
   [ESR2011], [Siiskonen2018], [Padovani2008], [BeloHorizonte], [Vano], [EPDoseReduction])
.. [6] K. J. Strauss, "Pediatric interventional radiography equipment: safety considerations",
   Pediatr. Radiol. 36 Suppl 2 (2006) 126-135: variable-rate pulsed fluoroscopy, pulses
   shorter than 10 ms, grid removal for small children; P. Drury, A. Robinson, "Fluoroscopy
   without the grid: a method of reducing the radiation dose", Br. J. Radiol. 53 (1980) 93.
.. [7] US FDA, 21 CFR 1020.32(e): air kerma rate limit 88 mGy/min (176 mGy/min with
   high-level control).
.. [8] Leeds Test Objects, TOR 18FG contrast-detail test object (used with 1 mm Cu at the tube,
   about 70 kV).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sim.params import Params
from sim.validate import short_repr


@dataclass(frozen=True)
class Preset:
    """A named scenario.

    Attributes
    ----------
    name : str
        Key (``hip_injection``, ...).
    title : str
        One line for a menu.
    text : str
        Two to four sentences for the student: what it shows, what to try.
    changes : mapping of str to value
        Knob (dotted name) -> value, applied to the default ``Params``.
    sources : tuple of str
        Where the values come from (short citations; full ones in the module docstring).
    """

    name: str
    title: str
    text: str
    changes: MappingProxyType
    sources: tuple[str, ...] = field(default=())

    def params(self) -> Params:
        """The validated parameters of this preset."""
        return Params().replace(**dict(self.changes))


def _preset(name: str, title: str, text: str, changes: dict[str, Any], *sources: str) -> Preset:
    return Preset(name, title, " ".join(text.split()), MappingProxyType(dict(changes)), sources)


_ALL = (
    _preset(
        "hip_injection",
        "Hip joint injection (adult)",
        """A 22 G needle is advanced to the femoral head-neck junction of an adult hip in 25 s
        of pulsed fluoroscopy at 7.5 pulses/s, then 2 ml of iodinated contrast outline the
        joint: one minute of fluoroscopy in all. Play it in the Run view and watch the needle
        trail behind itself with the **Recursive filter** on (try 0 and 0.8) and the dose grow
        pulse by pulse; halve the **Pulse rate** or tighten the **Collimated field size** and
        compare the kerma-area product.""",
        {
            "patient.phantom": "hip_injection",
            "patient.thickness_cm": 22.0,
            "patient.contrast_ml": 2.0,
            "patient.contrast_mg_i_per_ml": 240.0,
            "tube.mode": "pulsed",
            "tube.pulse_rate_pps": 7.5,  # guess: typical musculoskeletal practice
            "geometry.field_cm": 15.0,  # guess: collimated to the joint
            "abc.mode": "low",  # guess: low-dose fluoroscopy for needle guidance
            "run.fluoro_time_s": 60.0,  # 26-42 s mean in [1], [2]; one minute for the brief
            "sequence.needle_s": 25.0,  # guess
            "sequence.inject_s": 35.0,
            "sequence.fill_s": 10.0,
            "dose.region": "pelvis",
        },
        "Chang et al., Skeletal Radiol 47:223 (2018): 0.7 min, 5.6 mGy, 0.57 Gy cm^2",
        "hip injections 2012-2015 (n=1362): 26 s, 0.20 Gy cm^2",
    ),
    _preset(
        "lumbar_epidural",
        "Lumbar interlaminar epidural injection (prone, AP)",
        """A 22 G spinal needle is advanced from a right paramedian entry into the L3-L4
        epidural space of a prone adult (22 cm AP) in 20 s at 15 pulses/s with low-dose
        fluoroscopy, then 3 ml of iodinated contrast spread up and down the canal: 36 s of
        fluoroscopy, as in a published series (70 kV, 16 ms pulses, a mean of 1.0 Gy·cm²; here
        ABC chooses). Find the pedicles, the spinous processes and the interlaminar window;
        compare a **Pulse rate** of 15, 7.5 and 3 pulses/s, and the **ABC dose level** low and
        normal.""",
        {
            "patient.phantom": "lumbar_spine",
            # guess: 22 cm AP, the adult of the hip scenario. With 24 cm of an all-soft-tissue
            # body and the normal dose level the run gave 3.2 Gy cm^2 in 36 s, three times the
            # published mean (1.02 Gy cm^2, Kim et al. 2014; docs/references.md [KimSJ2014]);
            # 22 cm with a fat layer, bowel gas and the low level gives 1.25 Gy cm^2
            "patient.thickness_cm": 22.0,
            "abc.mode": "low",  # low-dose fluoroscopy for needle guidance, as for the hip
            "patient.contrast_ml": 3.0,  # guess: epidurogram volume before the steroid
            "patient.contrast_mg_i_per_ml": 240.0,  # guess: iohexol 240, a myelographic agent
            "tube.mode": "pulsed",
            "tube.pulse_rate_pps": 15.0,
            "geometry.field_cm": 15.0,
            "run.fluoro_time_s": 36.0,
            "sequence.needle_s": 20.0,  # guess
            "sequence.inject_s": 24.0,  # guess
            "sequence.fill_s": 8.0,  # guess
            "dose.region": "abdomen",
        },
        "Kim et al., ASSR 2012: 70 kV, 15 p/s, 16 ms, mean 36 s (transforaminal)",
        "Kim et al. 2014 (PubMed 24441060): transforaminal mean 36 s, KAP mean 1.02 Gy cm^2",
        "Kim et al., Korean J Radiol 17:405 (2016)",
    ),
    _preset(
        "barium_swallow",
        "Swallow study, continuous fluoroscopy (lateral neck, barium)",
        """Videofluoroscopy of swallowing runs continuously at 30 frames/s for about three
        minutes through the side of the neck: a 10 ml bolus of barium sulfate suspension
        (60 % w/v) runs down the oesophagus in front of the cervical spine, behind the airway.
        Switch the **Fluoroscopy mode** to pulsed at 15 or 7.5 pulses/s and see what happens to
        the kerma-area product and to the image noise.""",
        {
            "patient.phantom": "swallow",
            "patient.thickness_cm": 12.0,  # guess: lateral neck width
            "patient.contrast_ml": 10.0,  # guess: one bolus
            "tube.mode": "continuous",
            "geometry.field_cm": 20.0,
            "run.fluoro_time_s": 171.0,
            "run.max_frames": 150,
            "sequence.inject_s": 5.0,  # guess: first swallow
            # bolus transit: 70 mm in 3 s = 2.3 cm/s; primary oesophageal peristalsis travels at
            # 2-4 cm/s (textbook range, e.g. Goyal & Chaudhury, J Clin Gastroenterol 42:610, 2008)
            "sequence.fill_s": 3.0,
            "dose.region": "neck",
        },
        "Zammit-Maempel et al., Dysphagia 22:13 (2007): median 171 s, 1.4 Gy cm^2",
        "Crawley et al., Br J Radiol 77:654 (2004): median 3.7 min, 3.5 Gy cm^2",
    ),
    _preset(
        "cardiac_cath",
        "Cardiac catheterisation / coronary intervention",
        """Fifteen minutes of fluoroscopy at 15 pulses/s through a 24 cm chest (lungs, heart,
        spine and ribs, the left coronary tree filling with contrast), the heart beating under a
        fixed collimator (it moves 4 mm at 70 beats/min). The iodine ABC curve holds 70 kV for
        the contrast and filters the beam with copper, which it takes out step by step as the
        patient gets thicker, before it would raise the kV: try 18, 24 and 30 cm of **Patient
        thickness** and watch the Cu go and the Ka,r rate climb to its 88 mGy/min limit. Set
        the **ABC dose level** to high and the **Fluoroscopy time** to 40 min (2400 s) and
        watch the skin-reaction band in the Dose view change.""",
        {
            "patient.phantom": "vessels",
            # guess: a standard adult chest, 24 cm AP; with its inflated lungs it attenuates like
            # about 19 cm of water, a little less than the 20 cm PMMA standard phantom
            "patient.thickness_cm": 24.0,
            "patient.contrast_ml": 8.0,  # guess: one coronary injection
            "patient.contrast_mg_i_per_ml": 350.0,
            "tube.mode": "pulsed",
            "tube.pulse_rate_pps": 15.0,
            "geometry.field_cm": 20.0,
            "abc.curve": "iodine",
            # normal dose level: 70 kV with about 0.5 mm Cu and ~16 mGy/min, inside the
            # 10-30 mGy/min of a standard adult ([5]: SENTINEL 13 mGy/min at 20 cm PMMA;
            # 15-29 mGy/min low-medium on a PMMA phantom). The low level gives ~7 mGy/min
            # through this anatomical chest, which the lungs make easier than PMMA.
            "abc.mode": "normal",
            "run.fluoro_time_s": 900.0,
            "run.max_frames": 150,
            "sequence.inject_s": 2.0,
            "sequence.fill_s": 2.0,
            "sequence.motion_mm": 4.0,  # guess: coronary motion in the image plane
            "sequence.motion_period_s": 0.86,  # 70 beats/min
            "dose.region": "cardiac",
        },
        "ESR white paper, Insights Imaging (2011), Table 3: PTCA 94 Gy cm^2, 16 min",
        "Siiskonen et al., Phys Med 54:42 (2018): European DRLs for interventional cardiology",
        "Padovani et al., Radiat Prot Dosim 129:104 (2008): fluoroscopy 13 mGy/min, 20 cm PMMA",
        "Rauch et al., Med Phys 39:2826 (2012), AAPM TG-125: Cu filters chosen by the ABC",
        "Balter et al., Radiology 254:326 (2010): skin-dose bands",
    ),
    _preset(
        "paediatric",
        "Paediatric hip (grid out, low pulse rate)",
        """A child's hip (12 cm AP, the anatomy scaled down) is screened at 7.5 pulses/s with
        the anti-scatter grid removed and ABC in its low mode: the dose is a small fraction
        of the adult's. Put the **Anti-scatter grid** back in and see the dose rise by the
        Bucky factor for little gain in contrast at this thickness.""",
        {
            "patient.phantom": "hip_injection",
            "patient.thickness_cm": 12.0,  # guess: a small child's pelvis
            "patient.contrast_ml": 1.0,  # guess
            "grid.enabled": False,
            "tube.mode": "pulsed",
            "tube.pulse_rate_pps": 7.5,
            "geometry.field_cm": 12.0,
            "abc.mode": "low",
            "run.fluoro_time_s": 30.0,
            "sequence.needle_s": 12.0,
            "sequence.inject_s": 18.0,
            "sequence.fill_s": 6.0,
            "dose.region": "pelvis",
        },
        "Strauss, Pediatr Radiol 36 Suppl 2:126 (2006)",
        "Drury & Robinson, Br J Radiol 53:93 (1980): fluoroscopy without the grid",
    ),
    _preset(
        "large_patient",
        "Large patient: ABC at the dose-rate limit",
        """The same hip injection through 36 cm of patient. ABC raises kV and mA until the
        reference air kerma rate reaches the 88 mGy/min limit and then stops short of its
        target: the image gets noisier instead. Try **High-level control (176 mGy/min)**, removing
        the **Anti-scatter grid** (its Bucky factor), or the low-dose **ABC curve**.""",
        {
            "patient.phantom": "hip_injection",
            "patient.thickness_cm": 36.0,
            "tube.mode": "pulsed",
            "tube.pulse_rate_pps": 15.0,
            "geometry.field_cm": 20.0,
            "run.fluoro_time_s": 60.0,
            "sequence.needle_s": 25.0,
            "sequence.inject_s": 35.0,
            "dose.region": "pelvis",
        },
        "21 CFR 1020.32(e): 88 mGy/min (176 with high-level control)",
    ),
    _preset(
        "qa_contrast_detail",
        "QA: contrast-detail test object (TOR 18FG-like)",
        """A quality-control check: the contrast-detail and bar-pattern test object behind
        1 mm of copper at the tube, ABC on. Count the discs you can see and the finest bar
        group you can resolve, then change the **ABC dose level**, the **Recursive filter** or
        the **Image receptor** and count again.""",
        {
            "patient.phantom": "contrast_detail",
            "patient.thickness_cm": 2.0,
            "filtration.cu_mm": 1.0,
            "tube.mode": "pulsed",
            "tube.pulse_rate_pps": 15.0,
            "geometry.field_cm": 25.0,
            "run.fluoro_time_s": 10.0,
            "dose.region": "extremity",
        },
        "Leeds Test Objects TOR 18FG (1 mm Cu, about 70 kV)",
    ),
)

PRESETS: MappingProxyType = MappingProxyType({p.name: p for p in _ALL})
"""Every preset by name, in menu order."""


def preset_names() -> tuple[str, ...]:
    """Names of the presets, in menu order."""
    return tuple(PRESETS)


def preset(name: str) -> Preset:
    """The :class:`Preset` of a name, or ``ValueError`` listing the names."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(
            f"preset {short_repr(name)} is unknown: expected one of {', '.join(PRESETS)}"
        )
    return PRESETS[name]


def preset_params(name: str) -> Params:
    """Validated parameters of a preset.

    Parameters
    ----------
    name : str
        One of :func:`preset_names`.

    Returns
    -------
    sim.Params
        Default parameters with the preset's knobs applied.

    References
    ----------
    See the module docstring for the published values behind each preset.
    """
    return preset(name).params()


__all__ = ["PRESETS", "Preset", "preset", "preset_names", "preset_params"]
