"""Patient dose: reference air kerma, kerma-area product, entrance skin dose, totals and limits.

Quantities, per frame and accumulated over the fluoroscopy time:

- reference air kerma ``Ka,r`` at the interventional reference point (IRP; C-arm: 15 cm from
  the isocentre toward the focal spot), free in air, no backscatter, no table (IEC 60601-2-43;
  21 CFR 1020.32(k)); its rate against the US limits of 88 mGy/min (normal) and 176 mGy/min
  (high-level control), 21 CFR 1020.32(e);
- kerma-area product ``P_KA`` (KAP): air kerma times beam area, the same at any distance from
  the focal spot (inverse square against area); computed at the receptor plane;
- entrance skin dose: air kerma at the actual entrance surface (inverse square from the IRP,
  through the table and its pad when they are in the beam), times the backscatter factor of
  Benmakhlouf et al. (2011) for the beam quality and the field at the skin, times the water/air
  ratio of mass energy-absorption coefficients (skin dose as dose to water);
- peak skin dose: with one fixed beam projection the whole field enters through the same skin,
  so the peak skin dose equals the accumulated entrance skin dose (no field overlap model);
- effective dose from KAP with a region conversion coefficient;
- status against tissue-reaction thresholds and the NCRP 168 / SIR substantial-radiation-dose
  levels (SRDL) with their notification levels.

Everything is a pure function of a filtered spectrum (``sim.spectrum.Spectrum``), the technique
(``sim.params.Technique``) and the geometry (``sim.geometry.Geometry``).

References
----------
.. [1] IEC 60601-2-43:2010+A1:2017, reference air kerma at the patient entrance reference point.
.. [2] US FDA, 21 CFR 1020.32 (fluoroscopic equipment): (e) air kerma rate limits, 88 mGy/min
   (10 R/min) and 176 mGy/min (20 R/min) with high-level control; (k) display of air kerma
   rate and cumulative air kerma at the reference location.
.. [3] H. Benmakhlouf, H. Bouchard, A. Fransson, P. Andreo, "Backscatter factors and mass
   energy-absorption coefficient ratios for diagnostic radiology dosimetry", Phys. Med. Biol.
   56 (2011) 7179-7204 (table in ``assets/dose/backscatter_benmakhlouf2011.csv``).
.. [4] H. Benmakhlouf, A. Fransson, P. Andreo, "Influence of phantom thickness and material on
   the backscatter factors for diagnostic x-ray beam dosimetry", Phys. Med. Biol. 58 (2013)
   247-260, eq. (8) (analytic fit; coefficients as implemented in PySkinDose).
.. [5] S. Balter, J.W. Hopewell, D.L. Miller, L.K. Wagner, M.J. Zelefsky, "Fluoroscopically
   guided interventional procedures: a review of radiation effects on patients' skin and
   hair", Radiology 254 (2010) 326-341, Table 1 (NCRP 168 dose bands).
.. [6] NCRP Report No. 168 (2010); M.S. Stecker et al., "Guidelines for patient radiation dose
   management", J. Vasc. Interv. Radiol. 20 (2009) S263-S273 (SRDL and notification levels).
.. [7] E. Vano et al., "Conversion factors to estimate effective doses from kerma area product
   in interventional cardiology. Impact of added filtration", Phys. Med. (ICRP 103).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from sim.geometry import TABLE_LAYERS_MM
from sim.materials import asset_path
from sim.units import MGY_PER_GY, NGY_PER_UGY, S_PER_MIN, UGY_PER_GY, UGY_PER_MGY
from sim.validate import check_number

if TYPE_CHECKING:  # pragma: no cover
    from sim.geometry import Geometry
    from sim.params import Technique
    from sim.spectrum import Spectrum

# --------------------------------------------------------------------------- limits and levels

KAR_RATE_LIMIT_MGY_PER_MIN = 88.0
"""Normal-mode air-kerma-rate limit, 21 CFR 1020.32(e) (10 R/min) [mGy/min]."""

KAR_RATE_LIMIT_HIGH_LEVEL_MGY_PER_MIN = 176.0
"""Limit with high-level control activated, 21 CFR 1020.32(e) (20 R/min) [mGy/min]."""


def kar_rate_limit_mGy_per_min(high_level: bool) -> float:
    """Fluoroscopic air-kerma-rate limit.

    Parameters
    ----------
    high_level : bool
        High-level control activated.

    Returns
    -------
    float
        88 mGy/min (normal mode) or 176 mGy/min (high-level control) [mGy/min].

    References
    ----------
    21 CFR 1020.32(e): 10 R/min and 20 R/min (1 R = 8.76 mGy air kerma, rounded as usual).
    """
    if not isinstance(high_level, (bool, np.bool_)):
        raise ValueError(f"high_level={high_level!r} is invalid: expected true or false")
    return KAR_RATE_LIMIT_HIGH_LEVEL_MGY_PER_MIN if high_level else KAR_RATE_LIMIT_MGY_PER_MIN


IRP_FROM_ISOCENTRE_CM = 15.0
"""C-arm IRP: 15 cm from the isocentre toward the focal spot (IEC 60601-2-43) [cm]."""

# Substantial radiation dose levels, NCRP 168 / Stecker et al. 2009 ([R]; docs/references.md
# [Tab-SkinDose]).
SRDL_KAR_GY = 5.0
SRDL_KAP_GYCM2 = 500.0
SRDL_PSD_GY = 3.0
SRDL_FLUORO_TIME_MIN = 60.0

# NCRP 168 in-procedure notification levels: (first, then every) ([R], docs/references.md
# [Tab-SkinDose]).
NOTIFY_KAR_GY = (3.0, 1.0)
NOTIFY_PSD_GY = (2.0, 0.5)
NOTIFY_KAP_GYCM2 = (300.0, 100.0)
NOTIFY_FLUORO_TIME_MIN = (30.0, 15.0)

# Tissue reactions of the skin after a single delivery: (threshold [Gy], effect).
# FDA 1994 / Wagner single-threshold list ([R], docs/references.md [FDA-Wagner]); bands per
# Balter et al. 2010.
SKIN_REACTIONS_GY: tuple[tuple[float, str], ...] = (
    (2.0, "transient erythema"),
    (3.0, "temporary epilation"),
    (6.0, "main erythema"),
    (7.0, "permanent epilation"),
    (10.0, "dry desquamation"),
    (15.0, "moist desquamation"),
    (18.0, "dermal necrosis"),
)

# NCRP 168 skin-dose bands (Balter et al. 2010, Table 1): lower edge [Gy] and name.
SKIN_DOSE_BANDS_GY: tuple[tuple[float, str], ...] = (
    (0.0, "A1"),
    (2.0, "A2"),
    (5.0, "B"),
    (10.0, "C"),
    (15.0, "D"),
)

# --------------------------------------------------------------------------- table and pad


def table_layers() -> dict[str, float]:
    """Patient support in the beam below the patient: material -> thickness [mm].

    The layers are owned by ``sim.geometry.TABLE_LAYERS_MM`` (a guess there: 5 mm carbon-fibre
    composite and a 40 mm foam pad); this returns them as a mapping for ``Spectrum.filtered``.
    They transmit about 0.8 of the air kerma at 60-120 kV (3 mm Al, 0-0.3 mm Cu; narrow
    beam). For comparison, measured table-plus-pad air-kerma transmissions are 0.65-0.73 for a
    Siemens Axiom Artis at 50-125 kV (broad beam; PySkinDose, S-indirect), and the
    aluminium equivalent of a movable table top is limited to 1.7 mm Al (21 CFR 1020.30(n)).

    Returns
    -------
    dict[str, float]
        Material name -> thickness [mm].

    References
    ----------
    PySkinDose ``table_data/correction_table_and_pad_attenuation.csv`` (measured
    k_patient_support, github.com/rvbCMTS/PySkinDose); 21 CFR 1020.30(n).
    """
    return dict(TABLE_LAYERS_MM)


# --------------------------------------------------------------------------- backscatter


BSF_FIELD_SIDES_CM = (5.0, 10.0, 20.0, 25.0, 35.0)
"""Field sides of the Benmakhlouf et al. (2011) table [cm]."""

HVL_EXTRAPOLATION_MM_AL = 1.0
"""How far beyond a kV row's HVL range the BSF is extrapolated linearly before clamping [mm Al]."""


