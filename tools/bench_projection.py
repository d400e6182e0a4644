"""Benchmark of sim.projection: LUT build and per-pixel interpolation at 512 and 1024 px.

Maps: a realistic hip-like set built here analytically (divergent point source, SID 100 cm,
30 cm field of view): 200 mm water slab (path / cos theta), a femoral head (cortical shell,
cancellous core), an iliac bone band, an iodinated contrast shell around the head (240 mg I/ml)
and a 0.72 mm steel needle. Weights: the five receptor weights of ``sim.receptor`` when it is
importable, else five synthetic ones.

Usage::

    .venv/bin/python tools/bench_projection.py [--repeat 15] [--sizes 512 1024]

Run it also as ``OPENBLAS_NUM_THREADS=1 .venv/bin/python tools/bench_projection.py``: on a
busy machine with few cores, OpenBLAS's worker threads make the small matrix products of the
LUT build several times slower than on one thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sim import materials, projection, spectrum

SID_MM = 1000.0  # focal spot to receptor [mm]
SKIN_MM = 650.0  # focal spot to entrance surface [mm]
FOV_MM = 300.0  # image side at the receptor [mm]


def _sphere_chord(x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    """Chord [mm] of a sphere of radius r centred (cx, cy) in the object plane (parallel
    approximation, coordinates already demagnified)."""
    d2 = (x - cx) ** 2 + (y - cy) ** 2
    return 2.0 * np.sqrt(np.clip(r * r - d2, 0.0, None))


def hip_like_maps(n_px: int) -> dict[str, np.ndarray]:
    """Path-length maps [mm] of a hip-like object on an n_px x n_px receptor grid."""
    c = (np.arange(n_px) + 0.5) / n_px * FOV_MM - FOV_MM / 2.0
    xr, yr = np.meshgrid(c, c)
    cos_t = SID_MM / np.sqrt(SID_MM**2 + xr**2 + yr**2)
    mid_mm = SKIN_MM + 100.0
    x, y = xr * mid_mm / SID_MM, yr * mid_mm / SID_MM  # at mid-depth of the object
    head_out = _sphere_chord(x, y, 0.0, 0.0, 24.0)
    head_in = _sphere_chord(x, y, 0.0, 0.0, 21.0)
    neck = np.where((np.abs(y + 0.6 * x - 10.0) < 14.0) & (x > 10.0) & (x < 60.0), 28.0, 0.0)
    pelvis = np.where((y > 25.0) & (y < 95.0), 18.0 + 10.0 * np.cos(x / 40.0) ** 2, 0.0)
    cortical = (head_out - head_in) + 0.3 * neck + 0.4 * pelvis
    cancellous = head_in + 0.7 * neck + 0.6 * pelvis
    contrast = np.clip(_sphere_chord(x, y, 0.0, 0.0, 26.0) - head_out, 0.0, None)
    contrast = np.minimum(contrast, 8.0)
    # needle: a line from (-60, -70) to (-12, -10) mm, 0.72 mm wide, ~1.4 mm of steel chord
    px, py, qx, qy = -60.0, -70.0, -12.0, -10.0
    t = np.clip(
        ((x - px) * (qx - px) + (y - py) * (qy - py)) / ((qx - px) ** 2 + (qy - py) ** 2), 0, 1
    )
    dist = np.hypot(x - (px + t * (qx - px)), y - (py + t * (qy - py)))
    steel = np.where(dist < 0.36, 1.4, 0.0)
    bone = cortical + cancellous + contrast + steel
    water = np.clip(200.0 - bone, 0.0, None)
    out = {
        "water": water / cos_t,
        "bone_cortical": cortical / cos_t,
        "bone_cancellous": cancellous / cos_t,
        materials.contrast_material(240.0): contrast / cos_t,
        "steel": steel / cos_t,
    }
    return {k: v.astype(np.float32) for k, v in out.items() if np.any(v > 0)}


def _weights() -> dict[str, np.ndarray]:
    e = spectrum.ENERGY_KEV
    try:
        from sim import params, receptor

        return dict(receptor.receptor_weights(params.Params(), e))
    except Exception:  # noqa: BLE001 - the benchmark runs without the receptor module too
        return {
            "quanta": np.ones_like(e),
            "energy": e.copy(),
            "energy2": e**2,
            "abs": 1.0 - np.exp(-materials.mu_per_mm("csi", e) * 0.6),
            "kerma": e * materials.mu_en_rho("air", e),
        }


def _median_ms(fn, repeat: int) -> str:
    """'min / median' wall time of ``fn`` over ``repeat`` runs [ms] (min: the least
    disturbed run on a shared machine)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return f"{1e3 * min(times):.1f} / {1e3 * statistics.median(times):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    args = ap.parse_args()
    spec = spectrum.tube_spectrum(80.0).filtered({"Al": 3.0, "Cu": 0.1})
    weights = _weights()
    print(f"weights: {list(weights)}")
    for n in args.sizes:
        maps = hip_like_maps(n)
        frac = {m: float(np.count_nonzero(v)) / v.size for m, v in maps.items()}
        projection.integrate(spec, maps, weights, 100.0)  # warm caches (materials, LUT)
        lut = next(reversed(projection._CACHE.values()))

        def cold(maps=maps):
            projection.clear_cache()
            projection.integrate(spec, maps, weights, 100.0)

        def warm(maps=maps):
            projection.integrate(spec, maps, weights, 100.0)

        def build(maps=maps):
            projection.clear_cache()
            projection.build_lut(spec, {m: float(v.max()) for m, v in maps.items()}, weights)

        t_cold = _median_ms(cold, args.repeat)
        t_warm = _median_ms(warm, args.repeat)
        t_build = _median_ms(build, args.repeat)
        t0 = time.perf_counter()
        projection.exact_integrate(spec, maps, weights)
        t_exact = 1e3 * (time.perf_counter() - t0)
        got = projection.integrate(spec, maps, weights, 100.0)
        ref = projection.exact_integrate(spec, maps, weights, 100.0)
        err = max(float(np.max(np.abs(got[k] / ref[k] - 1.0))) for k in weights)
        axes = ", ".join(f"{a.material} ({a.n_nodes})" for a in lut.axes)
        print(
            f"{n}x{n}: axes {axes}; exact pixels for {list(lut.exact)}; "
            f"support {', '.join(f'{m} {100 * f:.1f}%' for m, f in frac.items())}"
        )
        print(
            f"  [ms, min / median] LUT build {t_build} | integrate, cached LUT {t_warm} | "
            f"integrate, cold (build + interpolate) {t_cold} | exact per-energy "
            f"{t_exact:.0f} | max |LUT/exact - 1| {err:.2e}"
        )


if __name__ == "__main__":
    main()
