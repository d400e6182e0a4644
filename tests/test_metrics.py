"""Tests of sim.metrics: region statistics, contrast, SNR, CNR, SPR, FOM, NPS, MTF, DQE."""

import math

import numpy as np
import pytest
from scipy.special import ndtr

from sim import metrics


def _halves(n=128):
    left = np.zeros((n, n), dtype=bool)
    left[:, : n // 2] = True
    return left, ~left


def test_roi_stats_and_empty_region():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    mask = np.zeros((4, 4), dtype=bool)
    mask[0] = True
    mean, std = metrics.roi_stats(img, mask)
    assert mean == pytest.approx(1.5)
    assert std == pytest.approx(np.std([0, 1, 2, 3], ddof=1))
    assert metrics.roi_stats(img, np.zeros((4, 4), dtype=bool)) == (0.0, 0.0)
    with pytest.raises(ValueError, match="mask"):
        metrics.roi_stats(img, mask[:2])


def test_contrast_definition():
    """Subject contrast (B - S) / B: an object transmitting 80 % of the background gives 0.2."""
    assert metrics.contrast(80.0, 100.0) == pytest.approx(0.2)
    assert metrics.contrast(120.0, 100.0) == pytest.approx(-0.2)
    assert metrics.contrast(5.0, 0.0) == 0.0  # undefined -> 0
    with pytest.raises(ValueError, match="signal_mean"):
        metrics.contrast(float("nan"), 1.0)


def test_cnr_of_two_regions_with_known_means_and_noise():
    """Regions of means 100 and 110 with Gaussian noise sigma 5: CNR = 10 / 5 = 2 (+-3 %)."""
    rng = np.random.default_rng(10)
    sig, bkg = _halves(256)
    img = np.where(sig, 110.0, 100.0) + rng.normal(0.0, 5.0, (256, 256))
    assert metrics.cnr(img, sig, bkg) == pytest.approx(2.0, rel=0.03)
    assert metrics.cnr(img, np.zeros_like(sig), bkg) == 0.0
    assert metrics.cnr(np.ones((8, 8)), sig[:8, :8], bkg[:8, :8]) == 0.0  # zero noise


def test_snr_of_poisson_data_is_sqrt_mean():
    """For Poisson quanta SNR = N / sqrt(N) = sqrt(N) (Bushberg ch. 4); N = 400 -> 20, +-3 %."""
    rng = np.random.default_rng(11)
    img = rng.poisson(400.0, (256, 256)).astype(np.float64)
    mask = np.ones(img.shape, dtype=bool)
    assert metrics.snr(img, mask) == pytest.approx(20.0, rel=0.03)
    assert metrics.snr(np.ones((8, 8)), np.ones((8, 8), dtype=bool)) == 0.0


def test_figure_of_merit_is_dose_independent_for_quantum_noise():
    """CNR^2 grows with dose for Poisson noise, so CNR^2 / dose stays put (+-5 %)."""
    rng = np.random.default_rng(12)
    sig, bkg = _halves(256)
    foms = []
    for dose in (1.0, 4.0):
        mean = np.where(sig, 0.9, 1.0) * 500.0 * dose
        img = rng.poisson(mean).astype(np.float64)
        foms.append(metrics.figure_of_merit(metrics.cnr(img, sig, bkg), dose))
    assert foms[1] == pytest.approx(foms[0], rel=0.05)
    assert metrics.figure_of_merit(3.0, 2.0) == pytest.approx(4.5)
    with pytest.raises(ValueError, match="dose"):
        metrics.figure_of_merit(1.0, 0.0)


def test_spr():
    scatter = np.full((8, 8), 3.0)
    primary = np.full((8, 8), 2.0)
    assert metrics.spr(scatter, primary) == pytest.approx(1.5)
    assert metrics.spr(scatter, np.zeros((8, 8))) == 0.0


def test_image_metrics_uses_expected_for_contrast_and_detected_for_noise():
    """Noise from detected - expected, so a background gradient does not count as noise."""
    rng = np.random.default_rng(13)
    n = 128
    ramp = np.linspace(900.0, 1100.0, n)[None, :] * np.ones((n, 1))  # non-uniform background
    sig = np.zeros((n, n), dtype=bool)
    sig[40:60, 40:60] = True
    bkg = ~sig
    expected = np.where(sig, 0.7, 1.0) * ramp
    detected = expected + rng.normal(0.0, 10.0, (n, n))
    m = metrics.image_metrics(detected, expected, {"signal": sig, "background": bkg})
    assert m["noise_std"] == pytest.approx(10.0, rel=0.05)
    s, b = expected[sig].mean(), expected[bkg].mean()
    assert m["contrast"] == pytest.approx((b - s) / b, rel=1e-9)
    assert m["cnr"] == pytest.approx(abs(s - b) / m["noise_std"], rel=1e-9)
    assert m["snr"] == pytest.approx(b / m["noise_std"], rel=1e-9)


def test_undefined_image_metrics_are_nan_not_zero():
    """Undefined quantities (no noise, missing or empty rois, zero background) are NaN, never a
    stand-in 0.0 a student would read as "no contrast"; the pixel counts say why."""
    img = np.ones((16, 16))
    empty = np.zeros((16, 16), dtype=bool)
    full = ~empty
    cases = [
        (img, img, {"signal": full, "background": full}, (256, 256)),  # zero noise
        (img, img, {}, (0, 0)),  # no rois
        (img, img, {"signal": empty, "background": empty}, (0, 0)),
        (img, np.zeros((16, 16)), {"signal": full, "background": full}, (256, 256)),  # B = 0
    ]
    for det, exp, rois, counts in cases:
        m = metrics.image_metrics(det, exp, rois)
        assert math.isnan(m["cnr"]) and math.isnan(m["snr"])
        assert (m["signal_px"], m["background_px"]) == counts
        assert math.isnan(m["contrast"]) == (counts == (0, 0) or not exp.any())


def test_a_region_outside_the_beam_leaves_only_its_metrics_undefined():
    rng = np.random.default_rng(3)
    exp = np.full((32, 32), 100.0)
    exp[:8, :8] = 60.0
    det = exp + rng.normal(0.0, 2.0, exp.shape)
    sig = np.zeros((32, 32), dtype=bool)
    sig[:8, :8] = True
    bg = np.zeros_like(sig)
    bg[16:, 16:] = True
    m = metrics.image_metrics(det, exp, {"signal": np.zeros_like(sig), "background": bg})
    assert math.isnan(m["contrast"]) and math.isnan(m["cnr"]) and m["signal_px"] == 0
    assert m["snr"] == pytest.approx(50.0, rel=0.15)  # the background alone still has an SNR
    m = metrics.image_metrics(det, exp, {"signal": sig, "background": bg})
    assert m["contrast"] == pytest.approx(0.4) and m["cnr"] == pytest.approx(20.0, rel=0.15)


def test_nps_integrates_to_variance():
    """Parseval: the 2-D NPS integrated over frequency equals the pixel variance (+-5 %);
    white noise is flat at sigma^2 dx^2 (IEC 62220-1-1 normalisation)."""
    rng = np.random.default_rng(14)
    px = 0.15
    img = rng.normal(100.0, 5.0, (256, 256))
    fx, fy, nps = metrics.nps_2d_map(img, px, roi_px=64)
    du, dv = fx[1] - fx[0], fy[1] - fy[0]
    assert nps.sum() * du * dv == pytest.approx(img.var(), rel=0.05)
    f, nps_r = metrics.nps_2d(img, px, roi_px=64)
    assert f[-1] == pytest.approx(0.5 / px)  # up to Nyquist
    assert nps_r.mean() == pytest.approx(25.0 * px * px, rel=0.05)
    with pytest.raises(ValueError, match="roi_px"):
        metrics.nps_2d(img, px, roi_px=1000)


@pytest.mark.parametrize("angle_deg", [3.0, 7.0])
def test_mtf_edge_of_gaussian_blurred_edge(angle_deg):
    """A point-sampled edge blurred by a Gaussian (sigma px) has the presampled MTF
    exp(-2 pi^2 sigma^2 f^2); the slanted-edge estimate agrees to 0.02 up to Nyquist
    (Samei et al. 1998, Buhr et al. 2003)."""
    n, px, sigma_px = 160, 0.15, 0.7
    t = math.radians(angle_deg)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    dist = ((xx - n / 2) - (yy - n / 2) * math.tan(t)) * math.cos(t)
    edge = 10.0 + 100.0 * ndtr(dist / sigma_px)
    for img in (edge, edge.T, edge[:, ::-1]):  # vertical, horizontal, falling
        f, mtf = metrics.mtf_edge(img, px)
        ref = np.exp(-2.0 * np.pi**2 * (sigma_px * px) ** 2 * f**2)
        nyq = f <= 0.5 / px
        assert mtf[0] == pytest.approx(1.0)
        assert np.abs(mtf[nyq] - ref[nyq]).max() < 0.02


def test_dqe_of_ideal_photon_counter_is_one():
    """Poisson counts with MTF 1: DQE = S^2 / (q NPS) = 1 (IEC 62220-1-1), +-5 %."""
    rng = np.random.default_rng(15)
    px, q = 0.2, 5000.0  # q photons per mm^2 -> 200 per pixel
    img = rng.poisson(q * px * px, (256, 256)).astype(np.float64)
    f, nps = metrics.nps_2d(img, px, roi_px=64)
    d = metrics.dqe(np.ones_like(nps), nps, img.mean(), q)
    assert d.mean() == pytest.approx(1.0, rel=0.05)