@dataclass(frozen=True)
class _BsfTable:
    kvp: np.ndarray  # (nk,)
    hvl: np.ndarray  # (nk, nf) increasing along axis 1
    bsf: np.ndarray  # (ns, nk, nf)
    mu_en_quotient: np.ndarray  # (nk, nf)


@lru_cache(maxsize=1)
def _bsf_table() -> _BsfTable:
    path = asset_path("dose", "backscatter_benmakhlouf2011.csv")
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    kvps = sorted({float(r["kvp_kV"]) for r in rows})
    by_kv: dict[float, list[dict[str, str]]] = {k: [] for k in kvps}
    for r in rows:
        by_kv[float(r["kvp_kV"])].append(r)
    nf = len(by_kv[kvps[0]])
    hvl = np.empty((len(kvps), nf))
    mq = np.empty((len(kvps), nf))
    bsf = np.empty((len(BSF_FIELD_SIDES_CM), len(kvps), nf))
    for i, k in enumerate(kvps):
        rs = sorted(by_kv[k], key=lambda r: float(r["hvl_mm_al"]))
        if len(rs) != nf:
            raise ValueError(f"{path}: {len(rs)} beam qualities at {k} kV, expected {nf}")
        hvl[i] = [float(r["hvl_mm_al"]) for r in rs]
        mq[i] = [float(r["mu_en_quotient"]) for r in rs]
        for j, side in enumerate(BSF_FIELD_SIDES_CM):
            bsf[j, i] = [float(r[f"bsf_{side:g}cm"]) for r in rs]
    return _BsfTable(np.array(kvps), hvl, bsf, mq)


