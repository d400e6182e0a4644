"""Tests of sim.processing: flat field, log, unsharp mask, window/level, temporal filters, DSA."""

import math

import numpy as np
import pytest
from scipy import ndimage

from sim import processing as proc
from sim import pyramid
from sim.params import Params


def _field_square(n: int, half: int) -> np.ndarray:
    m = np.zeros((n, n), dtype=bool)
    c = n // 2
    m[c - half : c + half, c - half : c + half] = True
    return m


# --------------------------------------------------------------------------- temporal


@pytest.mark.parametrize("w", [0.3, 0.5, 0.8])
def test_recursive_filter_variance_reduction(w):
    """Steady-state variance ratio of y_n = w y_(n-1) + (1-w) x_n is (1-w)/(1+w).

    Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed., ch. 9; the ratio is the
    variance of a first-order autoregressive process. Tolerance 5 % on white noise.
    """
    rng = np.random.default_rng(1)
    frames = rng.normal(0.0, 1.0, size=(120, 64, 64)).astype(np.float32)
    out = proc.recursive_filter_sequence(frames, w)
    burn = 40  # w**40 < 1e-3 for w <= 0.8
    ratio = out[burn:].var() / frames[burn:].var()
    expected = (1 - w) / (1 + w)
    assert ratio == pytest.approx(expected, rel=0.05)
    assert proc.recursive_variance_factor(w) == pytest.approx(expected)
    assert proc.effective_frames(w) == pytest.approx((1 + w) / (1 - w))


def test_recursive_filter_step_and_lag():
    """One step follows the formula; a vanished object fades as w**n (lag)."""
    w = 0.6
    prev = np.full((4, 4), 10.0, dtype=np.float32)
    cur = np.full((4, 4), 20.0, dtype=np.float32)
    y = proc.recursive_filter(prev, cur, w)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, w * 10 + (1 - w) * 20, rtol=1e-6)
    np.testing.assert_array_equal(proc.recursive_filter(None, cur, w), cur)
    # object present for 50 frames, then gone: residual after n frames is w**n
    frames = np.zeros((60, 2, 2), dtype=np.float32)
    frames[:50] = 1.0
    out = proc.recursive_filter_sequence(frames, w)
    for n in (1, 3, 6):
        assert out[49 + n, 0, 0] == pytest.approx(proc.lag_fraction(w, n), rel=1e-4)
        assert proc.lag_fraction(w, n) == pytest.approx(w**n)


def test_recursive_filter_rejects_bad_weight():
    x = np.zeros((4, 4))
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="weight"):
            proc.recursive_filter(x, x, bad)


def test_frame_average_and_last_image_hold():
    """Averaging n frames divides white-noise variance by n; LIH returns the last frame."""
    rng = np.random.default_rng(2)
    frames = rng.normal(5.0, 1.0, size=(20, 64, 64)).astype(np.float32)
    avg = proc.frame_average(frames, 4)
    np.testing.assert_allclose(avg, frames[-4:].mean(axis=0), rtol=1e-5)
    assert avg.var() == pytest.approx(1.0 / 4.0, rel=0.1)
    # fewer frames than n: all of them
    np.testing.assert_allclose(proc.frame_average(list(frames[:3]), 16), frames[:3].mean(0))
    np.testing.assert_array_equal(proc.last_image_hold(list(frames)), frames[-1])
    with pytest.raises(ValueError, match="n="):
        proc.frame_average(frames, 0)
    with pytest.raises(ValueError, match="empty"):
        proc.last_image_hold([])


def test_dsa_of_identical_frames_is_zero():
    """Log subtraction: identical frames cancel; added iodine gives its line integral."""
    rng = np.random.default_rng(3)
    anatomy = rng.uniform(1.0, 5.0, size=(32, 32)).astype(np.float32)
    np.testing.assert_array_equal(proc.dsa_subtract(anatomy, anatomy), 0.0)
    iodine = np.zeros_like(anatomy)
    iodine[10:20, 10:20] = 0.2
    np.testing.assert_allclose(proc.dsa_subtract(anatomy + iodine, anatomy), iodine, atol=1e-6)


# --------------------------------------------------------------------------- flat field, log


def test_flat_field_of_flat_is_one():
    rng = np.random.default_rng(4)
    flat = rng.uniform(500.0, 1500.0, size=(32, 32)).astype(np.float32)
    np.testing.assert_allclose(proc.flat_field(flat, flat), 1.0, rtol=1e-6)
    np.testing.assert_allclose(proc.flat_field(flat + 100, flat + 100, dark=100.0), 1.0, rtol=1e-6)
    # half the signal -> 0.5; pixels with no flat signal -> 0
    flat[0, 0] = 0.0
    ff = proc.flat_field(0.5 * flat, flat)
    assert ff[0, 0] == 0.0
    np.testing.assert_allclose(ff[1:], 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="flat_expected"):
        proc.flat_field(flat, flat[:10])


