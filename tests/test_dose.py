"""Dose: Ka,r at the IRP, KAP, entrance skin dose with backscatter, totals, limits, thresholds.

Most checks are hand calculations on a stand-in spectrum whose air kerma is a round number
(100 uGy/mAs at 100 cm, HVL 2.77 mm Al at 80 kV, table transmission 0.8), so every expected
value can be worked out on paper; the backscatter checks use published values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from sim import dose
from sim.geometry import Geometry
from sim.params import Technique

# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class FakeSpectrum:
    """Stand-in: K(100 cm) = k100 uGy/mAs, inverse square; the table transmits 0.8."""

    kvp: float = 80.0
    k100: float = 100.0
    hvl: float = 2.77

    def air_kerma_uGy_per_mAs(self, distance_cm: float = 100.0) -> float:
        return self.k100 * (100.0 / distance_cm) ** 2

    def filtered(self, filters):
        assert set(filters) == {"carbon_fibre", "foam"}
        return replace(self, k100=0.8 * self.k100)

    def hvl_mm_al(self) -> float:
        return self.hvl


def geometry(**kw) -> Geometry:
    base = dict(
        sid_cm=100.0,
        source_iso_cm=70.0,
        source_skin_cm=60.0,
        patient_thickness_cm=22.0,
        field_cm=20.0,
        field_shape="square",
        fov_cm=30.0,
        focal_spot_mm=0.6,
        table=True,
    )
    base.update(kw)
    return Geometry(**base)


def technique(ma=10.0, pulse_ms=8.0, pps=15.0, cu_mm=0.1, kvp=80.0) -> Technique:
    return Technique(kvp=kvp, ma=ma, pulse_ms=pulse_ms, pulse_rate_pps=pps, cu_mm=cu_mm)


# --------------------------------------------------------------------------- Ka,r and KAP


def test_kar_per_frame_and_rate_by_hand():
    """IRP = 70 - 15 = 55 cm; K = 100 (100/55)^2 = 330.58 uGy/mAs; 0.08 mAs per frame;
    rate = 26.446 uGy x 15/s x 60 s/min = 23.80 mGy/min (IEC 60601-2-43 IRP)."""
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(), table=True)
    assert f.irp_cm == 55.0
    assert f.kar_uGy == pytest.approx(100.0 * (100 / 55) ** 2 * 0.08, rel=1e-12)
    assert f.kar_rate_mGy_per_min() == pytest.approx(26.446281 * 15 * 60 / 1000, rel=1e-6)
    assert f.kar_rate_mGy_per_min(technique(pps=30)) == pytest.approx(
        2 * f.kar_rate_mGy_per_min(), rel=1e-12
    )


def test_kap_by_hand_and_independent_of_distance():
    """KAP = K(SID) x area(SID) = 100 x 0.08 x 400 = 3200 uGy cm^2; the same as
    K(IRP) x area(IRP), and unchanged when the SID moves with the beam's solid angle fixed."""
    g = geometry()
    f = dose.frame_dose(FakeSpectrum(), technique(), g, table=True)
    assert f.kap_uGycm2 == pytest.approx(3200.0, rel=1e-12)
    at_irp = 100.0 * (100 / g.irp_cm) ** 2 * 0.08 * g.field_area_cm2_at(g.irp_cm)
    assert at_irp == pytest.approx(f.kap_uGycm2, rel=1e-12)
    g2 = geometry(sid_cm=125.0, field_cm=25.0)  # same beam, receptor further away
    f2 = dose.frame_dose(FakeSpectrum(), technique(), g2, table=True)
    assert f2.kap_uGycm2 == pytest.approx(f.kap_uGycm2, rel=1e-12)
    assert f2.kar_uGy == pytest.approx(f.kar_uGy, rel=1e-12)  # IRP did not move


def test_kap_quarter_when_field_side_halves():
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(field_cm=20.0), table=True)
    h = dose.frame_dose(FakeSpectrum(), technique(), geometry(field_cm=10.0), table=True)
    assert h.kap_uGycm2 == pytest.approx(f.kap_uGycm2 / 4, rel=1e-12)
    assert h.kar_uGy == f.kar_uGy  # Ka,r is free in air on the axis: field independent


def test_circular_field_kap():
    """Circle of diameter 20 cm at the receptor: area pi 100 cm^2."""
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(field_shape="circle"), table=True)
    assert f.kap_uGycm2 == pytest.approx(100.0 * 0.08 * math.pi * 100.0, rel=1e-12)


# --------------------------------------------------------------------------- skin dose


