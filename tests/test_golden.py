"""Golden results of the whole chain for two scenarios.

A change of physics that moves any of these numbers must be deliberate: regenerate with

    .venv/bin/python tests/test_golden.py --write     (or: make golden)

and say in the commit message why the numbers moved.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import sim

GOLDEN_DIR = Path(__file__).parent / "golden"
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


def compute(changes: dict) -> dict:
    """The numbers kept for a case: technique, dose, metrics and image statistics."""
    r = sim.simulate(sim.Params().replace(**changes))
    summary = r.summary()
    img = r.stages["processed"].astype(np.float64)
    n = img.shape[0] // 8
    blocks = img.reshape(8, n, 8, n).mean(axis=(1, 3))
    summary["image"] = {
        "display_mean": float(r.image.mean()),
        "processed_blocks_8x8": [float(v) for v in blocks.ravel()],
    }
    return summary


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


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    path = GOLDEN_DIR / f"{case}.json"
    want = _flatten(json.loads(path.read_text()))
    got = _flatten(compute(CASES[case]))
    assert sorted(got) == sorted(want), "the set of reported quantities changed"
    for key, w in want.items():
        g = got[key]
        if isinstance(w, bool) or isinstance(w, str) or w is None:
            assert g == w, key
        else:
            assert math.isclose(g, w, rel_tol=RTOL, abs_tol=1e-9), f"{key}: {g} != golden {w}"


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/test_golden.py --write")
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, changes in CASES.items():
        (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(compute(changes), indent=1) + "\n")
        print(f"wrote {GOLDEN_DIR / name}.json")