def _interp_row(hvl_row: np.ndarray, val_row: np.ndarray, hvl: float) -> float:
    """Linear in HVL inside the row; linear extrapolation (limited) outside, then clamped."""
    lo, hi = hvl_row[0], hvl_row[-1]
    h = min(max(hvl, lo - HVL_EXTRAPOLATION_MM_AL), hi + HVL_EXTRAPOLATION_MM_AL)
    if h < lo:  # slope over the first three nodes
        slope = (val_row[2] - val_row[0]) / (hvl_row[2] - hvl_row[0])
        return float(val_row[0] + slope * (h - lo))
    if h > hi:  # slope over a wide final span (the last nodes are 0.03 mm apart)
        slope = (val_row[-1] - val_row[-4]) / (hvl_row[-1] - hvl_row[-4])
        return float(val_row[-1] + slope * (h - hi))
    return float(np.interp(h, hvl_row, val_row))


def _interp_kv_hvl(values: np.ndarray, kvp: float, hvl: float) -> float:
    t = _bsf_table()
    k = min(max(kvp, t.kvp[0]), t.kvp[-1])
    i = int(np.clip(np.searchsorted(t.kvp, k) - 1, 0, len(t.kvp) - 2))
    w = (k - t.kvp[i]) / (t.kvp[i + 1] - t.kvp[i])
    a = _interp_row(t.hvl[i], values[i], hvl)
    b = _interp_row(t.hvl[i + 1], values[i + 1], hvl)
    return float((1.0 - w) * a + w * b)


def backscatter_factor(kvp: float, hvl_mm_al: float, field_side_cm: float) -> float:
    """Backscatter factor of a water phantom for a beam quality and a square field.

    Interpolated in the Benmakhlouf et al. (2011) table: linearly in HVL within each tabulated
    kV (50-150 kV in 10 kV steps), then linearly in kV, then linearly in field side (5, 10, 20,
    25, 35 cm). Outside the table: kV is clamped to [50, 150] (at 40-50 kV the 50 kV row is
    used), HVL is extrapolated linearly up to 1 mm Al beyond each kV row and clamped beyond,
    the field side is clamped to [5, 35] cm (the BSF saturates with field size).

    Parameters
    ----------
    kvp : float
        Tube potential [kV].
    hvl_mm_al : float
        First half-value layer of the beam incident on the skin [mm Al].
    field_side_cm : float
        Side of the (equivalent square) field at the entrance surface [cm].

    Returns
    -------
    float
        Ratio of the air kerma at the surface with and without the phantom [-].

    References
    ----------
    H. Benmakhlouf et al., Phys. Med. Biol. 56 (2011) 7179, tables of BSF for a water phantom
    (as tabulated in PySkinDose); docs/references.md [Tab-Backscatter].
    """
    kvp = check_number("kvp", kvp, 40.0, 150.0, "kV")
    hvl_mm_al = check_number("hvl_mm_al", hvl_mm_al, 0.0, 30.0, "mm Al")
    field_side_cm = check_number("field_side_cm", field_side_cm, 0.0, 200.0, "cm")
    t = _bsf_table()
    sides = np.array(BSF_FIELD_SIDES_CM)
    per_side = np.array([_interp_kv_hvl(t.bsf[j], kvp, hvl_mm_al) for j in range(len(sides))])
    return float(np.interp(field_side_cm, sides, per_side))


def mu_en_ratio_water_air(kvp: float, hvl_mm_al: float) -> float:
    """Spectrum-averaged ratio of mass energy-absorption coefficients, water to air.

    Converts the entrance surface air kerma (with backscatter) to dose to water (skin),
    interpolated like :func:`backscatter_factor` in the ``mu_en_quotient`` column of
    Benmakhlouf et al. (2011) (20 x 20 cm field; field dependence below 0.5 %).

    Parameters
    ----------
    kvp : float
        Tube potential [kV].
    hvl_mm_al : float
        First half-value layer of the incident beam [mm Al].

    Returns
    -------
    float
        (mu_en/rho)_water / (mu_en/rho)_air, about 1.02-1.07 [-].

    References
    ----------
    H. Benmakhlouf et al., Phys. Med. Biol. 56 (2011) 7179.
    """
    kvp = check_number("kvp", kvp, 40.0, 150.0, "kV")
    hvl_mm_al = check_number("hvl_mm_al", hvl_mm_al, 0.0, 30.0, "mm Al")
    return _interp_kv_hvl(_bsf_table().mu_en_quotient, kvp, hvl_mm_al)


