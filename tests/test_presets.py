"""Presets (sim.presets): every scenario valid, runnable, and of the published dose magnitude."""

from __future__ import annotations

import re

import pytest

from sim import chain, sequence
from sim.params import KNOBS, Params
from sim.presets import PRESETS, preset, preset_names, preset_params

REQUIRED = {
    "hip_injection",
    "lumbar_epidural",
    "barium_swallow",
    "cardiac_cath",
    "paediatric",
    "large_patient",
    "qa_contrast_detail",
}


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def test_the_scenarios_of_the_issue_are_there():
    assert REQUIRED <= set(preset_names())
    assert list(PRESETS) == list(preset_names())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_valid_and_described(name):
    pr = preset(name)
    assert pr.name == name and pr.title
    assert 2 <= _sentences(pr.text) <= 4
    assert set(pr.changes) <= set(KNOBS)
    p = preset_params(name)
    assert isinstance(p, Params)
    for knob, value in pr.changes.items():
        assert p.get(knob) == value
    assert pr.sources  # where the values come from


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_simulates_and_runs(name):
    p = preset_params(name).replace(**{"run.image_px": 64, "run.fluoro_time_s": 1.0})
    r = chain.simulate(p)
    assert r.image.shape == (64, 64)
    run = sequence.run(p)
    assert run.frames.shape[1:] == (64, 64)
    assert run.dose["kar_mGy"] > 0.0


def test_unknown_preset_lists_the_names():
    with pytest.raises(ValueError, match="hip_injection"):
        preset_params("knee")


def _dose(name: str) -> dict:
    return chain.simulate(preset_params(name).replace(**{"run.image_px": 64})).dose


def test_large_patient_drives_abc_to_the_limit():
    """36 cm: ABC stops at the 88 mGy/min limit of 21 CFR 1020.32(e) (within 1 %)."""
    r = chain.simulate(preset_params("large_patient").replace(**{"run.image_px": 64}))
    assert r.technique["abc_limited"]
    assert r.dose["kar_rate_mGy_per_min"] == pytest.approx(88.0, rel=0.01)


def test_paediatric_dose_is_a_small_fraction_of_the_adult():
    """Grid out, low pulse rate and a 12 cm child: Ka,r rate below a fifth of the adult hip."""
    child, adult = _dose("paediatric"), _dose("hip_injection")
    assert preset_params("paediatric").grid.enabled is False
    assert child["kar_rate_mGy_per_min"] < 0.2 * adult["kar_rate_mGy_per_min"]


def test_swallow_study_dose_matches_published_magnitude():
    """Videofluoroscopic swallow: median 171 s and 1.4 Gy cm^2 (Zammit-Maempel et al.,
    Dysphagia 22:13, 2007); median 3.7 min and 3.5 Gy cm^2 (Crawley et al., Br J Radiol
    77:654, 2004). Generous range 0.5-10 Gy cm^2 for the preset's 171 s."""
    d = _dose("barium_swallow")
    assert d["fluoro_time_s"] == 171.0
    assert d["frames_per_s"] == 30.0  # continuous
    assert 0.5 <= d["kap_Gycm2"] <= 10.0


def test_cardiac_dose_matches_published_magnitude():
    """Coronary angioplasty: 94 Gy cm^2 with 16 min of fluoroscopy, cine included (ESR white
    paper on radiation protection, Insights Imaging 2011, Table 3, after Neofotistou et al.).
    The preset's 15 min of fluoroscopy alone: 20-300 Gy cm^2, and a skin dose of hundreds of
    mGy (Balter et al., Radiology 254:326, 2010, bands)."""
    d = _dose("cardiac_cath")
    assert 20.0 <= d["kap_Gycm2"] <= 300.0
    assert 200.0 <= d["skin_dose_mGy"] <= 2000.0
    assert d["region"] == "cardiac"


def test_epidural_dose_matches_published_magnitude():
    """Lumbar transforaminal epidural injection, mean 36 s at 15 pulses/s (Kim et al., ASSR
    2012): DAP 37-530 uGy m^2 = 0.37-5.3 Gy cm^2 over 14-113 s at L2-4; range 0.2-6 Gy cm^2."""
    d = _dose("lumbar_epidural")
    assert 0.2 <= d["kap_Gycm2"] <= 6.0


# Published mean KAP of fluoroscopy-guided lumbar transforaminal epidural steroid injections:
# 101.7 uGy m^2 = 1.02 Gy cm^2 (median 0.68) in a mean 36.0 s (median 29 s) of fluoroscopy at
# 70 kV, 16 ms, 15 pulses/s; 181 patients (S.-J. Kim, M. H. Lee, H. W. Chung et al., 2014,
# PubMed 24441060; the same series as Kim et al., ASSR 2012; docs/references.md [KimSJ2014]).
EPIDURAL_KAP_MEAN_GYCM2 = 1.02
# Tolerance: a factor of 2 either way. The published distribution is wide and skewed
# (3-1048 uGy m^2, mean 1.5 x median), and system-reported KAP, as published, includes the
# share the table absorbs (34 % on average: Mann et al., Pain Med 20:971, 2019;
# docs/references.md [Mann2019]).
EPIDURAL_KAP_FACTOR = 2.0


