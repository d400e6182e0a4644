"""The imaging chain: ``simulate(params) -> Result``, every stage kept.

tube -> filtration -> (table) -> patient -> scatter -> grid -> receptor -> processing -> display,
with the dose alongside and automatic brightness control closing the loop.

The noise-free part of a frame (spectra, path lengths, primary, scatter, grid, expected detector
signal) depends only on the technique and the physical knobs, so it is cached by them; changing
only the seed or the display redoes the noise and the processing alone.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from sim import brightness, memo, phantoms, processing, projection, receptor
from sim import dose as dose_mod
from sim import geometry as geo
from sim import grid as grid_mod
from sim import metrics as met
from sim import scatter as scatter_mod
from sim.params import Params, Technique, technique_from
from sim.receptor.blur import separable_2d
from sim.spectrum import REFERENCE_DISTANCE_CM, Spectrum, beam
from sim.units import MM_PER_CM, NGY_PER_UGY
from sim.validate import check_number

ABC_PROBE_PX = 96
"""Image side used by ABC to measure the receptor dose in its sensing region [px]."""


class ScaledMaps(Mapping):
    """Receptor maps of which some are sums of scalars times other maps, made on first use.

    ``arrays`` holds the maps computed in full; ``terms[k]`` a tuple of ``(map, factor)``
    pairs with ``self[k] = sum(factor * map)``. A derived map costs nothing until it is read
    (the chain needs most of them only as region means: :meth:`region_mean`); once read it is
    kept. Thread-safe: each derived map is made once.
    """

    finite_nonnegative = True
    """Every map is finite and >= 0: the chain makes them from exponentials, clipped
    convolutions and sums with factors >= 0 (the receptor need not scan them again)."""

    def __init__(self, arrays: dict[str, np.ndarray], terms: dict[str, tuple] | None = None):
        self._arrays = dict(arrays)
        self._terms = dict(terms or {})
        self._order = tuple(dict.fromkeys([*self._arrays, *self._terms]))
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> np.ndarray:
        a = self._arrays.get(key)
        if a is not None:
            return a
        if key not in self._terms:
            raise KeyError(key)
        with self._lock:
            a = self._arrays.get(key)
            if a is None:
                a = _combine(self._terms[key], ...)
                self._arrays[key] = a
        return a

    def __contains__(self, key: object) -> bool:  # without making a derived map
        return key in self._arrays or key in self._terms

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def region_mean(self, key: str, region: Any) -> float:
        """Mean of map ``key`` over ``region`` (an index), without making a derived map."""
        if key in self._arrays or key not in self._terms:
            return float(np.mean(self[key][region]))
        return float(np.mean(_combine(self._terms[key], region)))


def _combine(terms: tuple, region: Any) -> np.ndarray:
    """``sum(factor * map[region])`` of ``(map, factor)`` terms, float32."""
    (m0, f0), *rest = terms
    out = np.multiply(m0[region], np.float32(f0))
    tmp = None
    for m, f in rest:
        tmp = np.multiply(m[region], np.float32(f), out=tmp)
        out += tmp
    return out


@dataclass(frozen=True)
class Expected:
    """Noise-free frame: spectra, maps at the receptor per frame, and chain figures.

    Maps are per mm^2 per frame at the receptor, keyed by the receptor's energy weights
    (``quanta``, ``kerma_uGy``, ``abs_quanta``, ``abs_energy_keV``, ``abs_energy2_keV2``);
    ``after_grid[k] = grid_tp[k] * primary[k] + grid_ts[k] * scatter[k]``. The maps needed
    only as region means are :class:`ScaledMaps` entries made on first use.
    """

    spectra: dict[str, Spectrum]
    paths: dict[str, np.ndarray]
    primary: ScaledMaps
    scatter: ScaledMaps
    after_grid: ScaledMaps
    field_mask: np.ndarray
    rois: dict[str, np.ndarray]
    figures: dict[str, float]
    flat: np.ndarray
    detector_expected: np.ndarray
    grid_tp: dict[str, float]
    grid_ts: dict[str, float]
    derived: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """What is made from this frame once, by key: the receptor's noise model per (receptor,
    noise on) (:func:`_noise_of`) and the frame dose (:func:`_frame_dose_of`)."""


def _derived(e: Expected, key: tuple, make) -> Any:
    """``make()``, kept with the noise-free frame ``e`` under ``key`` (made once per frame)."""
    value = e.derived.get(key)
    if value is None:
        value = e.derived[key] = make()
    return value


def _noise_of(e: Expected, rx: receptor.Receptor, det: geo.DetectorGrid, noise: bool):
    """The noise model of a noise-free frame (made once per frame, receptor and noise switch):
    every new noisy frame then only draws (:func:`sim.receptor.draw_signal`)."""
    return _derived(
        e,
        ("noise", rx, bool(noise)),
        lambda: receptor.noise_model(
            e.after_grid, rx, det, expected=e.detector_expected, noise=noise
        ),
    )


def _frame_dose_of(e: Expected, t: Technique, g: geo.Geometry, table: bool):
    """The frame dose of a noise-free frame's technique (made once per frame: every
    argument is part of the frame's key)."""
    return _derived(
        e,
        ("dose", t, g, bool(table)),
        lambda: dose_mod.frame_dose(e.spectra["spectrum_filtered"], t, g, table),
    )