# Benmakhlouf et al. (2013) eq. (8) coefficients c[row, field] for fields 5,10,20,25,35 cm,
# as implemented in PySkinDose corrections.calculate_k_bs (S-indirect).
_BSF_FIT_2013 = np.array(
    [
        [+1.00870e0, +9.29969e-1, +8.65442e-1, +8.58665e-1, +8.57065e-1],
        [+2.35816e-3, +4.08549e-3, +5.36739e-3, +5.51579e-3, +5.55933e-3],
        [-9.48937e-6, -1.66271e-5, -2.21494e-5, -2.27532e-5, -2.28004e-5],
        [+1.03143e-1, +1.53605e-1, +1.72418e-1, +1.70826e-1, +1.66418e-1],
        [-1.04881e-3, -1.45187e-3, -1.46088e-3, -1.38540e-3, -1.28180e-3],
        [+3.59731e-6, +5.05312e-6, +5.17430e-6, +4.91192e-6, +4.53036e-6],
        [-7.31303e-3, -9.32427e-3, -8.30138e-3, -7.64330e-3, -6.81574e-3],
        [+7.93272e-5, +9.40568e-5, +7.13576e-5, +6.13126e-5, +4.94197e-5],
        [-2.74296e-7, -3.28449e-7, -2.54885e-7, -2.21399e-7, -1.79074e-7],
    ]
)


def backscatter_factor_fit(kvp: float, hvl_mm_al: float, field_side_cm: float) -> float:
    """Backscatter factor from the analytic fit of Benmakhlouf et al. (2013), eq. (8).

    BSF = sum over i, j of c_ij kVp^j HVL^i (i, j = 0..2) at the five tabulated field sides,
    then linear in field side (clamped to 5-35 cm). An independent check of
    :func:`backscatter_factor`; valid for 50-150 kV and the table's HVL range.

    Parameters
    ----------
    kvp : float
        Tube potential [kV].
    hvl_mm_al : float
        First half-value layer [mm Al].
    field_side_cm : float
        Field side at the phantom surface [cm].

    Returns
    -------
    float
        Backscatter factor [-].

    References
    ----------
    H. Benmakhlouf, A. Fransson, P. Andreo, Phys. Med. Biol. 58 (2013) 247, eq. (8);
    coefficients as in PySkinDose ``corrections.calculate_k_bs`` (github.com/rvbCMTS/PySkinDose).
    """
    kvp = check_number("kvp", kvp, 40.0, 150.0, "kV")
    h = check_number("hvl_mm_al", hvl_mm_al, 0.0, 30.0, "mm Al")
    side = check_number("field_side_cm", field_side_cm, 0.0, 200.0, "cm")
    c = _BSF_FIT_2013
    k = np.array([1.0, kvp, kvp * kvp])
    per_side = (k @ c[0:3]) + (k @ c[3:6]) * h + (k @ c[6:9]) * h * h
    return float(np.interp(side, BSF_FIELD_SIDES_CM, per_side))


# --------------------------------------------------------------------------- one frame


@dataclass(frozen=True)
class FrameDose:
    """Dose of one frame (one pulse, or one 1/30 s frame of continuous fluoroscopy).

    Attributes
    ----------
    kar_uGy : float
        Reference air kerma at the IRP, free in air, no backscatter [uGy].
    kap_uGycm2 : float
        Kerma-area product [uGy cm^2].
    skin_uGy : float
        Entrance skin dose (dose to water at the entrance surface, with backscatter) [uGy].
    esak_uGy : float
        Entrance surface air kerma (incident air kerma times the backscatter factor) [uGy].
    incident_uGy : float
        Incident air kerma at the entrance surface, after the table, no backscatter [uGy].
    bsf : float
        Backscatter factor [-].
    mu_en_ratio : float
        Water/air mass energy-absorption coefficient ratio [-].
    table_transmission : float
        Air-kerma transmission of the table and pad (1 without table) [-].
    hvl_mm_al : float
        HVL of the beam incident on the skin [mm Al].
    field_side_cm_at_skin : float
        Equivalent square field side at the entrance surface [cm].
    irp_cm, skin_cm : float
        Focal spot to IRP and to the entrance surface [cm].
    mas : float
        Tube charge of the frame [mAs].
    frames_per_s : float
        Frame (pulse) rate [1/s].
    cfr_point_uGy : float
        Air kerma free in air at the C-arm compliance point of 21 CFR 1020.32(e), 30 cm from
        the receptor input surface toward the source [uGy].
    """

    kar_uGy: float
    kap_uGycm2: float
    skin_uGy: float
    esak_uGy: float
    incident_uGy: float
    bsf: float
    mu_en_ratio: float
    table_transmission: float
    hvl_mm_al: float
    field_side_cm_at_skin: float
    irp_cm: float
    skin_cm: float
    mas: float
    frames_per_s: float
    cfr_point_uGy: float = math.nan

    def kar_rate_mGy_per_min(self, technique: Technique | None = None) -> float:
        """Reference air kerma rate [mGy/min] (at this frame's rate, or ``technique``'s)."""
        fps = self.frames_per_s if technique is None else 1.0 / technique.frame_time_s
        return _rate_mGy_per_min(self.kar_uGy, fps)