def test_to_log_is_the_line_integral():
    """-ln(I/I0) of Beer-Lambert transmission exp(-mu x) is mu x."""
    mux = np.array([[0.0, 1.0], [3.0, 7.5]], dtype=np.float32)
    np.testing.assert_allclose(proc.to_log(200.0 * np.exp(-mux), 200.0), mux, atol=1e-5)
    assert proc.to_log(np.array([[-5.0]]), 1.0)[0, 0] == pytest.approx(-math.log(proc.LOG_FLOOR))
    with pytest.raises(ValueError, match="i0"):
        proc.to_log(mux, 0.0)


# --------------------------------------------------------------------------- unsharp mask


@pytest.mark.parametrize("sigma", [1.0, 3.4, 8.0, 20.0])
def test_gaussian_blur_matches_direct_filter(sigma):
    """The pyramid blur matches scipy's direct Gaussian within 1.5 % of an edge's contrast."""
    n = 256
    yy, xx = np.mgrid[:n, :n]
    disc = (((xx - 110) ** 2 + (yy - 130) ** 2) < 60**2).astype(np.float32)
    ref = ndimage.gaussian_filter(disc, sigma, mode="nearest")
    assert np.abs(proc.gaussian_blur(disc, sigma) - ref).max() < 0.015


def test_unsharp_mask_constant_and_overshoot():
    """Unsharp masking leaves a constant alone and adds overshoot on both sides of an edge."""
    const = np.full((128, 128), 3.25, dtype=np.float32)
    np.testing.assert_allclose(proc.unsharp_mask(const, 1.0, 4.0), 3.25, rtol=1e-5)
    field = _field_square(128, 40)
    np.testing.assert_allclose(proc.unsharp_mask(const, 1.0, 4.0, field), 3.25, rtol=1e-6)

    step = np.zeros((128, 128), dtype=np.float32)
    step[:, 64:] = 1.0
    out = proc.unsharp_mask(step, 1.0, 3.0)
    assert out.dtype == np.float32
    assert out.max() > 1.1 and out.min() < -0.1  # overshoot and undershoot
    np.testing.assert_allclose(out[:, :20], 0.0, atol=1e-4)  # far from the edge: unchanged
    np.testing.assert_array_equal(proc.unsharp_mask(step, 0.0, 3.0), step)


def test_masked_unsharp_does_not_ring_at_shutters():
    """Inside the field a uniform image stays uniform although the shutters are far darker."""
    field = _field_square(128, 40)
    img = np.where(field, 2.0, 13.8).astype(np.float32)
    out = proc.unsharp_mask(img, 2.0, 5.0, field)
    np.testing.assert_allclose(out[field], 2.0, rtol=1e-5)
    unmasked = proc.unsharp_mask(img, 2.0, 5.0)
    assert np.abs(unmasked[field] - 2.0).max() > 1.0  # without the mask it rings


def test_unsharp_mask_bad_input():
    img = np.zeros((16, 16))
    with pytest.raises(ValueError, match="strength"):
        proc.unsharp_mask(img, float("nan"), 2.0)
    with pytest.raises(ValueError, match="radius_px"):
        proc.unsharp_mask(img, 1.0, 0.0)
    with pytest.raises(ValueError, match="img"):
        proc.unsharp_mask(np.zeros(16), 1.0, 2.0)


# --------------------------------------------------------------------------- window / level


def test_window_level_maps_level_to_half_and_window_to_unit_range():
    img = np.array([[2.0, 3.0, 4.0, 1.0, 5.0]], dtype=np.float32)
    v = proc.window_level(img, window=2.0, level=3.0)
    np.testing.assert_allclose(v, [[0.0, 0.5, 1.0, 0.0, 1.0]], atol=1e-7)
    assert v.dtype == np.float32
    vi = proc.window_level(img, 2.0, 3.0, invert=True)
    np.testing.assert_allclose(vi, 1.0 - v, atol=1e-7)
    # gamma > 1 brightens mid-tones, keeps the ends
    vg = proc.window_level(img, 2.0, 3.0, gamma=2.0)
    assert vg[0, 1] == pytest.approx(0.5**0.5, rel=1e-6)
    assert vg[0, 0] == 0.0 and vg[0, 2] == 1.0
    with pytest.raises(ValueError, match="window"):
        proc.window_level(img, 0.0, 3.0)