def test_epidural_kap_matches_the_published_mean():
    """The preset runs the published mean fluoroscopy time (36 s); its KAP is within a factor
    of 2 of the published mean (0.51-2.04 Gy cm^2). (With a 24 cm all-soft-tissue abdomen at
    the normal dose level it gave 3.2 Gy cm^2, three times the published mean.)"""
    d = _dose("lumbar_epidural")
    assert d["fluoro_time_s"] == 36.0 and d["frames_per_s"] == 15.0
    lo = EPIDURAL_KAP_MEAN_GYCM2 / EPIDURAL_KAP_FACTOR
    hi = EPIDURAL_KAP_MEAN_GYCM2 * EPIDURAL_KAP_FACTOR
    assert lo <= d["kap_Gycm2"] <= hi


# Ka,r rate of cardiac fluoroscopy for a standard adult: 10-30 mGy/min, with 0.2-0.9 mm Cu.
# Sources: SENTINEL reference level for the entrance surface air kerma rate in fluoroscopy,
# 13 mGy/min at 20 cm PMMA, the standard adult (Padovani et al., Radiat Prot Dosim 129:104,
# 2008); 15 and 29 mGy/min in the low and medium fluoroscopy modes of a flat-panel cardiac
# system on an adult PMMA phantom, AP ("Scatter radiation dose at the height of the operator's
# eye in interventional cardiology", Belo Horizonte); added Cu 0.1-0.9 mm in cardiac beams
# (Vano et al., Phys Med, E/KAP by Cu filtration: 0, 0.1, 0.4, 0.9 mm). Entrance surface air
# kerma includes backscatter (x 1.3-1.4) and is taken 4 cm further from the source than the
# IRP of a 24 cm patient at the isocentre, so the two differ by less than the band's width.
# (docs/references.md [Padovani2008], [BeloHorizonte], [Vano])
CARDIAC_KAR_RATE_MGY_PER_MIN = (10.0, 30.0)
CARDIAC_CU_MM = (0.2, 0.9)


def test_cardiac_standard_adult_kar_rate_and_copper_are_published_ones():
    """24 cm chest on the iodine curve: Ka,r rate 10-30 mGy/min with 0.2-0.9 mm Cu, kV in
    the iodine band (65-75 kV), ABC on target (not at its limit). (Before the iodine curve set
    its own Cu it gave 72 kV, 0.1 mm Cu and 63.5 mGy/min.)"""
    p = preset_params("cardiac_cath")
    assert p.patient.thickness_cm == 24.0 and p.abc.curve == "iodine"
    r = chain.simulate(p.replace(**{"run.image_px": 64}))
    lo, hi = CARDIAC_KAR_RATE_MGY_PER_MIN
    assert lo <= r.dose["kar_rate_mGy_per_min"] <= hi
    assert CARDIAC_CU_MM[0] <= r.technique["cu_mm"] <= CARDIAC_CU_MM[1]
    assert 65.0 <= r.technique["kvp"] <= 75.0 and not r.technique["abc_limited"]
    # fluoroscopy alone stays below the SENTINEL angioplasty reference levels, which include
    # cine (85 Gy cm^2 and 1500 mGy in 15.5 min: Padovani et al. 2008)
    assert r.dose["kap_Gycm2"] < 85.0 and r.dose["kar_mGy"] < 1500.0


def test_readme_scenario_doses():
    """The README's scenario doses, to the digits it gives them (256 px is enough for dose):
    hip 15 mGy and 1.0 Gy cm^2 in 60 s; epidural 1.2 Gy cm^2; cardiac 70 kV, 0.5 mm Cu and
    16 mGy/min."""
    hip = chain.simulate(preset_params("hip_injection").replace(**{"run.image_px": 256}))
    assert round(hip.dose["kar_mGy"]) == 15 and round(hip.dose["kap_Gycm2"], 1) == 1.0
    epi = chain.simulate(preset_params("lumbar_epidural").replace(**{"run.image_px": 256}))
    assert round(epi.dose["kap_Gycm2"], 1) == 1.2
    card = chain.simulate(preset_params("cardiac_cath").replace(**{"run.image_px": 256}))
    assert round(card.technique["kvp"]) == 70 and round(card.technique["cu_mm"], 1) == 0.5
    assert round(card.dose["kar_rate_mGy_per_min"]) == 16