def _rate_mGy_per_min(per_frame_uGy: float, frames_per_s: float) -> float:
    return per_frame_uGy * frames_per_s * S_PER_MIN / UGY_PER_MGY


def kar_uGy_per_frame(
    spectrum_filtered: Spectrum, technique: Technique, geometry: Geometry
) -> float:
    """Reference air kerma per frame, K(d_IRP) per mAs x mAs per frame [uGy] (as
    :func:`frame_dose`, without the rest of its quantities)."""
    mas = check_number("technique.mas_per_frame", technique.mas_per_frame, 0.0, 1e4, "mAs")
    return float(spectrum_filtered.air_kerma_uGy_per_mAs(geometry.irp_cm) * mas)


def kar_rate_mGy_per_min(
    spectrum_filtered: Spectrum, technique: Technique, geometry: Geometry
) -> float:
    """Reference air kerma rate of a technique [mGy/min] (:func:`kar_uGy_per_frame` at its
    frame rate); what automatic brightness control holds under the limits."""
    fps = 1.0 / check_number("technique.frame_time_s", technique.frame_time_s, 1e-3, 1e3, "s")
    return _rate_mGy_per_min(kar_uGy_per_frame(spectrum_filtered, technique, geometry), fps)


CFR_POINT_CM = 30.0
"""The C-arm air-kerma-rate compliance point of 21 CFR 1020.32(e): 30 cm from the input surface
of the image receptor toward the source [cm] (docs/references.md [Tab-AKRLimits]). The limits
here are applied (README, "Physics models and their sources": dose) to the Ka,r at the IRP,
which for usual geometries lies closer to the source (stricter); the rate at the compliance
point is reported beside it."""


def frame_dose(
    spectrum_filtered: Spectrum, technique: Technique, geometry: Geometry, table: bool
) -> FrameDose:
    """Dose quantities of one frame.

    Ka,r per frame = K(d_IRP) per mAs x mAs per frame (free in air, no table, no backscatter).
    KAP = K(SID) x field area at the SID (independent of the distance chosen).
    Skin: K(d_skin) through the table and pad (when ``table``) x BSF(kV, HVL at the skin,
    field side at the skin) x (mu_en/rho)_water/air.

    Parameters
    ----------
    spectrum_filtered : sim.spectrum.Spectrum
        Tube spectrum after the added filtration (Al and Cu), per mAs at 100 cm.
    technique : sim.params.Technique
        Exposure technique (mAs per frame, frame rate).
    geometry : sim.geometry.Geometry
        Distances and field (``irp_cm``, ``source_skin_cm``, ``sid_cm``, ``field_area_cm2_at``).
    table : bool
        Whether the table and its pad are in the beam before the patient.

    Returns
    -------
    FrameDose
        Per-frame dose quantities.

    References
    ----------
    IEC 60601-2-43 (Ka,r at the IRP); 21 CFR 1020.32; Benmakhlouf et al., Phys. Med. Biol. 56
    (2011) 7179 (backscatter and mu_en ratios); inverse-square law.
    """
    if not isinstance(table, (bool, np.bool_)):
        raise ValueError(f"table={table!r} is invalid: expected true or false")
    mas = check_number("technique.mas_per_frame", technique.mas_per_frame, 0.0, 1e4, "mAs")
    fps = 1.0 / check_number("technique.frame_time_s", technique.frame_time_s, 1e-3, 1e3, "s")
    k100 = spectrum_filtered.air_kerma_uGy_per_mAs(100.0)
    kar = kar_uGy_per_frame(spectrum_filtered, technique, geometry)
    sid = geometry.sid_cm
    kap = spectrum_filtered.air_kerma_uGy_per_mAs(sid) * mas * geometry.field_area_cm2_at(sid)

    at_skin = spectrum_filtered.filtered(table_layers()) if table else spectrum_filtered
    transmission = at_skin.air_kerma_uGy_per_mAs(100.0) / k100 if k100 > 0 else 0.0
    skin_cm = geometry.source_skin_cm
    incident = at_skin.air_kerma_uGy_per_mAs(skin_cm) * mas
    hvl = at_skin.hvl_mm_al()
    side = math.sqrt(geometry.field_area_cm2_at(skin_cm))
    kvp = float(spectrum_filtered.kvp)
    bsf = backscatter_factor(kvp, hvl, side)
    ratio = mu_en_ratio_water_air(kvp, hvl)
    esak = incident * bsf
    return FrameDose(
        kar_uGy=float(kar),
        kap_uGycm2=float(kap),
        skin_uGy=float(esak * ratio),
        esak_uGy=float(esak),
        incident_uGy=float(incident),
        bsf=bsf,
        mu_en_ratio=ratio,
        table_transmission=float(transmission),
        hvl_mm_al=float(hvl),
        field_side_cm_at_skin=side,
        irp_cm=float(geometry.irp_cm),
        skin_cm=float(skin_cm),
        mas=mas,
        frames_per_s=fps,
        cfr_point_uGy=float(spectrum_filtered.air_kerma_uGy_per_mAs(sid - CFR_POINT_CM) * mas),
    )