def test_skin_dose_by_hand():
    """Skin at 60 cm: incident = 0.8 x 100 (100/60)^2 x 0.08 = 17.778 uGy; field side at the
    skin 12 cm; skin dose = incident x BSF(80 kV, 2.77 mm Al, 12 cm) x mu_en ratio."""
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(), table=True)
    assert f.table_transmission == pytest.approx(0.8, rel=1e-12)
    assert f.incident_uGy == pytest.approx(0.8 * 100 * (100 / 60) ** 2 * 0.08, rel=1e-12)
    assert f.field_side_cm_at_skin == pytest.approx(12.0, rel=1e-12)
    bsf = dose.backscatter_factor(80.0, 2.77, 12.0)
    # table: 1.312 at 10 cm, 1.364 at 20 cm -> 1.3224 at 12 cm (linear in side)
    assert bsf == pytest.approx(1.312 + 0.2 * (1.364 - 1.312), abs=1e-9)
    assert f.bsf == pytest.approx(bsf, rel=1e-12)
    assert f.esak_uGy == pytest.approx(f.incident_uGy * bsf, rel=1e-12)
    assert f.skin_uGy == pytest.approx(f.esak_uGy * 1.0205, rel=1e-3)  # mu_en 1.020-1.021


def test_no_table_means_no_table_attenuation():
    with_t = dose.frame_dose(FakeSpectrum(), technique(), geometry(), table=True)
    without = dose.frame_dose(FakeSpectrum(), technique(), geometry(table=False), table=False)
    assert without.table_transmission == 1.0
    assert without.incident_uGy == pytest.approx(with_t.incident_uGy / 0.8, rel=1e-12)
    assert without.kar_uGy == with_t.kar_uGy  # the IRP value never includes the table


def test_skin_dose_inverse_square_when_patient_moves_toward_source():
    """Skin from 60 to 40 cm: incident air kerma x (60/40)^2 = 2.25 exactly; the skin dose
    too, up to the BSF of the (smaller) field at the nearer skin."""
    far = dose.frame_dose(FakeSpectrum(), technique(), geometry(source_skin_cm=60.0), True)
    near = dose.frame_dose(FakeSpectrum(), technique(), geometry(source_skin_cm=40.0), True)
    assert near.incident_uGy / far.incident_uGy == pytest.approx(2.25, rel=1e-12)
    assert near.skin_uGy / far.skin_uGy == pytest.approx(2.25 * near.bsf / far.bsf, rel=1e-12)
    assert near.bsf < far.bsf  # 8 cm instead of 12 cm field side at the skin


def test_linear_in_mas():
    a = dose.frame_dose(FakeSpectrum(), technique(ma=10.0), geometry(), True)
    b = dose.frame_dose(FakeSpectrum(), technique(ma=30.0), geometry(), True)
    c = dose.frame_dose(FakeSpectrum(), technique(ma=10.0, pulse_ms=24.0), geometry(), True)
    for other in (b, c):
        assert other.kar_uGy == pytest.approx(3 * a.kar_uGy, rel=1e-12)
        assert other.kap_uGycm2 == pytest.approx(3 * a.kap_uGycm2, rel=1e-12)
        assert other.skin_uGy == pytest.approx(3 * a.skin_uGy, rel=1e-12)


def test_real_spectrum_kar_and_table_transmission():
    """With the real beam: Ka,r per frame = K(100 cm) (100/IRP)^2 mAs; table in (0.6, 1)."""
    from sim.spectrum import tube_spectrum

    s = tube_spectrum(80.0).filtered({"Al": 3.0, "Cu": 0.1})
    f = dose.frame_dose(s, technique(), geometry(), table=True)
    assert f.kar_uGy == pytest.approx(s.air_kerma_uGy_per_mAs(100.0) * (100 / 55) ** 2 * 0.08)
    assert 0.6 < f.table_transmission < 1.0
    assert f.hvl_mm_al > s.hvl_mm_al()  # the table hardens the beam
    assert 1.0 < f.mu_en_ratio < 1.08


# --------------------------------------------------------------------------- backscatter


# Benmakhlouf et al. (2011) via PySkinDose, docs/references.md [Tab-Backscatter]: kV, HVL, BSF
# at 10/20/25/35 cm.
PUBLISHED_BSF = [
    (60, 2.11, (1.270, 1.302, 1.307, 1.310)),
    (60, 3.51, (1.355, 1.412, 1.421, 1.426)),
    (60, 4.84, (1.412, 1.493, 1.507, 1.516)),
    (80, 2.77, (1.312, 1.364, 1.374, 1.380)),
    (80, 3.12, (1.330, 1.388, 1.399, 1.406)),
    (80, 4.66, (1.392, 1.476, 1.492, 1.503)),
    (80, 6.47, (1.438, 1.550, 1.572, 1.589)),
    (100, 3.52, (1.339, 1.408, 1.422, 1.433)),
    (100, 5.79, (1.406, 1.507, 1.528, 1.545)),
    (100, 7.81, (1.437, 1.564, 1.591, 1.614)),
    (120, 4.31, (1.354, 1.436, 1.453, 1.467)),
    (120, 6.78, (1.407, 1.519, 1.543, 1.563)),
    (120, 8.85, (1.426, 1.558, 1.588, 1.614)),
]


