"""Golden results of the whole chain for two scenarios, in two parts.

* **Noise free** (``test_golden_noise_free``): technique, dose, the metrics that do not depend
  on the noise, and statistics of the noise-free frame (``run.noise`` off: the expected
  detector signal and its processed image), against the stored numbers within float
  round-off (``RTOL``).
* **Noise** (``test_noise_*``): the noisy frame against its own expected frame, with
  tolerances from the statistics of the noise, not bit for bit: the noise is unbiased (mean
  within a few standard errors) and its variance is what the model's DQE(0) and the incident
  quanta predict; the stored noise figures (noise std, SNR, CNR, figure of merit) agree within
  their sampling error.

A change of physics that moves any of the noise-free numbers must be deliberate: regenerate
with

    .venv/bin/python tests/test_golden.py --write     (or: make golden)

and say in the commit message why the numbers moved. ``--out DIR`` (or the environment
variable ``FLUOROSIM_GOLDEN_DIR``, which the tests read too) writes elsewhere, e.g. to check a
change without touching ``tests/golden``.
"""

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import sim

GOLDEN_DIR = Path(os.environ.get("FLUOROSIM_GOLDEN_DIR") or Path(__file__).parent / "golden")
CASES = {
    # the default adult hip injection (ABC, grid, flat panel), reduced image size
    "hip_injection_flat_panel": {"run.image_px": 256},
    # the contrast-detail test object on an image intensifier in a 20 cm magnification mode
    "contrast_detail_image_intensifier": {
        "run.image_px": 256,
        "patient.phantom": "contrast_detail",
        "patient.thickness_cm": 20.0,
        "receptor.kind": "image_intensifier",
        "geometry.fov_cm": 20.0,
        "geometry.field_cm": 20.0,
    },
}
RTOL = 1e-3  # float round-off across machines (FFT, BLAS); physics changes move far more
NOISE_KEYS = ("noise_std", "snr", "cnr", "figure_of_merit")
"""Metrics measured on the noisy frame (NaN or 0 without noise): the noise part."""
NOISE_SEEDS = range(48)
"""Noise realisations for the noise statistics (48 x 256 blocks of 4 x 4 pixels)."""
Z_MAX = 4.0
"""Tolerance of the noise statistics, in standard errors (two-sided p ~ 6e-5 per check)."""


def _blocks_8x8(img: np.ndarray) -> list[float]:
    a = np.asarray(img, dtype=np.float64)
    n = a.shape[0] // 8
    return [float(v) for v in a.reshape(8, n, 8, n).mean(axis=(1, 3)).ravel()]


def compute_noise_free(changes: dict) -> dict:
    """Technique, dose, the noise-free metrics and the noise-free frame's statistics."""
    r = sim.simulate(sim.Params().replace(**{**changes, "run.noise": False}))
    summary = r.summary()
    summary["metrics"] = {k: v for k, v in summary["metrics"].items() if k not in NOISE_KEYS}
    summary["image"] = {
        "expected_blocks_8x8": _blocks_8x8(r.stages["absorbed"]),
        "processed_blocks_8x8": _blocks_8x8(r.stages["processed"]),
        "display_mean": float(r.image.mean()),
    }
    return summary


def compute_noise(changes: dict) -> dict:
    """The noise figures of the noisy frame (seed ``run.seed``) and the pixels they come from."""
    m = sim.simulate(sim.Params().replace(**changes)).metrics
    return {**{k: float(m[k]) for k in NOISE_KEYS}, "background_px": int(m["background_px"])}


def compute(changes: dict) -> dict:
    """The numbers kept for a case."""
    return {"noise_free": compute_noise_free(changes), "noise": compute_noise(changes)}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            out.update({f"{prefix}{k}[{i}]": x for i, x in enumerate(v)})
        else:
            out[f"{prefix}{k}"] = v
    return out


def _golden(case: str) -> dict:
    data = json.loads((GOLDEN_DIR / f"{case}.json").read_text())
    if "noise_free" not in data or "noise" not in data:
        pytest.fail(f"{GOLDEN_DIR / case}.json has the old layout: regenerate with make golden")
    return data


# --------------------------------------------------------------------------------------------
# noise-free part: stored numbers, float round-off
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_noise_free(case):
    """Technique, dose, noise-free metrics and noise-free frame within RTOL of the golden."""
    want = _flatten(_golden(case)["noise_free"])
    got = _flatten(compute_noise_free(CASES[case]))
    assert sorted(got) == sorted(want), "the set of reported quantities changed"
    for key, w in want.items():
        g = got[key]
        if isinstance(w, bool) or isinstance(w, str) or w is None:
            assert g == w, key
        elif math.isnan(w):
            assert math.isnan(g), f"{key}: {g} != golden NaN"
        else:
            assert math.isclose(g, w, rel_tol=RTOL, abs_tol=1e-9), f"{key}: {g} != golden {w}"