# --------------------------------------------------------------------------- reporting

# Effective dose per KAP [mSv / (Gy cm^2)], ICRP 103 weighting.
# [R]: mid-range of the textbook ranges in docs/references.md [Tab-EffectiveDose], plausibility
# values only.
E_PER_KAP_MSV_PER_GYCM2: dict[str, float] = {
    "head": 0.03,  # [R] 0.02-0.04
    "neck": 0.075,  # [R] 0.05-0.10
    "chest": 0.15,  # [R] 0.10-0.20
    "abdomen": 0.20,  # [R] 0.15-0.26
    "pelvis": 0.22,  # [R] 0.15-0.30
    "extremity": 0.01,  # [R] <= 0.01 (upper bound)
    "cardiac": 0.21,  # [S] Vano et al.: 0.21 +/- 0.05 without Cu; Cu-dependent, see below
}
_CARDIAC_CU_MM = (0.0, 0.1, 0.4, 0.9)
_CARDIAC_E_PER_KAP = (0.16, 0.27, 0.34, 0.40)  # [S] Vano et al., by added Cu filtration


def effective_dose_coefficient(region: str, cu_mm: float = 0.0) -> float:
    """Effective dose per kerma-area product for a body region.

    Cardiac: interpolated in the added copper filtration (0, 0.1, 0.4, 0.9 mm Cu ->
    0.16, 0.27, 0.34, 0.40, Vano et al., [S]); other regions: mid-range of textbook ranges
    ([R] values: head 0.03, neck 0.075, chest 0.15, abdomen 0.20, pelvis 0.22, extremity 0.01).

    Parameters
    ----------
    region : str
        One of head, neck, chest, abdomen, pelvis, cardiac, extremity.
    cu_mm : float
        Added copper filtration [mm] (used for the cardiac region).

    Returns
    -------
    float
        Conversion coefficient [mSv / (Gy cm^2)].

    References
    ----------
    E. Vano et al., Phys. Med., "Conversion factors to estimate effective doses from kerma
    area product in interventional cardiology. Impact of added filtration" (ICRP 103);
    docs/references.md [Tab-EffectiveDose] for the [R] values; PCXMC (STUK) for
    patient-specific coefficients.
    """
    if region not in E_PER_KAP_MSV_PER_GYCM2:
        raise ValueError(
            f"region={region!r} is invalid: expected one of "
            + ", ".join(sorted(E_PER_KAP_MSV_PER_GYCM2))
        )
    if region == "cardiac":
        cu = check_number("cu_mm", cu_mm, 0.0, 10.0, "mm")
        return float(np.interp(cu, _CARDIAC_CU_MM, _CARDIAC_E_PER_KAP))
    return E_PER_KAP_MSV_PER_GYCM2[region]


def skin_reaction(skin_dose_Gy: float) -> tuple[str, str]:
    """Expected tissue reaction and NCRP 168 band for a single-delivery peak skin dose.

    Parameters
    ----------
    skin_dose_Gy : float
        Peak skin dose [Gy].

    Returns
    -------
    tuple[str, str]
        (the most severe reaction whose threshold is passed, e.g. "main erythema possible";
        band "A1", "A2", "B", "C" or "D").

    References
    ----------
    S. Balter et al., Radiology 254 (2010) 326, Table 1 (NCRP 168 bands); FDA 1994 / Wagner
    threshold list (docs/references.md [FDA-Wagner], [R]).
    """
    d = check_number("skin_dose_Gy", skin_dose_Gy, 0.0, 1e6, "Gy")
    band = [name for lo, name in SKIN_DOSE_BANDS_GY if d >= lo][-1]
    effects = [effect for lo, effect in SKIN_REACTIONS_GY if d >= lo]
    if not effects:
        return "none expected (below 2 Gy)", band
    return f"{effects[-1]} possible", band