@dataclass(frozen=True)
class Scene:
    """What does not depend on the beam: geometry, image grid, phantom, path maps, masks."""

    geometry: geo.Geometry
    grid: geo.DetectorGrid
    phantom: phantoms.Phantom
    paths: dict[str, np.ndarray]
    field_mask: np.ndarray
    rois: dict[str, np.ndarray]
    checked_paths: projection.PathMaps
    """The path maps inside ``field_box``, ready for :func:`sim.projection.integrate`."""
    centre_paths_mm: dict[str, float]
    """Mean path of each material over the central region [mm]."""
    field_box: tuple[slice, slice]
    """Rows and columns holding every pixel the collimated field reaches (the primary is zero
    outside, so only these are projected)."""

    @cached_property
    def field_edge(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices in ``field_box`` where the field mask is below 1, and its values
        there: the collimator's edge (the primary is the projection times the mask)."""
        m = self.field_mask[self.field_box].reshape(-1)
        idx = np.flatnonzero(m < 1.0)
        return idx, m[idx]

    def primary_map(self, in_box: np.ndarray) -> np.ndarray:
        """A full-size primary map from its projection ``in_box`` on the field box (changed in
        place): times the field mask, zero outside the box [unit of the input]."""
        idx, edge = self.field_edge
        flat = np.ascontiguousarray(in_box).reshape(-1)  # a view of the input when it can be
        flat[idx] *= edge
        rows, cols = self.field_box
        full = np.empty(self.field_mask.shape, np.float32)
        full[: rows.start] = 0.0
        full[rows.stop :] = 0.0
        full[rows, : cols.start] = 0.0
        full[rows, cols.stop :] = 0.0
        full[rows, cols] = flat.reshape(in_box.shape)
        return full


@dataclass(frozen=True)
class Result:
    """Everything one simulation produced.

    ``image`` is the display-ready 8-bit image; ``stages`` the ordered intermediates;
    ``metrics``, ``dose`` and ``technique`` are flat mappings of numbers (README, "Python
    API"; each key's unit and meaning in :mod:`sim.quantities`).
    """

    params: Params
    image: np.ndarray
    stages: dict[str, Any]
    metrics: dict[str, float]
    dose: dict[str, Any]
    technique: dict[str, float]
    abc: Any = None

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
        return float(v) if np.isfinite(v) else None  # JSON has no NaN: undefined is null
    return v


FOCAL_BLUR_KEYS = ("quanta", "abs_energy_keV", "abs_energy2_keV2")
"""Receptor maps that carry the image and its noise, blurred by the focal spot; the others
(air kerma, absorbed quanta) are used only as region means, which the blur does not move."""


def focal_spot_blur(
    maps: dict[str, np.ndarray], g: geo.Geometry, pixel_mm: float, in_place: bool = False
) -> dict:
    """Maps after the grid, blurred by the focal spot's penumbra (geometric unsharpness).

    Every point of the patient casts its shadow through each point of the focal spot: at the
    receptor the image of a point is the focal spot's intensity distribution scaled by
    M - 1, width U = f (M - 1) (:meth:`sim.geometry.Geometry.focal_blur_mm`). The focal spot is
    taken as uniform over its nominal size f (``tube.focal_spot_mm``; IEC 60336 nominal values),
    so U is the full width of the penumbra of a sharp edge (its 10-90 % width is 0.8 U), and
    the object plane is the patient's mid-plane (one plane for the whole patient: the
    variation of U with depth is not modelled). The blur acts on the photon fluence before
    detection, so the quantum noise stays uncorrelated by it. The chain blurs the primary
    only (:func:`after_grid`; the field edge gets its penumbra): the scatter is already smooth.

    Parameters
    ----------
    maps : dict of str to numpy.ndarray
        Receptor maps after the grid, per mm^2 [see :class:`Expected`].
    g : sim.geometry.Geometry
        Geometry, with the focal-spot size.
    pixel_mm : float
        Simulated pixel at the receptor [mm].
    in_place : bool
        Blur the maps' own (writeable float32) arrays instead of new ones.

    Returns
    -------
    dict
        The maps, those of :data:`FOCAL_BLUR_KEYS` blurred (float32).

    References
    ----------
    Bushberg et al. (2012), sec. 7.6 (geometric unsharpness B = f (M - 1)); IEC 60336:2020
    (focal-spot nominal values) (docs/references.md [Bushberg2012], [IEC60336]).
    """
    taps = _focal_taps(g, pixel_mm)
    out = dict(maps)
    for k in FOCAL_BLUR_KEYS:
        if k in out and taps.size > 1:
            out[k] = separable_2d(out[k], taps, in_place=in_place)
    return out


def _focal_taps(g: geo.Geometry, pixel_mm: float) -> np.ndarray:
    """The focal-spot blur's kernel at the patient's mid-plane (:func:`focal_spot_blur`)."""
    return focal_spot_taps(
        g.focal_blur_mm(g.source_skin_cm + 0.5 * g.patient_thickness_cm), pixel_mm
    )


def after_grid(
    terms: dict[str, tuple], g: geo.Geometry, pixel_mm: float, box: tuple | None = None
) -> dict[str, np.ndarray]:
    """Maps after the grid, ``tp * primary + ts * scatter``, the primary focal-spot blurred.

    The penumbra of :func:`focal_spot_blur` acts on the primary of :data:`FOCAL_BLUR_KEYS`.
    The scatter, the primary convolved with kernels centimetres wide, is smooth on the scale
    of the penumbra (a fraction of a millimetre; the symmetric kernel leaves any linear ramp
    as it is) and is not blurred. Only ``box`` and a margin of twice the kernel's half-width
    are blurred: the primary is zero outside the box, so its blur is zero beyond the margin,
    and the margin's edge (reflected by the blur) holds only zeros.

    Parameters
    ----------
    terms : dict
        Key -> ``((primary map, tp), (scatter map, ts))``: maps per mm^2 (n, n) and the
        grid's transmissions for that key [-].
    g : sim.geometry.Geometry
        Geometry, with the focal-spot size.
    pixel_mm : float
        Simulated pixel at the receptor [mm].
    box : tuple of slice, optional
        Rows and columns outside which every primary map is zero (default: the whole image).

    Returns
    -------
    dict of str to numpy.ndarray
        New float32 maps, one per key.
    """
    taps = _focal_taps(g, pixel_mm)
    out = {}
    for k, ((p_map, p_f), (s_map, s_f)) in terms.items():
        n0, n1 = s_map.shape
        blur = k in FOCAL_BLUR_KEYS and taps.size > 1
        h = 2 * (taps.size // 2) if blur else 0  # the reflected edge rows must be zeros too
        rows, cols = box or (slice(0, n0), slice(0, n1))
        bb = (
            slice(max(rows.start - h, 0), min(rows.stop + h, n0)),
            slice(max(cols.start - h, 0), min(cols.stop + h, n1)),
        )
        if blur:  # the grid's transmission goes with the taps
            primary = separable_2d(p_map[bb], taps, gain=p_f)
        else:
            primary = np.multiply(p_map[bb], np.float32(p_f))
        out[k] = a = np.multiply(s_map, np.float32(s_f))
        a[bb] += primary
    return out


_FOCAL_TAP_FLOOR = 1e-4  # taps below this share of the kernel are dropped (sum kept at 1)


@lru_cache(maxsize=64)
def focal_spot_taps(u_mm: float, pixel_mm: float) -> np.ndarray:
    """1-D kernel on the pixel grid of a box blur of width ``u_mm`` (odd length, sum 1).

    The maps hold pixel averages: each tap is the share of pixel k's content that a box of
    width U moves into pixel 0, averaged over pixel 0, so a blur narrower than a pixel still
    spreads into the neighbours (U / 4p of an edge pixel's content for U < p).
    """
    half = int(math.ceil(0.5 * u_mm / pixel_mm + 0.5))
    x = (np.arange(64) + 0.5) / 64.0 * pixel_mm - 0.5 * pixel_mm  # points across pixel 0
    k = np.arange(-half, half + 1)
    lo = np.maximum(x[:, None] - 0.5 * u_mm, (k[None, :] - 0.5) * pixel_mm)
    hi = np.minimum(x[:, None] + 0.5 * u_mm, (k[None, :] + 0.5) * pixel_mm)
    taps = np.clip(hi - lo, 0.0, None).mean(axis=0) / u_mm if u_mm > 0.0 else (k == 0) * 1.0
    taps = taps[taps >= _FOCAL_TAP_FLOOR * taps.max()]
    taps = (taps / taps.sum()).astype(np.float32)
    taps.flags.writeable = False
    return taps


def expected_frame(p: Params, t: Technique, image_px: int | None = None) -> Expected:
    """The noise-free frame for a technique (cached on the knobs that matter)."""
    return _expected(
        t,
        p.tube.focal_spot_mm,
        p.tube.anode_angle_deg,
        p.filtration.al_mm,
        p.geometry,
        p.patient,
        p.scatter,
        p.grid,
        p.receptor,
        image_px or p.run.image_px,
    )


@lru_cache(maxsize=8)
def scene(g_knobs, patient, image_px: int) -> Scene:
    """Geometry, image grid, phantom and its path-length maps (cached by their knobs)."""
    p = Params(geometry=g_knobs, patient=patient)
    g = geo.geometry_from(p)
    det = geo.DetectorGrid(image_px, g.fov_cm * MM_PER_CM)
    phantom = phantoms.build_phantom(p)
    paths = phantoms.path_lengths(phantom, g, det)
    rois = phantoms.roi_masks(phantom, g, det)
    centre = {m: float(np.mean(v[rois["center"]])) for m, v in paths.items()}
    mask = geo.field_mask(g, det)
    box = geo.support_box(mask > 0.0)
    checked = projection.prepare_paths({m: v[box] for m, v in paths.items()})
    return Scene(g, det, phantom, paths, mask, rois, checked, centre, box)


@lru_cache(maxsize=8)
def _coarse_paths(g_knobs, patient, image_px: int) -> scatter_mod.CoarsePaths:
    """The scene's path maps reduced for the scatter model's water-equivalent thickness."""
    sc_ = scene(g_knobs, patient, image_px)
    return scatter_mod.coarse_paths(sc_.paths, sc_.geometry, sc_.grid)


FULL_RES_KEYS = ("quanta",)
"""Receptor quantities whose scatter is convolved in full; the others (deposited energy and
its second moment, air kerma, absorbed quanta) take the scatter's photon map times their mean
per scattered photon over the scatter spectrum at the field centre (the scatter spectrum
changes little across the field; Boone & Seibert 1988)."""


PER_PHOTON_KEYS = ("kerma_uGy", "abs_quanta")
"""Receptor quantities needed only as region means (receptor air kerma, QDE for DQE(0)):
the photon-fluence map times their mean per photon of the exit spectrum at the field centre,
instead of two more projected maps."""


def receptor_of(p: Params) -> receptor.Receptor:
    """The receptor of the knobs: its section and the field of view."""
    return receptor.of(p.receptor, p.geometry.fov_cm)


def open_field_signal(
    spectrum_per_frame: Spectrum,
    rx: receptor.Receptor,
    grid_knobs,
    sid_cm: float,
    det: geo.DetectorGrid,
) -> np.ndarray:
    """Noise-free detector image of an open field (no patient, no collimation).

    The beam passes the anti-scatter grid (primary transmission of ``grid_knobs``) and reaches
    the receptor at ``sid_cm`` (inverse square from 100 cm); the receptor's response to a
    uniform input (:meth:`sim.receptor.Receptor.flat_field`: blur, and for the II pincushion,
    glare and vignetting) is applied.

    Parameters
    ----------
    spectrum_per_frame : sim.spectrum.Spectrum
        Spectrum per frame at 100 cm (mAs per frame and any table layers applied)
        [1/mm^2 per bin].
    rx : sim.receptor.Receptor
        The receptor.
    grid_knobs : sim.params.Grid
        The anti-scatter grid's knobs (``Params().grid``).
    sid_cm : float
        Source to receptor distance [cm].
    det : sim.geometry.DetectorGrid
        Simulated image grid.

    Returns
    -------
    numpy.ndarray
        float32 (n, n) [keV absorbed per simulated pixel].

    References
    ----------
    Seibert, Boone & Lindfors, Proc. SPIE 3336:348 (1998) (flat-field correction).
    """
    e = np.asarray(spectrum_per_frame.energy_keV, dtype=np.float64)
    w = rx.weights(e)["abs_energy_keV"]
    tp = grid_mod.grid_transmission(grid_knobs, e).tp_E
    return _open_field(spectrum_per_frame, w, tp, rx, sid_cm, det)


def _open_field(spectrum_per_frame: Spectrum, w_abs, tp_E, rx, sid_cm: float, det) -> np.ndarray:
    """:func:`open_field_signal` from the receptor's absorbed-energy weight and the grid's
    primary transmission per energy bin, when the caller has them already."""
    phi = np.asarray(spectrum_per_frame.fluence, dtype=np.float64)
    tp = np.asarray(tp_E, dtype=np.float64)
    sid = check_number("geometry.sid_cm", sid_cm, 1.0, 1e4, "cm")
    e_mm2 = float(phi @ (w_abs * tp)) * (REFERENCE_DISTANCE_CM / sid) ** 2
    return rx.flat_field(e_mm2, int(det.n_px), float(det.pixel_mm))


@lru_cache(maxsize=8)
def _view_mask(g_knobs, patient, rx: receptor.Receptor, image_px: int) -> np.ndarray:
    sc_ = scene(g_knobs, patient, image_px)
    m = rx.view_mask(sc_.field_mask, sc_.grid.pixel_mm)
    m = np.asarray(m, dtype=np.float32)
    m.flags.writeable = False
    return m


EXPOSED_MIN = 0.999
"""Smallest view-mask value of a pixel counted as in the beam by the metrics (the edge
pixels the collimator half covers are left out) [-]."""


def exposed_rois(p: Params, rois: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The regions of interest cut to the pixels the beam reaches (:func:`view_mask`).

    Collimating must never move a region into the dark: a region partly outside the field is
    measured on its exposed part, one wholly outside is empty and its metrics undefined.
    """
    return _inside_view(rois, view_mask(p))


def _inside_view(rois: dict[str, np.ndarray], view: np.ndarray) -> dict[str, np.ndarray]:
    inside = view >= EXPOSED_MIN
    return {k: (v & inside) for k, v in rois.items()}


@lru_cache(maxsize=8)
def _scene_exposed_rois(g_knobs, patient, rx: receptor.Receptor, image_px: int) -> dict:
    """:func:`exposed_rois` of the scene's own regions (read-only, made once per scene)."""
    rois = scene(g_knobs, patient, image_px).rois
    out = _inside_view(rois, _view_mask(g_knobs, patient, rx, image_px))
    for v in out.values():
        v.flags.writeable = False
    return out


def view_mask(p: Params) -> np.ndarray:
    """Where the receptor shows X-rays: the collimated field and, for an image intensifier,
    its circular input field; the processing measures its window there [-]."""
    return _view_mask(p.geometry, p.patient, receptor_of(p), p.run.image_px)


def _per_photon(fluence: np.ndarray, weights: dict, key: str) -> float:
    """Mean of weight ``key`` per photon of a spectrum [unit of the weight]."""
    n = float(fluence @ weights["quanta"])
    return float(fluence @ weights[key]) / n if n > 0.0 else 0.0


def _weighted_mean(values_E: np.ndarray, fluence: np.ndarray, w: np.ndarray) -> float:
    den = float(fluence @ w)
    return float(fluence @ (w * values_E)) / den if den > 0.0 else 1.0


FRAME_CACHE_BYTES = 96 << 20
"""Memory for noise-free frames kept per process (:func:`expected_frame`) [bytes]: a choice,
about 8 frames of 512 x 512 or 2 of 1024 x 1024 (and many of ABC's 96 x 96 probes). A frame
not kept costs one new frame (~20 ms at 512 px); a bounded cache keeps a class server's
memory in check and reuses the memory it frees."""


def _frame_nbytes(e: Expected) -> int:
    """Bytes of a noise-free frame's own arrays (the scene's are shared), with room for its
    noise model (two images)."""
    own = [a for maps in (e.primary, e.scatter, e.after_grid) for a in maps._arrays.values()]
    own += [e.flat, e.detector_expected]
    held = {id(a): a.nbytes if 0 not in a.strides else a.itemsize for a in own}  # views of 1
    return sum(held.values()) + 2 * e.detector_expected.nbytes


@memo.byte_cached(FRAME_CACHE_BYTES, _frame_nbytes)
def _expected(
    t, focal_mm, angle, al_mm, g_knobs, patient, scatter_knobs, grid_knobs, rec, image_px
):
    rx = receptor.of(rec, g_knobs.fov_cm)
    sc_ = scene(g_knobs, patient, image_px)
    g, det, paths, mask, rois = sc_.geometry, sc_.grid, sc_.paths, sc_.field_mask, sc_.rois
    tube, filtered = beam(t.kvp, angle, al_mm, t.cu_mm)
    at_patient = filtered.filtered(dose_mod.table_layers()) if g_knobs.table else filtered
    at_patient = at_patient.scaled(t.mas_per_frame)
    e_keV = at_patient.energy_keV

    weights = rx.weights(e_keV)
    centre = rois["center"]
    exit_spec = projection.transmitted_spectrum(at_patient, sc_.centre_paths_mm)
    imaged = {k: w for k, w in weights.items() if k not in PER_PHOTON_KEYS}
    box = sc_.field_box
    projected = {}
    for k, v in projection.integrate(at_patient, sc_.checked_paths, imaged, g.sid_cm).items():
        projected[k] = sc_.primary_map(v)  # the field edge; no primary outside the field
    p_quanta = projected["quanta"]
    per_photon = {k: _per_photon(exit_spec.fluence, weights, k) for k in PER_PHOTON_KEYS}
    primary = ScaledMaps(projected, {k: ((p_quanta, f),) for k, f in per_photon.items()})

    if scatter_knobs.enabled:
        water_eq = scatter_mod.water_equivalent(
            _coarse_paths(g_knobs, patient, image_px), at_patient
        )
        full = {k: projected[k] for k in FULL_RES_KEYS}
        sc = scatter_mod.scatter_estimate(
            full, water_eq, g, det, at_patient, mask, weights={k: weights[k] for k in full}
        )
        spr, scatter_spec = sc.spr, sc.scatter_spectrum
        s_full = dict(sc.maps)
        ss = np.asarray(scatter_spec, dtype=np.float64)
        s_per_photon = {k: _per_photon(ss, weights, k) for k in weights.keys() - full.keys()}
    else:
        s_full = {"quanta": np.zeros_like(p_quanta)}
        spr, scatter_spec = 0.0, None
        s_per_photon = {k: 0.0 for k in weights.keys() - s_full.keys()}
    s_quanta = s_full["quanta"]
    scatter_maps = ScaledMaps(s_full, {k: ((s_quanta, f),) for k, f in s_per_photon.items()})

    gt = grid_mod.grid_transmission(grid_knobs, e_keV)
    gf = grid_mod.grid_figures(gt, exit_spec, spr, scatter_spectrum=scatter_spec)
    # The grid's primary transmission hardly varies with energy (interspace and covers only):
    # each map takes Tp averaged over the exit spectrum with its own weight, instead of a
    # second projection with Tp(E) folded in.
    ts_spec = scatter_spec if scatter_spec is not None else exit_spec.fluence
    tp = {k: _weighted_mean(gt.tp_E, exit_spec.fluence, w) for k, w in weights.items()}
    ts_fluence = np.asarray(ts_spec, dtype=np.float64)
    ts = {k: _weighted_mean(gt.ts_E, ts_fluence, w) for k, w in weights.items()}
    # tp * primary + ts * scatter, each as its full maps or the quanta maps times a factor
    terms = {}
    for k in weights:
        p_term = (projected[k], tp[k]) if k in projected else (p_quanta, tp[k] * per_photon[k])
        s_term = (s_full[k], ts[k]) if k in s_full else (s_quanta, ts[k] * s_per_photon[k])
        terms[k] = (p_term, s_term)
    g_focal = dataclasses.replace(g, focal_spot_mm=focal_mm)
    after = after_grid({k: terms[k] for k in projected}, g_focal, det.pixel_mm, box)
    after = ScaledMaps(after, {k: t for k, t in terms.items() if k not in after})
    open_field = _open_field(
        at_patient, weights["abs_energy_keV"], gt.tp_E, rx, g_knobs.sid_cm, det
    )
    flat = rx.gain_reference(open_field)
    flat.flags.writeable = False  # cached with the frame; processing checks it once
    detector_expected = receptor.expected_signal(after, rx, det)
    figures = {
        "spr": float(spr),
        "spr_after_grid": float(spr * gf["ts"] / gf["tp"]) if grid_knobs.enabled else float(spr),
        "grid_tp": float(gf["tp"]),
        "grid_ts": float(gf["ts"]),
        "bucky_factor": float(gf["bucky_factor"]),
        "contrast_improvement": float(gf["contrast_improvement"]),
        "receptor_nGy_per_frame": after.region_mean("kerma_uGy", centre) * NGY_PER_UGY,
    }
    absorbed_spec = dataclasses.replace(
        exit_spec, fluence=exit_spec.fluence * weights["abs_quanta"] * gt.tp_E
    )
    spectra = {
        "spectrum_tube": tube,
        "spectrum_filtered": filtered,
        "spectrum_patient": exit_spec,
        "spectrum_absorbed": absorbed_spec,
    }
    return Expected(
        spectra,
        paths,
        primary,
        scatter_maps,
        after,
        mask,
        rois,
        figures,
        flat,
        detector_expected,
        tp,
        ts,
    )


def abc_kar(p: Params):
    """The Ka,r rate of a technique [mGy/min] (no image: it does not depend on the patient)."""
    g = geo.geometry_from(p)

    def kar(t: Technique) -> float:
        filtered = beam(t.kvp, p.tube.anode_angle_deg, p.filtration.al_mm, t.cu_mm)[1]
        return dose_mod.kar_rate_mGy_per_min(filtered, t, g)

    return kar


def abc_measure(p: Params):
    """What the ABC sensor sees for a technique: the receptor air kerma per frame in the
    central region (the chain itself, on a coarse image) and the Ka,r rate."""
    kar = abc_kar(p)

    def measure(t: Technique) -> brightness.Measurement:
        e = expected_frame(p, t, image_px=ABC_PROBE_PX)
        return brightness.Measurement(
            receptor_nGy_per_frame=e.figures["receptor_nGy_per_frame"],
            kar_rate_mGy_per_min=kar(t),
        )

    return measure


def choose_technique(p: Params):
    """Technique from the knobs, or from automatic brightness control when it is on."""
    if not p.abc.enabled:
        return technique_from(p), None
    res = brightness.solve(p, abc_measure(p), abc_kar(p))
    return res.technique, res


def abc_table(p: Params, thicknesses_cm) -> tuple[list[dict], float | None]:
    """ABC over patient thickness: one row per thickness and the thickness where the
    air-kerma-rate limit starts to bite (None if it does not within the range).

    Parameters
    ----------
    p
        Parameters (ABC is switched on; the phantom and the rest are kept).
    thicknesses_cm
        Patient thicknesses [cm].

    Returns
    -------
    rows, limit_cm
        Rows with thickness_cm, kvp, ma, pulse_ms, cu_mm, receptor_nGy_per_frame,
        target_nGy_per_frame, kar_rate_mGy_per_min, limited; and the limit thickness [cm].
    """
    p = p.replace(**{"abc.enabled": True})

    def measure_for(t_cm: float):
        return abc_measure(p.replace(**{"patient.thickness_cm": float(t_cm)}))

    results = brightness.sweep_thickness(p, measure_for, thicknesses_cm, abc_kar(p))
    rows = [
        {
            "thickness_cm": float(t_cm),
            **{k: v for k, v in r.technique.as_dict().items() if k != "mas_per_frame"},
            "receptor_nGy_per_frame": r.receptor_nGy_per_frame,
            "target_nGy_per_frame": r.target_nGy_per_frame,
            "kar_rate_mGy_per_min": r.kar_rate_mGy_per_min,
            "limited": r.limited,
        }
        for t_cm, r in zip(thicknesses_cm, results, strict=True)
    ]
    lo, hi = float(min(thicknesses_cm)), float(max(thicknesses_cm))
    limit = brightness.limit_thickness_cm(p, measure_for, lo_cm=lo, hi_cm=hi, kar=abc_kar(p))
    return rows, limit


def _dsa_mask(p: Params, t: Technique, det: geo.DetectorGrid) -> np.ndarray:
    """The DSA mask frame of a single image: the same scene without contrast, same
    technique, its own noise (the next seed), as acquired before the injection."""
    q = p.replace(**{"patient.contrast_ml": 0.0})
    e = expected_frame(q, t)
    rng = np.random.default_rng(p.run.seed + 1) if q.run.noise else None
    rx = receptor_of(q)
    return receptor.detect(e.after_grid, rx, det, rng, expected=e.detector_expected).signal


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
    rng = np.random.default_rng(p.run.seed) if p.run.noise else None
    scene_ = scene(p.geometry, p.patient, p.run.image_px)
    det = scene_.grid
    rx = receptor_of(p)
    model = _noise_of(e, rx, det, p.run.noise)
    signal = receptor.draw_signal(model, rng) if rng is not None else model.expected.copy()
    detected = dataclasses.replace(model.detected, signal=signal)
    mask_signal = _dsa_mask(p, t, det) if p.processing.dsa else None
    proc = processing.process(
        detected.signal,
        e.flat,
        view_mask(p),
        p.processing,
        det.pixel_mm,
        dsa_mask_signal=mask_signal,
    )

    metrics = dict(e.figures)
    rois = _scene_exposed_rois(p.geometry, p.patient, rx, p.run.image_px)
    metrics.update(met.image_metrics(detected.signal, detected.expected, rois))
    metrics["dqe0"] = float(detected.dqe0)
    frame = _frame_dose_of(e, t, scene_.geometry, p.geometry.table)
    dose = dose_mod.dose_report(
        frame,
        t,
        p.run.fluoro_time_s,
        p.dose.region,
        p.abc.high_level,
        metrics["receptor_nGy_per_frame"],
    )
    metrics["figure_of_merit"] = met.figure_of_merit(metrics["cnr"], dose["kar_mGy"])
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