def test_display_uint8_dtype_and_range():
    v = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, np.nan]], dtype=np.float32)
    d = proc.to_display_uint8(v)
    assert d.dtype == np.uint8
    np.testing.assert_array_equal(d, [[0, 0, 128, 255, 255, 0]])


def test_auto_window_ignores_shutters():
    """Percentiles inside the field: values under the shutters do not widen the window."""
    rng = np.random.default_rng(5)
    n = 256
    field = _field_square(n, 80)
    img = np.full((n, n), 13.8, dtype=np.float32)  # shutters: no X-rays
    img[field] = rng.uniform(1.0, 2.0, size=int(field.sum()))
    w, c = proc.auto_window(img, field)
    assert c == pytest.approx(1.5, abs=0.02)
    assert w == pytest.approx(0.98, abs=0.03)  # 1st..99th percentile of U(1, 2)
    w_all, _ = proc.auto_window(img)
    assert w_all > 10.0  # without the mask the shutters spoil it
    # uniform image: tiny positive window, level at the value
    w0, c0 = proc.auto_window(np.ones((16, 16)))
    assert 0.0 < w0 < 1e-3 and c0 == pytest.approx(1.0)


# --------------------------------------------------------------------------- process()


def _scene(n=128, disc_mu=0.5):
    """Flat field with a heel-like gradient, 22 cm water-like body and a denser disc."""
    yy, xx = np.mgrid[:n, :n]
    flat = (1000.0 * (1.0 - 0.1 * xx / n)).astype(np.float32)
    disc = ((xx - n / 2) ** 2 + (yy - n / 2) ** 2) < (n / 8) ** 2
    mux = 3.0 + disc_mu * disc
    field = _field_square(n, 3 * n // 8)
    expected = flat * np.exp(-mux) * np.where(field, 1.0, 1e-3)
    return expected.astype(np.float32), flat, field, disc


@pytest.mark.parametrize("log", [True, False])
def test_process_display_convention(log):
    """More X-rays = brighter: the attenuating disc is dark; invert makes it bright."""
    expected, flat, field, disc = _scene()
    ring = field & ~ndimage.binary_dilation(disc, iterations=8)
    p = Params().replace(**{"processing.log": log, "processing.edge_strength": 0.0})
    r = proc.process(expected, flat, field, p, pixel_mm=0.5)
    assert r.display.dtype == np.uint8 and r.display.shape == expected.shape
    assert r.processed.dtype == np.float32
    assert r.mode == ("log" if log else "linear")
    assert r.display[disc].mean() < r.display[ring].mean() - 50
    if log:  # processed = attenuation line integral
        np.testing.assert_allclose(r.processed[disc], 3.5, atol=1e-4)
    ri = proc.process(expected, flat, field, p.replace(**{"processing.invert": True}), 0.5)
    assert ri.display[disc].mean() > ri.display[ring].mean() + 50


def test_process_manual_window_and_dsa():
    expected, flat, field, disc = _scene()
    p = Params().replace(
        **{
            "processing.auto_window": False,
            "processing.window": 2.0,
            "processing.level": 3.0,
            "processing.edge_strength": 0.0,
        }
    )
    r = proc.process(expected, flat, field, p, 0.5)
    assert (r.window, r.level) == (2.0, 3.0)
    bkg = field & ~ndimage.binary_dilation(disc, iterations=8)
    # attenuation 3.0 = level -> mid-grey
    assert np.all(np.abs(r.display[bkg].astype(int) - 128) <= 1)

    pd = Params().replace(**{"processing.dsa": True})
    rd = proc.process(expected, flat, field, pd, 0.5, dsa_mask_signal=expected)
    assert rd.mode == "dsa" and rd.level == 0.0
    np.testing.assert_allclose(rd.processed, 0.0, atol=1e-6)
    assert np.all(rd.display[field] == 128)  # no change = mid-grey
    with pytest.raises(ValueError, match="dsa_mask_signal"):
        proc.process(expected, flat, field, pd, 0.5)


def test_process_bad_input():
    expected, flat, field, _ = _scene(32)
    p = Params()
    with pytest.raises(ValueError, match="pixel_mm"):
        proc.process(expected, flat, field, p, 0.0)
    with pytest.raises(ValueError, match="pixel_mm"):
        proc.process(expected, flat, field, p, float("nan"))
    bad = expected.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="detected_signal"):
        proc.process(bad, flat, field, p, 0.5)
    with pytest.raises(ValueError, match="field_mask"):
        proc.process(expected, flat, field[:5], p, 0.5)