# --------------------------------------------------------------------------------------------
# noise part: the noisy frame against its own expected frame, statistical tolerances
# --------------------------------------------------------------------------------------------
def _block_sums(img: np.ndarray, b: int = 4) -> np.ndarray:
    m = img.shape[0] // b
    return img[: m * b, : m * b].reshape(m, b, m, b).sum(axis=(1, 3)).ravel()


@pytest.fixture(scope="module", params=sorted(CASES))
def noise_blocks(request):
    """Per 4 x 4 block of the central quarter of the image, for each seed: the noise
    (noisy - expected) and its variance predicted from the model's DQE(0) and quanta.

    Zero-frequency noise of a block of area A: Var(S) = S^2 / (DQE(0) q A), with S the block's
    expected signal and q A its incident quanta (``stages["after_grid"]``: photons per mm^2
    per frame at the receptor). Blocks of 4 x 4 pixels (3-5 mm) are wide against the detector
    blur, so their sums keep the zero-frequency noise. The image intensifier's veiling glare
    adds light to the noise-free image only and scales the noise by (1 - ii_glare) (the
    NoiseModel of sim.receptor): its S is taken from the same frame without glare and the
    variance scaled by (1 - ii_glare)^2. Central quarter: where DQE(0) is evaluated, at one
    dose, so its additive-noise part applies.
    """
    changes = CASES[request.param]
    p = sim.Params().replace(**changes)
    n = p.run.image_px
    area_mm2 = (p.geometry.fov_cm * 10.0 / n) ** 2
    c = slice(n // 2 - n // 8, n // 2 + n // 8)
    glare = p.receptor.ii_glare if p.receptor.kind == "image_intensifier" else 0.0
    no_glare = sim.simulate(p.replace(**{"run.noise": False, "receptor.ii_glare": 0.0}))
    signal = _block_sums(no_glare.stages["absorbed"][c, c].astype(np.float64))
    noise, predicted = [], []
    for seed in NOISE_SEEDS:
        r = sim.simulate(p.replace(**{"run.seed": seed}))
        assert r.technique == no_glare.technique  # the same beam (ABC does not see the glare)
        diff = r.stages["noisy"].astype(np.float64) - r.stages["absorbed"]
        quanta = _block_sums(r.stages["after_grid"][c, c].astype(np.float64)) * area_mm2
        noise.append(_block_sums(diff[c, c]))
        predicted.append((1.0 - glare) ** 2 * signal**2 / (r.metrics["dqe0"] * quanta))
    return np.concatenate(noise), np.concatenate(predicted)


def test_noise_is_unbiased(noise_blocks):
    """Mean of the noise (in units of its predicted std) is 0 within Z_MAX standard errors."""
    noise, predicted = noise_blocks
    z = noise / np.sqrt(predicted)
    se = float(z.std()) / math.sqrt(z.size)
    assert abs(float(z.mean())) < Z_MAX * se, (float(z.mean()), se)


def test_noise_variance_matches_dqe_and_quanta(noise_blocks):
    """Measured / predicted block variance is 1 within Z_MAX standard errors.

    The ratio's standard error comes from the spread of the per-block ratios (about
    sqrt(2 / N) = 1.3 % for 12288 blocks, so Z_MAX allows +-5 %). Measured when written:
    1.008 (flat panel), 1.011 (image intensifier).
    """
    noise, predicted = noise_blocks
    ratio = noise**2 / predicted
    se = float(ratio.std()) / math.sqrt(ratio.size)
    assert abs(float(ratio.mean()) - 1.0) < Z_MAX * se, (float(ratio.mean()), se)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_noise_figures(case):
    """Noise std, SNR, CNR and figure of merit of the noisy frame agree with the golden within
    Z_MAX sampling errors: a std estimated from N pixels has a relative standard error
    1 / sqrt(2 N) (N = background pixels; SNR and CNR carry it, the figure of merit CNR^2
    twice), so another noise realisation passes and a change of the noise level fails."""
    want = _golden(case)["noise"]
    got = compute_noise(CASES[case])
    assert got["background_px"] == want["background_px"]
    rel = 1.0 / math.sqrt(2.0 * want["background_px"])
    for key in NOISE_KEYS:
        tol = Z_MAX * rel * (2.0 if key == "figure_of_merit" else 1.0)
        assert got[key] == pytest.approx(want[key], rel=tol), key


def _write(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, changes in CASES.items():
        (out_dir / f"{name}.json").write_text(json.dumps(compute(changes), indent=1) + "\n")
        print(f"wrote {out_dir / name}.json")


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--write" not in args:
        sys.exit("usage: python tests/test_golden.py --write [--out DIR]")
    out = GOLDEN_DIR
    if "--out" in args:
        i = args.index("--out")
        if i + 1 >= len(args):
            sys.exit("usage: python tests/test_golden.py --write [--out DIR]")
        out = Path(args[i + 1])
    _write(out)
