"""The imaging chain: ``simulate(params) -> Result``, every stage kept.

tube -> filtration -> (table) -> patient -> scatter -> grid -> receptor -> processing -> display,
with the dose alongside and automatic brightness control closing the loop.

The noise-free part of a frame (spectra, path lengths, primary, scatter, grid, expected detector
signal) depends only on the technique and the physical knobs, so it is cached by them; changing
only the seed or the display redoes the noise and the processing alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from sim import abc as abc_mod
from sim import dose as dose_mod
from sim import geometry as geo
from sim import grid as grid_mod
from sim import metrics as met
from sim import phantoms, processing, projection, receptor
from sim import scatter as scatter_mod
from sim.params import Params, Technique, technique_from
from sim.spectrum import Spectrum, tube_spectrum
from sim.units import NGY_PER_UGY

ABC_PROBE_PX = 96
"""Image side used by ABC to measure the receptor dose in its sensing region [px]."""


@dataclass(frozen=True)
class Expected:
    """Noise-free frame: spectra, maps at the receptor per frame, and chain figures."""

    spectra: dict[str, Spectrum]
    paths: dict[str, np.ndarray]
    primary: dict[str, np.ndarray]
    scatter: dict[str, np.ndarray]
    after_grid: dict[str, np.ndarray]
    field_mask: np.ndarray
    rois: dict[str, np.ndarray]
    figures: dict[str, float]


@dataclass(frozen=True)
class Result:
    """Everything one simulation produced.

    ``image`` is the display-ready 8-bit image; ``stages`` the ordered intermediates;
    ``metrics``, ``dose`` and ``technique`` are flat mappings of numbers (see DESIGN.md).
    """

    params: Params
    image: np.ndarray
    stages: dict[str, Any]
    metrics: dict[str, float]
    dose: dict[str, Any]
    technique: dict[str, float]
    abc: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, Any]]:
        """JSON-ready technique, dose and metrics."""

        def clean(d: dict) -> dict:
            return {k: _json_scalar(v) for k, v in d.items() if np.isscalar(v) or v is None}

        return {
            "technique": clean(self.technique),
            "dose": clean(self.dose),
            "metrics": clean(self.metrics),
        }


def _json_scalar(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v


@lru_cache(maxsize=64)
def beam(kvp: float, anode_angle_deg: float, al_mm: float, cu_mm: float) -> tuple:
    """Tube spectrum and the spectrum after the added filtration (per mAs, at 100 cm)."""
    tube = tube_spectrum(kvp=kvp, anode_angle_deg=anode_angle_deg)
    return tube, tube.filtered({"Al": al_mm, "Cu": cu_mm})


def expected_frame(p: Params, t: Technique, image_px: int | None = None) -> Expected:
    """The noise-free frame for a technique (cached on the knobs that matter)."""
    return _expected(
        t,
        p.tube.anode_angle_deg,
        p.filtration.al_mm,
        p.geometry,
        p.patient,
        p.scatter,
        p.grid,
        p.receptor,
        image_px or p.run.image_px,
    )


@lru_cache(maxsize=16)
def _expected(t, angle, al_mm, g_knobs, patient, scatter_knobs, grid_knobs, rec, image_px):
    p = Params(
        geometry=g_knobs,
        patient=patient,
        scatter=scatter_knobs,
        grid=grid_knobs,
        receptor=rec,
    )
    tube, filtered = beam(t.kvp, angle, al_mm, t.cu_mm)
    g = geo.geometry_from(p)
    det = geo.DetectorGrid(image_px, g.fov_cm * 10.0)
    at_patient = filtered.filtered(dose_mod.table_layers()) if g_knobs.table else filtered
    at_patient = at_patient.scaled(t.mas_per_frame)

    phantom = phantoms.build_phantom(p)
    paths = phantoms.path_lengths(phantom, g, det)
    mask = geo.field_mask(g, det)
    rois = phantoms.roi_masks(phantom, g, det)

    weights = receptor.receptor_weights(p, at_patient.energy_keV)
    gt = grid_mod.grid_transmission(grid_knobs, at_patient.energy_keV)
    w_all = dict(weights)
    w_all.update({f"tp_{k}": w * gt.tp_E for k, w in weights.items()})
    prim = projection.integrate(at_patient, paths, w_all, g.sid_cm)
    prim = {k: v * mask for k, v in prim.items()}
    primary = {k: prim[k] for k in weights}
    primary_tp = {k: prim[f"tp_{k}"] for k in weights}

    if scatter_knobs.enabled:
        water_eq = scatter_mod.water_equivalent_mm(paths, at_patient)
        sc = scatter_mod.scatter_estimate(primary, water_eq, g, det, at_patient, mask)
        scatter_maps, spr = sc.maps, sc.spr
    else:
        scatter_maps = {k: np.zeros_like(v) for k, v in primary.items()}
        spr = 0.0
    ts_mean = grid_mod.grid_figures(gt, at_patient, spr)
    after = {k: primary_tp[k] + scatter_maps[k] * ts_mean["ts"] for k in weights}

    centre = rois["center"]
    exit_spec = projection.transmitted_spectrum(
        at_patient, {m: float(np.mean(v[centre])) for m, v in paths.items()}
    )
    figures = {
        "spr": float(spr),
        "spr_after_grid": float(spr * ts_mean["ts"] / ts_mean["tp"]) if grid_knobs.enabled else spr,
        "grid_tp": float(ts_mean["tp"]),
        "grid_ts": float(ts_mean["ts"]),
        "bucky_factor": float(ts_mean["bucky_factor"]),
        "contrast_improvement": float(ts_mean["contrast_improvement"]),
        "receptor_nGy_per_frame": float(np.mean(after["kerma_uGy"][centre]) * NGY_PER_UGY),
    }
    spectra = {
        "spectrum_tube": tube,
        "spectrum_filtered": filtered,
        "spectrum_patient": exit_spec,
    }
    return Expected(spectra, paths, primary, scatter_maps, after, mask, rois, figures)


def choose_technique(p: Params):
    """Technique from the knobs, or from automatic brightness control when it is on."""
    t0 = technique_from(p)
    if not p.abc.enabled:
        return t0, None

    def measure(t: Technique) -> abc_mod.Measurement:
        e = expected_frame(p, t, image_px=ABC_PROBE_PX)
        frame = dose_mod.frame_dose(beam(t.kvp, p.tube.anode_angle_deg, p.filtration.al_mm, t.cu_mm)[1], t, geo.geometry_from(p), p.geometry.table)
        return abc_mod.Measurement(
            receptor_nGy_per_frame=e.figures["receptor_nGy_per_frame"],
            kar_rate_mGy_per_min=frame.kar_rate_mGy_per_min(t),
        )

    res = abc_mod.solve(p, measure)
    return res.technique, res


def simulate(p: Params) -> Result:
    """Run the whole chain once.

    Parameters
    ----------
    p
        Validated parameters (``sim.Params``).

    Returns
    -------
    Result
        Display image, every stage, metrics, dose and the technique used.
    """
    if not isinstance(p, Params):
        raise ValueError(f"simulate() needs a sim.Params, got {type(p).__name__}")
    t, abc_result = choose_technique(p)
    e = expected_frame(p, t)
    rng = np.random.default_rng(p.run.seed)
    det = geo.DetectorGrid(p.run.image_px, p.geometry.fov_cm * 10.0)
    detected = receptor.detect(e.after_grid, p, det, rng)
    flat = receptor.detect_flat(e, p, det)
    proc = processing.process(detected.signal, flat, e.field_mask, p, det.pixel_mm)

    metrics = dict(e.figures)
    metrics.update(met.image_metrics(detected.signal, detected.expected, e.rois))
    metrics["dqe0"] = float(detected.dqe0)
    filtered = e.spectra["spectrum_filtered"]
    frame = dose_mod.frame_dose(filtered, t, geo.geometry_from(p), p.geometry.table)
    dose = dose_mod.dose_report(
        frame, t, p.run.fluoro_time_s, p.dose.region, p.abc.high_level,
        metrics["receptor_nGy_per_frame"],
    )
    metrics["figure_of_merit"] = met.figure_of_merit(metrics.get("cnr", 0.0), dose["kar_mGy"])
    stages = {
        **e.spectra,
        "primary": e.primary["quanta"],
        "scatter": e.scatter["quanta"],
        "after_grid": e.after_grid["quanta"],
        "absorbed": detected.expected,
        "noisy": detected.signal,
        "processed": proc.processed,
        "displayed": proc.display,
    }
    technique = t.as_dict()
    if abc_result is not None:
        technique["abc_limited"] = bool(abc_result.limited)
    return Result(p, proc.display, stages, metrics, dose, technique, abc_result)