def test_masks_checked_once_are_still_checked_when_edited_or_new():
    """A read-only mask passes its check once per array; a writeable one, edited to a bad
    value after passing, and a new bad read-only one are refused every time."""
    p = Params()
    img = np.ones((32, 32), np.float32)
    flat = np.ones((32, 32), np.float32)
    good = np.ones((32, 32), np.float32)
    good.flags.writeable = False
    for _ in range(2):
        proc.process(img, flat, good, p, 0.5)
    edited = np.ones((32, 32), np.float32)
    proc.process(img, flat, edited, p, 0.5)
    edited[3, 3] = np.nan
    with pytest.raises(ValueError, match="field_mask"):
        proc.process(img, flat, edited, p, 0.5)
    bad = np.ones((32, 32), np.float32)
    bad[0, 0] = 2.0
    bad.flags.writeable = False
    for _ in range(2):
        with pytest.raises(ValueError, match="field_mask"):
            proc.process(img, flat, bad, p, 0.5)
    bad_flat = np.ones((32, 32), np.float32)
    bad_flat[1, 1] = np.inf
    bad_flat.flags.writeable = False
    with pytest.raises(ValueError, match="flat_expected"):
        proc.process(img, bad_flat, good, p, 0.5)


@pytest.mark.parametrize(
    ("box", "radius"),
    [
        ((slice(40, 150), slice(23, 201)), 9.0),
        ((slice(0, 97), slice(5, 256)), 9.0),
        ((slice(101, 163), slice(90, 171)), 9.0),  # the blur's window inside the image
        ((slice(101, 163), slice(0, 171)), 1.5),  # no pyramid level (k = 1)
    ],
)
def test_unsharp_mask_on_the_field_box_equals_the_whole_image_formula(box, radius):
    """With a field mask the high-pass and its blur are worked on a window around the mask's
    box only; the result is the whole-image normalized-convolution formula to float32
    round-off."""
    rng = np.random.default_rng(5)
    img = rng.normal(1.0, 0.2, size=(256, 256)).astype(np.float32)
    m = np.zeros((256, 256), np.float32)
    m[box] = 1.0
    m[box[0].start, box[1]] = 0.5  # a soft edge
    strength = 1.5
    got = proc.unsharp_mask(img, strength, radius, m)
    step = max(1, 256 // 64)
    ref = np.float32(img[::step, ::step][m[::step, ::step] > 0.5].mean())
    a0 = img - ref
    num, k = pyramid.blur_coarse(a0 * m, radius)
    assert (k > 1) == (radius > 2.0)  # the pyramid path, or the direct blur
    den, _ = pyramid.blur_coarse(m, radius)
    ratio = np.divide(num, den, out=np.zeros_like(num), where=den > proc.MASK_SUPPORT_FLOOR)
    want = img + np.float32(strength) * ((a0 - pyramid.to_fine(ratio, k, img.shape)) * m)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    outside = m == 0
    assert np.array_equal(got[outside], img[outside])


@pytest.mark.parametrize("radius", [1.5, 4.0, 9.0, 30.0])
@pytest.mark.parametrize(
    "box",
    [
        (slice(101, 163), slice(90, 171)),
        (slice(0, 97), slice(5, 256)),
        (slice(3, 250), slice(7, 249)),
    ],
)
def test_box_blur_window_holds_the_whole_image_blur_cells(box, radius):
    """pyramid.blur_coarse_box gives, on its whole window, the coarse cells of the blur of the
    full image that is zero outside the box, up to its edge two cells beyond the box."""
    rng = np.random.default_rng(2)
    shape = (256, 256)
    full = np.zeros(shape, np.float32)
    full[box] = rng.normal(1.0, 0.3, size=full[box].shape)
    want, k = pyramid.blur_coarse(full, radius)
    got, k2, (o0, o1) = pyramid.blur_coarse_box(full[box], shape, *box, radius)
    assert k2 == k
    window = want[o0 : o0 + got.shape[0], o1 : o1 + got.shape[1]]
    assert window.shape == got.shape
    np.testing.assert_allclose(got, window, rtol=0, atol=1e-6)


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize(("w", "c"), [(0.7, 1.1), (3.0, 0.2), (1e-3, 1.0)])
def test_one_pass_display_matches_window_then_display(invert, w, c):
    """The display made in one buffer (gamma 1) has the grey levels of window/level followed
    by to_display_uint8, up to one level where float32 rounding meets a half level."""
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 0.5, (256, 256)).astype(np.float32)
    a[0, :2] = np.inf, -np.inf
    want = proc.to_display_uint8(proc._window_level(a, w, c, 1.0, invert)).astype(int)
    got = proc._window_to_uint8(a, w, c, invert).astype(int)
    assert np.abs(got - want).max() <= 1
    assert np.mean(got != want) < 1e-3