def _notifications(value: float, levels: tuple[float, float]) -> int:
    """How many NCRP 168 notification levels ``value`` has passed (0 below the first)."""
    first, step = levels
    if value < first:
        return 0
    return 1 + int(math.floor((value - first) / step + 1e-9))


def frames_in(fluoro_time_s: float, technique: Technique) -> int:
    """Number of frames (pulses) in a beam-on time: round(time x rate), at least 1.

    Parameters
    ----------
    fluoro_time_s : float
        Beam-on (fluoroscopy) time [s].
    technique : sim.params.Technique
        Technique (frame rate).

    Returns
    -------
    int
        Frames [-].

    References
    ----------
    Definition (pulsed fluoroscopy delivers one pulse per frame period).
    """
    t = check_number("fluoro_time_s", fluoro_time_s, 0.0, 1e7, "s")
    return max(1, round(t / technique.frame_time_s))


def dose_report(
    frame: FrameDose,
    technique: Technique,
    fluoro_time_s: float,
    region: str,
    high_level: bool,
    receptor_nGy: float,
) -> dict[str, float | bool | str]:
    """Rates, totals over the fluoroscopy time, limits, thresholds and SRDL flags.

    Totals are per-frame values times the number of frames (:func:`frames_in`); rates are
    per-frame values times the frame rate. The peak skin dose equals the accumulated entrance
    skin dose (one fixed projection: every frame irradiates the same skin).

    Parameters
    ----------
    frame : FrameDose
        Dose of one frame (:func:`frame_dose`).
    technique : sim.params.Technique
        Technique used (frame rate, Cu for the cardiac coefficient).
    fluoro_time_s : float
        Beam-on time [s].
    region : str
        Body region for the effective-dose coefficient.
    high_level : bool
        High-level control active (limit 176 instead of 88 mGy/min).
    receptor_nGy : float
        Receptor air kerma per frame (from the chain) [nGy].

    Returns
    -------
    dict
        Keys: frames, fluoro_time_s, frames_per_s, kar_uGy_per_frame, kar_rate_mGy_per_min,
        kar_mGy, kap_uGycm2_per_frame, kap_rate_Gycm2_per_min, kap_Gycm2, incident_mGy,
        esak_mGy, skin_dose_mGy, skin_dose_rate_mGy_per_min, peak_skin_dose_mGy, bsf,
        mu_en_ratio, table_transmission, hvl_mm_al, effective_dose_mSv,
        e_per_kap_mSv_per_Gycm2, region, limit_mGy_per_min, over_limit,
        receptor_nGy_per_frame, receptor_uGy_per_s, receptor_uGy, reaction, reaction_band,
        srdl_kar, srdl_kap, srdl_psd, srdl_fluoro_time, srdl_any, notify_kar, notify_kap,
        notify_psd, notify_fluoro_time (number of NCRP 168 notification levels passed).

    References
    ----------
    21 CFR 1020.32(e) (limits); NCRP Report 168 and Stecker et al., JVIR 20 (2009) S263
    (SRDL, notifications); Balter et al., Radiology 254 (2010) 326 (skin reactions).
    """
    limit = kar_rate_limit_mGy_per_min(high_level)
    receptor = check_number("receptor_nGy", receptor_nGy, 0.0, 1e12, "nGy")
    fluoro_time_s = check_number("fluoro_time_s", fluoro_time_s, 0.0, 1e7, "s")
    coeff = effective_dose_coefficient(region, technique.cu_mm)
    n = frames_in(fluoro_time_s, technique)
    fps = 1.0 / technique.frame_time_s
    per_min = fps * S_PER_MIN
    kar_rate = frame.kar_uGy * per_min / UGY_PER_MGY
    kar_mGy = frame.kar_uGy * n / UGY_PER_MGY
    kap_Gycm2 = frame.kap_uGycm2 * n / UGY_PER_GY
    skin_mGy = frame.skin_uGy * n / UGY_PER_MGY
    reaction, band = skin_reaction(skin_mGy / MGY_PER_GY)
    kar_Gy = kar_mGy / MGY_PER_GY
    psd_Gy = skin_mGy / MGY_PER_GY
    t_min = fluoro_time_s / S_PER_MIN
    srdl = {
        "srdl_kar": kar_Gy >= SRDL_KAR_GY,
        "srdl_kap": kap_Gycm2 >= SRDL_KAP_GYCM2,
        "srdl_psd": psd_Gy >= SRDL_PSD_GY,
        "srdl_fluoro_time": t_min >= SRDL_FLUORO_TIME_MIN,
    }
    return {
        "frames": n,
        "fluoro_time_s": fluoro_time_s,
        "frames_per_s": fps,
        "kar_uGy_per_frame": frame.kar_uGy,
        "kar_rate_mGy_per_min": kar_rate,
        "kar_mGy": kar_mGy,
        "kap_uGycm2_per_frame": frame.kap_uGycm2,
        "kap_rate_Gycm2_per_min": frame.kap_uGycm2 * per_min / UGY_PER_GY,
        "kap_Gycm2": kap_Gycm2,
        "incident_mGy": frame.incident_uGy * n / UGY_PER_MGY,
        "esak_mGy": frame.esak_uGy * n / UGY_PER_MGY,
        "skin_dose_mGy": skin_mGy,
        "skin_dose_rate_mGy_per_min": frame.skin_uGy * per_min / UGY_PER_MGY,
        "peak_skin_dose_mGy": skin_mGy,
        "bsf": frame.bsf,
        "mu_en_ratio": frame.mu_en_ratio,
        "table_transmission": frame.table_transmission,
        "hvl_mm_al": frame.hvl_mm_al,
        "effective_dose_mSv": kap_Gycm2 * coeff,
        "e_per_kap_mSv_per_Gycm2": coeff,
        "region": region,
        "limit_mGy_per_min": limit,
        "over_limit": bool(kar_rate > limit),
        "cfr_point_rate_mGy_per_min": frame.cfr_point_uGy * per_min / UGY_PER_MGY,
        "receptor_nGy_per_frame": receptor,
        "receptor_uGy_per_s": receptor * fps / NGY_PER_UGY,
        "receptor_uGy": receptor * n / NGY_PER_UGY,
        "reaction": reaction,
        "reaction_band": band,
        **srdl,
        "srdl_any": any(srdl.values()),
        "notify_kar": _notifications(kar_Gy, NOTIFY_KAR_GY),
        "notify_kap": _notifications(kap_Gycm2, NOTIFY_KAP_GYCM2),
        "notify_psd": _notifications(psd_Gy, NOTIFY_PSD_GY),
        "notify_fluoro_time": _notifications(t_min, NOTIFY_FLUORO_TIME_MIN),
    }