@pytest.mark.parametrize("kvp, hvl, values", PUBLISHED_BSF)
def test_bsf_reproduces_published_table(kvp, hvl, values):
    """Table nodes are returned exactly (Benmakhlouf et al. 2011, docs/references.md
    [Tab-Backscatter])."""
    for side, expected in zip((10.0, 20.0, 25.0, 35.0), values, strict=True):
        assert dose.backscatter_factor(kvp, hvl, side) == pytest.approx(expected, abs=1e-9)


def test_bsf_table_agrees_with_2013_fit():
    """Independent check of the transcribed table: the analytic fit of Benmakhlouf et al.
    (2013) eq. (8) reproduces every node of the 2011 table within 0.5 % (their stated fit
    accuracy is about 1 %)."""
    t = dose._bsf_table()
    worst = 0.0
    for j, side in enumerate(dose.BSF_FIELD_SIDES_CM):
        for i, kvp in enumerate(t.kvp):
            for h, b in zip(t.hvl[i], t.bsf[j, i], strict=True):
                worst = max(worst, abs(dose.backscatter_factor_fit(kvp, h, side) / b - 1))
    assert worst < 0.005


def test_bsf_80kv_25al_20cm_with_our_spectrum():
    """80 kV, 2.5 mm Al, 20 x 20 cm at the skin, no table: BSF 1.364 (Benmakhlouf 2011),
    about 1.36 — within 2 % with the HVL of our own spectrum; mu_en ratio 1.020."""
    from sim.spectrum import tube_spectrum

    s = tube_spectrum(80.0).filtered({"Al": 2.5})
    g = geometry(table=False, field_cm=20.0 * 100.0 / 60.0)  # 20 cm side at the 60 cm skin
    f = dose.frame_dose(s, technique(), g, table=False)
    assert f.field_side_cm_at_skin == pytest.approx(20.0)
    assert f.bsf == pytest.approx(1.364, rel=0.02)
    assert f.bsf == pytest.approx(1.36, rel=0.02)
    assert f.mu_en_ratio == pytest.approx(1.020, abs=0.003)


def test_bsf_rises_with_hvl_and_field_and_is_bounded():
    hvls = np.linspace(2.0, 6.0, 9)
    b = [dose.backscatter_factor(80.0, h, 20.0) for h in hvls]
    assert np.all(np.diff(b) > 0)
    sides = [5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 35.0]
    s = [dose.backscatter_factor(80.0, 3.0, x) for x in sides]
    assert np.all(np.diff(s) > 0)
    for kvp in (40.0, 45.0, 150.0):  # outside the table: clamped or extrapolated, still sane
        for h in (0.5, 3.0, 15.0):
            assert 1.1 < dose.backscatter_factor(kvp, h, 20.0) < 1.7
    assert dose.backscatter_factor(80.0, 3.0, 60.0) == dose.backscatter_factor(80.0, 3.0, 35.0)


# --------------------------------------------------------------------------- report


def test_report_totals_rates_and_linearity_in_pulses():
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(), True)
    r = dose.dose_report(f, technique(), 60.0, "pelvis", False, 40.0)
    assert r["frames"] == 900
    assert r["kar_mGy"] == pytest.approx(f.kar_uGy * 900 / 1000, rel=1e-12)
    assert r["kar_mGy"] == pytest.approx(r["kar_rate_mGy_per_min"] * 1.0, rel=1e-12)  # 1 min
    assert r["kap_Gycm2"] == pytest.approx(3200.0 * 900 / 1e6, rel=1e-12)
    assert r["skin_dose_mGy"] == r["peak_skin_dose_mGy"]
    r2 = dose.dose_report(f, technique(), 120.0, "pelvis", False, 40.0)
    for key in ("kar_mGy", "kap_Gycm2", "skin_dose_mGy", "effective_dose_mSv", "receptor_uGy"):
        assert r2[key] == pytest.approx(2 * r[key], rel=1e-12)
    assert r["receptor_uGy_per_s"] == pytest.approx(40.0 * 15 / 1000)  # 0.6 uGy/s (FANC 1.5)


def test_doubling_pulse_rate_at_fixed_dose_per_pulse_doubles_the_rate():
    t15, t30 = technique(pps=15.0), technique(pps=30.0)
    f15 = dose.frame_dose(FakeSpectrum(), t15, geometry(), True)
    f30 = dose.frame_dose(FakeSpectrum(), t30, geometry(), True)
    assert f30.kar_uGy == f15.kar_uGy
    r15 = dose.dose_report(f15, t15, 60.0, "pelvis", False, 40.0)
    r30 = dose.dose_report(f30, t30, 60.0, "pelvis", False, 40.0)
    for key in ("kar_rate_mGy_per_min", "kap_rate_Gycm2_per_min", "skin_dose_rate_mGy_per_min"):
        assert r30[key] == pytest.approx(2 * r15[key], rel=1e-12)
    assert r30["frames"] == 2 * r15["frames"]


def test_continuous_mode_frame_time():
    t = Technique(kvp=80, ma=2.0, pulse_ms=8.0, pulse_rate_pps=30.0, cu_mm=0.1, continuous=True)
    f = dose.frame_dose(FakeSpectrum(), t, geometry(), True)
    assert f.mas == pytest.approx(2.0 / 30.0)  # beam on for the whole 1/30 s frame
    assert dose.frames_in(10.0, t) == 300


def test_limits_88_and_176():
    """21 CFR 1020.32(e): 88 mGy/min normal, 176 mGy/min with high-level control."""
    assert dose.kar_rate_limit_mGy_per_min(False) == 88.0
    assert dose.kar_rate_limit_mGy_per_min(True) == 176.0
    # 100 mGy/min: 100 / (15 x 60) mGy per frame -> K at IRP per frame
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(), True)
    scale = (100.0 / f.kar_rate_mGy_per_min()) * 10.0  # mA for 100 mGy/min
    g = dose.frame_dose(FakeSpectrum(), technique(ma=scale), geometry(), True)
    assert g.kar_rate_mGy_per_min() == pytest.approx(100.0)
    normal = dose.dose_report(g, technique(ma=scale), 10.0, "pelvis", False, 40.0)
    high = dose.dose_report(g, technique(ma=scale), 10.0, "pelvis", True, 40.0)
    assert normal["limit_mGy_per_min"] == 88.0 and normal["over_limit"] is True
    assert high["limit_mGy_per_min"] == 176.0 and high["over_limit"] is False


def _frame(kar_uGy=0.0, kap_uGycm2=0.0, skin_uGy=0.0) -> dose.FrameDose:
    return dose.FrameDose(
        kar_uGy=kar_uGy,
        kap_uGycm2=kap_uGycm2,
        skin_uGy=skin_uGy,
        esak_uGy=skin_uGy,
        incident_uGy=skin_uGy,
        bsf=1.35,
        mu_en_ratio=1.02,
        table_transmission=0.8,
        hvl_mm_al=3.0,
        field_side_cm_at_skin=12.0,
        irp_cm=55.0,
        skin_cm=60.0,
        mas=0.08,
        frames_per_s=1.0,
    )


def test_srdl_flags_and_notifications():
    """NCRP 168 / SIR: SRDL Ka,r 5 Gy, KAP 500 Gy cm^2, PSD 3 Gy, 60 min; notifications
    Ka,r 3 Gy then every 1 Gy, PSD 2 then 0.5 Gy, KAP 300 then 100, time 30 then 15 min.
    One pulse per second for 3600 s (60 min)."""
    t = technique(pps=1.0)
    # per pulse: 5.5 Gy/3600 Ka,r, 550/3600 Gy cm^2, 2.6 Gy/3600 skin
    f = _frame(kar_uGy=5.5e6 / 3600, kap_uGycm2=550e6 / 3600, skin_uGy=2.6e6 / 3600)
    r = dose.dose_report(f, t, 3600.0, "pelvis", False, 40.0)
    assert r["kar_mGy"] == pytest.approx(5500.0)
    assert r["srdl_kar"] and r["srdl_kap"] and r["srdl_fluoro_time"] and not r["srdl_psd"]
    assert r["srdl_any"]
    assert r["notify_kar"] == 3  # 3, 4, 5 Gy passed
    assert r["notify_kap"] == 3  # 300, 400, 500 Gy cm^2
    assert r["notify_psd"] == 2  # 2.0, 2.5 Gy
    assert r["notify_fluoro_time"] == 3  # 30, 45, 60 min
    quiet = dose.dose_report(_frame(1.0, 1.0, 1.0), t, 60.0, "pelvis", False, 40.0)
    assert not quiet["srdl_any"] and quiet["notify_kar"] == 0 and quiet["notify_psd"] == 0