# --------------------------------------------------------------------------- time series


@dataclass(frozen=True)
class DoseSeries:
    """Cumulative dose, pulse by pulse.

    Attributes
    ----------
    time_s : numpy.ndarray
        Time of each pulse [s].
    kar_mGy : numpy.ndarray
        Cumulative reference air kerma after each pulse [mGy].
    kap_Gycm2 : numpy.ndarray
        Cumulative kerma-area product [Gy cm^2].
    skin_dose_mGy : numpy.ndarray
        Cumulative entrance (= peak, fixed beam) skin dose [mGy].
    """

    time_s: np.ndarray
    kar_mGy: np.ndarray
    kap_Gycm2: np.ndarray
    skin_dose_mGy: np.ndarray

    def kar_rate_mGy_per_min(self) -> np.ndarray:
        """Ka,r rate between successive pulses (first entry: NaN) [mGy/min]."""
        dt = np.diff(self.time_s)
        dk = np.diff(self.kar_mGy)
        rate = np.full(self.time_s.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate[1:] = np.where(dt > 0, dk / dt * S_PER_MIN, np.nan)
        return rate


def accumulate(frames: Sequence[FrameDose], times_s: Sequence[float]) -> DoseSeries:
    """Cumulative Ka,r, KAP and skin dose over a run, pulse by pulse.

    Parameters
    ----------
    frames : sequence of FrameDose
        Dose of each pulse (the technique may change from pulse to pulse).
    times_s : sequence of float
        Time of each pulse, non-decreasing [s].

    Returns
    -------
    DoseSeries
        Cumulative values after each pulse.

    References
    ----------
    Cumulative air kerma display, 21 CFR 1020.32(k); IEC 60601-2-43.
    """
    t = np.asarray(times_s, dtype=float)
    if len(frames) != t.size or t.ndim != 1:
        raise ValueError(
            f"times_s has {t.size} entries for {len(frames)} frames: expected one time per frame"
        )
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0) or (t.size and t[0] < 0):
        raise ValueError("times_s must be finite, >= 0 and non-decreasing [s]")
    kar = np.cumsum([f.kar_uGy for f in frames]) / UGY_PER_MGY
    kap = np.cumsum([f.kap_uGycm2 for f in frames]) / UGY_PER_GY
    skin = np.cumsum([f.skin_uGy for f in frames]) / UGY_PER_MGY
    empty = np.zeros(0)
    return DoseSeries(
        time_s=t,
        kar_mGy=kar if len(frames) else empty,
        kap_Gycm2=kap if len(frames) else empty,
        skin_dose_mGy=skin if len(frames) else empty,
    )