@pytest.mark.parametrize(
    "gray, band, text",
    [
        (0.5, "A1", "none"),
        (2.5, "A2", "transient erythema"),
        (3.5, "A2", "temporary epilation"),
        (6.5, "B", "main erythema"),
        (8.0, "B", "permanent epilation"),
        (12.0, "C", "dry desquamation"),
        (16.0, "D", "moist desquamation"),
        (20.0, "D", "necrosis"),
    ],
)
def test_skin_reaction_bands(gray, band, text):
    """Balter et al. 2010 Table 1 bands; FDA/Wagner thresholds 2, 3, 6, 7, 10, 15, 18 Gy."""
    reaction, b = dose.skin_reaction(gray)
    assert b == band and text in reaction
    r = dose.dose_report(_frame(skin_uGy=gray * 1e6), technique(pps=1.0), 1.0, "head", False, 1)
    assert r["reaction_band"] == band and text in r["reaction"]


def test_effective_dose():
    """E = KAP x coefficient: pelvis 0.22 [R]; cardiac with 0.1 mm Cu 0.27 (Vano et al.)."""
    f = _frame(kap_uGycm2=1e6)  # 1 Gy cm^2 per pulse
    r = dose.dose_report(f, technique(pps=1.0, cu_mm=0.1), 10.0, "pelvis", False, 40.0)
    assert r["effective_dose_mSv"] == pytest.approx(10.0 * 0.22)
    c = dose.dose_report(f, technique(pps=1.0, cu_mm=0.1), 10.0, "cardiac", False, 40.0)
    assert c["effective_dose_mSv"] == pytest.approx(10.0 * 0.27)
    assert dose.effective_dose_coefficient("cardiac", 0.25) == pytest.approx(0.305)
    assert dose.effective_dose_coefficient("extremity") < dose.effective_dose_coefficient("head")


def test_accumulate_pulse_by_pulse():
    frames = [_frame(10.0, 1000.0, 20.0), _frame(20.0, 2000.0, 40.0), _frame(10.0, 1000.0, 20.0)]
    s = dose.accumulate(frames, [0.0, 1 / 15, 2 / 15])
    np.testing.assert_allclose(s.kar_mGy, [0.01, 0.03, 0.04])
    np.testing.assert_allclose(s.kap_Gycm2, [0.001, 0.003, 0.004])
    np.testing.assert_allclose(s.skin_dose_mGy, [0.02, 0.06, 0.08])
    rate = s.kar_rate_mGy_per_min()
    assert math.isnan(rate[0]) and rate[1] == pytest.approx(0.02 * 15 * 60)
    # consistent with the report for a constant technique
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(), True)
    series = dose.accumulate([f] * 150, np.arange(150) / 15.0)
    report = dose.dose_report(f, technique(), 10.0, "pelvis", False, 40.0)
    assert series.kar_mGy[-1] == pytest.approx(report["kar_mGy"], rel=1e-12)
    assert series.skin_dose_mGy[-1] == pytest.approx(report["skin_dose_mGy"], rel=1e-12)


# --------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument():
    f = dose.frame_dose(FakeSpectrum(), technique(), geometry(), True)
    with pytest.raises(ValueError, match="region='foot'.*pelvis"):
        dose.dose_report(f, technique(), 60.0, "foot", False, 40.0)
    with pytest.raises(ValueError, match="fluoro_time_s=nan"):
        dose.dose_report(f, technique(), float("nan"), "pelvis", False, 40.0)
    with pytest.raises(ValueError, match="receptor_nGy=-1"):
        dose.dose_report(f, technique(), 60.0, "pelvis", False, -1.0)
    with pytest.raises(ValueError, match="high_level"):
        dose.dose_report(f, technique(), 60.0, "pelvis", "yes", 40.0)
    with pytest.raises(ValueError, match="table="):
        dose.frame_dose(FakeSpectrum(), technique(), geometry(), table="yes")
    with pytest.raises(ValueError, match=r"kvp=200 is out of range \[40, 150\] kV"):
        dose.backscatter_factor(200, 3.0, 20.0)
    with pytest.raises(ValueError, match="hvl_mm_al=nan"):
        dose.backscatter_factor(80, float("nan"), 20.0)
    with pytest.raises(ValueError, match="times_s has 1 entries for 2 frames"):
        dose.accumulate([f, f], [0.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        dose.accumulate([f, f], [1.0, 0.0])
    with pytest.raises(ValueError, match="technique.mas_per_frame"):
        dose.frame_dose(FakeSpectrum(), technique(ma=float("inf")), geometry(), True)
