"""Focused linear anti-scatter grid: primary and scatter transmission, Bucky factor, CIF.

A grid is a stack of lead strips of thickness ``d`` and height ``h`` separated by interspaces
of width ``D`` (fibre or aluminium), between two cover plates. The strip period is
``C = d + D = 1 / lines_per_cm`` and the grid ratio is ``r = h / D``. The strips are focused on
the focal spot, so primary photons travel parallel to them; scattered photons cross them at an
angle and must penetrate lead.

Primary transmission (a photon at normal incidence either meets an interspace for the whole
height or a strip for the whole height)::

    Tp(E) = [D exp(-mu_I h) + d exp(-mu_Pb h)] / C * exp(-mu_cover t_cover)

Scatter transmission: the transmission T(E, theta, phi) of a photon at polar angle ``theta``
and azimuth ``phi`` (relative to the strip normal) averaged over where it enters the period
(Day & Dance 1983 [1]_; the closed form is evaluated here by exact piecewise integration), then
averaged over the angular distribution of the scatter reaching the receptor::

    Ts(E) = sum_theta p(theta) <T(E, theta, phi)>_phi

In T the lead removes scatter by photoelectric absorption and Compton scattering only, not by
coherent (Rayleigh) scattering: a coherent event is elastic and, in the broad angular field of
patient scatter, sends as many photons into a given direction as it takes out of it, so it
redirects scatter rather than removing it. With the total attenuation of lead the transmission
is the narrow-beam one and Ts comes out 7 % below a Monte Carlo that tracks photons through the
strips (``tools/scatter_mc.py grid``: 80 kV, 20 cm water, 30 x 30 cm field, 40 lines/cm,
36 um lead, ratios 8-15); without the coherent part it agrees within 1 % on the same photons
(``assets/scatter/grid_mc.json``), and within 2 % in runs not stored (60-80 lines/cm, 25-50 um
lead, aluminium interspace, 60-110 kV, 10-25 cm water, 2-10 cm gap). Coherent scattering is
6-13 % of lead's attenuation at 40-80 keV (XCOM, via xraylib ``CS_Rayl``). The balance needs a
broad angular field: it is not used for the primary (whose lead term is negligible anyway).
The strip averaging and septal penetration need no
change: the Monte Carlo's photons that cross the grid without interacting match the formula
within 0.5 %.

``p(theta)`` is the Monte Carlo distribution of the polar angle of scattered photons reaching
the centre of a 30 x 30 cm field behind 15-25 cm of water at a 5 cm air gap, from
``tools/scatter_mc.py`` (mean angle 34 deg): a thick water phantom, a large field
and the grid close to it, as grids are characterised (IEC 60627 [4]_; # guess: that standard's
exact phantom geometry was not checked). Real scatter angles narrow as the air gap grows
(mean 21 deg at a 20 cm gap), which would raise Ts; that dependence is not modelled.

Figures of merit follow JIS Z 4910 / IEC 60627: Bucky factor ``B = 1/Tt``, contrast
improvement ``K = Tp/Tt``, selectivity ``Sigma = Tp/Ts``, image improvement ``Q = Tp^2/Tt``,
with ``Tt = (Tp + SPR Ts) / (1 + SPR)``, each weighted over the spectrum by the air kerma
(or any detector weight).

The lead strip thickness is a knob (``grid.strip_um``, independent of the strip density).
Guesses (see the constants): the fibre interspace density (:data:`FIBRE_DENSITY_G_CM3`) and the
cover plates (:data:`COVERS_MM`).

Everything is a pure function of hashable inputs and cached. The grid is removable:
``enabled=False`` gives transmissions of one.

References
----------
.. [1] G. J. Day, D. R. Dance, "X-ray transmission formula for antiscatter grids",
   Phys. Med. Biol. 28:1429-1433 (1983).
.. [2] H.-P. Chan, K. Doi, "Investigation of the performance of antiscatter grids: Monte Carlo
   simulation studies", Phys. Med. Biol. 27:785-803 (1982).
.. [3] H.-P. Chan, Y. Higashida, K. Doi, "Performance of antiscatter grids in diagnostic
   radiology: experimental measurements and Monte Carlo simulation studies", Med. Phys.
   12:449-454 (1985); ultra-high-strip-density grids with 20-37 um lead strips at
   70-100 lines/cm: Chan et al., Radiology 154:807-815 (1985) (docs/references.md
   [Chan1985], [Chan1985b]).
.. [4] IEC 60627:2013, Diagnostic X-ray imaging equipment - Characteristics of general purpose
   and mammographic anti-scatter grids; JIS Z 4910 (definitions of Tp, Ts, Tt, B, K, Sigma),
   as quoted in docs/references.md [Tab-ScatterGrid].
.. [5] J. T. Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed. (2012), ch. 7
   (grid ratio, strip density, Bucky factor, contrast improvement factor).
.. [6] M. J. Berger et al., XCOM: Photon Cross Sections Database, NIST SRD 8 (coherent
   scattering cross section of lead; read through xraylib ``CS_Rayl``, which follows it)
   (docs/references.md [XCOM]).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xraylib

from sim import materials
from sim.params import knob
from sim.units import MM_PER_CM, UM_PER_MM

FIBRE_DENSITY_G_CM3 = 0.8
"""Density of the fibre (paper / cellulose) interspace [g/cm^3].

# guess: paper is 0.7-1.15 g/cm^3; the interspace is modelled as cellulose (C6H10O5)."""

_CELLULOSE_MASS_FRACTIONS = {"C": 0.444462, "H": 0.062163, "O": 0.493375}
"""Mass fractions of cellulose C6H10O5 (from the formula and IUPAC atomic weights)."""

COVERS_MM = {"fibre": ("carbon_fibre", 1.0), "aluminium": ("Al", 0.5)}
"""Cover plates, both faces together: material and total thickness [mm].

# guess: fibre-interspace grids have carbon-fibre covers (2 x 0.5 mm), aluminium-interspace
# grids aluminium covers (2 x 0.25 mm); manufacturers rarely publish these."""

INTERSPACES = ("fibre", "aluminium")

SCATTER_THETA_EDGES_DEG = np.arange(0.0, 90.0 + 1.0, 2.0)
"""Edges of the polar-angle bins of :data:`SCATTER_THETA_PDF` [deg]."""

# fmt: off
_SCATTER_THETA_PER_MILLE = (
    5.15, 13.17, 17.93, 20.04, 21.59, 26.05, 27.52, 30.64, 33.75, 36.07, 36.68, 40.42,
    41.31, 42.71, 44.67, 43.57, 42.76, 42.84, 40.91, 41.50, 38.60, 36.08, 35.06, 32.36,
    29.82, 27.25, 25.14, 22.53, 20.62, 18.06, 15.48, 14.15, 11.08, 8.73, 6.58, 4.29,
    2.53, 1.28, 0.71, 0.29, 0.08, 0.0, 0.0, 0.0, 0.0,
)
# fmt: on
SCATTER_THETA_PDF = np.array(_SCATTER_THETA_PER_MILLE) / 1000.0
"""Probability of each 2-degree polar-angle bin for scattered photons reaching the receptor.

Monte Carlo (``tools/scatter_mc.py``, file ``scatter_mc_water.npz``, angle case
gap 5 cm / field radius 16.9 cm): pencil-beam scatter of 15-25 cm water slabs, reciprocity for a
uniform 30 x 30 cm field (equal-area circle), averaged over 50, 60, 70, 80 keV and 15, 20,
25 cm (each normalised). Quanta-weighted. Mean polar angle 33.6 deg."""

_N_PHI = 12  # azimuth nodes over a quarter turn (the transmission is even in cos(phi))
_PHI_POWER = 3  # node clustering toward phi = 90 deg (photons running along the strips)


def _azimuth_nodes(n: int, power: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) for the mean over phi in [0, pi/2].

    phi = pi/2 (1 - s^power) with midpoint nodes in s: the nodes crowd toward phi = 90 deg,
    where photons travel almost along the strips and the transmission peaks sharply for
    high grid ratios.
    """
    s = (np.arange(n) + 0.5) / n
    phi = 0.5 * math.pi * (1.0 - s**power)
    w = power * s ** (power - 1) / n
    return phi, w / w.sum()


def _interspace_material(kind: str, fibre_density: float = FIBRE_DENSITY_G_CM3) -> str:
    if kind == "aluminium":
        return "Al"
    name = "grid_fibre" if fibre_density == FIBRE_DENSITY_G_CM3 else f"grid_fibre_{fibre_density:g}"
    return materials.register_mixture(name, dict(_CELLULOSE_MASS_FRACTIONS), fibre_density)


@functools.lru_cache(maxsize=16)
def _lead_coherent_per_mm(energies: tuple[float, ...]) -> np.ndarray:
    """Coherent (Rayleigh) attenuation coefficient of lead [1/mm] (XCOM via xraylib [6]_)."""
    rho = materials.density_g_cm3("Pb")
    return np.array([xraylib.CS_Rayl(82, e) for e in energies]) * rho / MM_PER_CM


@dataclass(frozen=True, eq=False)
class GridTransmission:
    """Energy-resolved grid transmissions.

    Attributes
    ----------
    energy_keV : ndarray
        Photon energies [keV].
    tp_E : ndarray
        Primary transmission at each energy [-] (ones when the grid is out).
    ts_E : ndarray
        Scatter transmission at each energy [-] (ones when the grid is out).
    enabled : bool
        Whether the grid is in the beam.
    ratio : float
        Grid ratio h/D [-].
    lines_per_cm : float
        Strip density [1/cm].
    interspace : str
        ``"fibre"`` or ``"aluminium"``.
    strip_mm, interspace_mm, height_mm : float
        Lead strip thickness d, interspace width D and strip height h [mm].
    """

    energy_keV: np.ndarray
    tp_E: np.ndarray
    ts_E: np.ndarray
    enabled: bool
    ratio: float
    lines_per_cm: float
    interspace: str
    strip_mm: float
    interspace_mm: float
    height_mm: float

    def tt_E(self, spr: float) -> np.ndarray:
        """Total transmission (Tp + SPR Ts) / (1 + SPR) at each energy [-].

        Parameters
        ----------
        spr : float
            Scatter-to-primary ratio in front of the grid (>= 0) [-].
        """
        s = _check_spr(spr)
        return (self.tp_E + s * self.ts_E) / (1.0 + s)


def _check_spr(spr: Any) -> float:
    try:
        s = float(spr)
    except (TypeError, ValueError):
        raise ValueError(f"spr={spr!r} is not a number: expected [0, inf)") from None
    if not (math.isfinite(s) and s >= 0.0):
        raise ValueError(f"spr={spr!r} is out of range [0, inf) (finite)")
    return s


def _check_energy(energy_keV: Any) -> np.ndarray:
    try:
        e = np.asarray(energy_keV, dtype=float)
    except (TypeError, ValueError):
        msg = f"energy_keV={energy_keV!r} is not numeric: expected [1, 1000] keV"
        raise ValueError(msg) from None
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"energy_keV must be a non-empty 1-D array, got shape {e.shape}")
    bad = ~np.isfinite(e) | (e < 1.0) | (e > 1000.0)
    if bad.any():
        raise ValueError(f"energy_keV={float(e[bad][0])!r} is out of range [1, 1000] keV")
    return e


def _grid_knobs(grid: Any, overrides: dict[str, Any]) -> tuple[bool, float, float, str, float]:
    """(enabled, ratio, lines_per_cm, interspace, strip_um) from Params, a Grid section or
    keywords (keywords first, then the section, then the knob defaults)."""
    section = getattr(grid, "grid", grid)  # a Params holds its Grid section as .grid
    values = {}
    for name in ("enabled", "ratio", "lines_per_cm", "interspace", "strip_um"):
        if overrides.get(name) is not None:
            values[name] = overrides[name]
        elif section is not None and hasattr(section, name):
            values[name] = getattr(section, name)
        else:
            values[name] = knob(f"grid.{name}").default
    return (
        knob("grid.enabled").check(values["enabled"]),
        float(knob("grid.ratio").check(values["ratio"])),
        float(knob("grid.lines_per_cm").check(values["lines_per_cm"])),
        knob("grid.interspace").check(values["interspace"]),
        float(knob("grid.strip_um").check(values["strip_um"])),
    )


def grid_transmission(
    grid: Any = None,
    energy_keV: Any = None,
    *,
    enabled: bool | None = None,
    ratio: float | None = None,
    lines_per_cm: float | None = None,
    interspace: str | None = None,
    strip_um: float | None = None,
) -> GridTransmission:
    """Primary and scatter transmission of a focused linear grid at each energy.

    Parameters
    ----------
    grid : sim.Params or its ``grid`` section, optional
        Source of ``enabled``, ``ratio``, ``lines_per_cm``, ``interspace``, ``strip_um``;
        keywords override it; missing values take the knob defaults.
    energy_keV : array_like, optional
        Photon energies, default ``sim.spectrum.ENERGY_KEV`` [keV].
    enabled : bool, optional
        Grid in the beam; ``False`` gives transmissions of one.
    ratio : float, optional
        Grid ratio h/D, in [6, 16] [-].
    lines_per_cm : float, optional
        Strip density, in [30, 80] [1/cm].
    interspace : str, optional
        ``"fibre"`` or ``"aluminium"``.
    strip_um : float, optional
        Lead strip thickness d, the knob ``grid.strip_um`` (its range keeps d below half the
        period at every strip density) [um].

    Returns
    -------
    GridTransmission
        ``tp_E`` and ``ts_E`` over ``energy_keV`` (read-only).

    References
    ----------
    Day & Dance, Phys. Med. Biol. 28:1429 (1983) (transmission averaged over the strip period);
    Chan & Doi, Phys. Med. Biol. 27:785 (1982) (grid geometry and performance); scatter angular
    distribution and the treatment of coherent scattering in lead from this project's Monte
    Carlo (``tools/scatter_mc.py grid``); lead, interspace and cover attenuation from NIST
    XCOM via ``sim.materials``.
    """
    given = {"enabled": enabled, "ratio": ratio, "lines_per_cm": lines_per_cm}
    on, r, n, kind, d_um = _grid_knobs(
        grid, {**given, "interspace": interspace, "strip_um": strip_um}
    )
    if energy_keV is None:
        from sim.spectrum import ENERGY_KEV

        energy_keV = ENERGY_KEV
    e = _check_energy(energy_keV)
    return _transmission_cached(on, r, n, kind, d_um / UM_PER_MM, tuple(e.tolist()))


@functools.lru_cache(maxsize=64)
def _transmission_cached(
    on: bool, r: float, n: float, kind: str, d: float, energies: tuple[float, ...]
) -> GridTransmission:
    e = np.array(energies)
    c = MM_PER_CM / n
    big_d = c - d
    h = r * big_d
    if on:
        tp, ts = _tp_ts(e, r, n, kind, d)
    else:
        tp, ts = np.ones_like(e), np.ones_like(e)
    for a in (e, tp, ts):
        a.setflags(write=False)
    return GridTransmission(e, tp, ts, on, r, n, kind, d, big_d, h)


def _strip_average(p: np.ndarray, a: np.ndarray, c: float, d: float) -> np.ndarray:
    """Mean of exp(-l(x)/a) over the entry position x in one period.

    ``l(x)`` is the length of lead (strips on [0, d) of every period ``c``) met between the
    lateral positions x and x + p; it is piecewise linear in x with breakpoints where x or
    x + p crosses a strip edge, so each piece integrates exactly (Day & Dance 1983).

    Parameters
    ----------
    p : ndarray
        Lateral displacement across the strips over the grid height [mm].
    a : ndarray
        Lateral attenuation length |u| / (mu_Pb - mu_I) [mm].
    c, d : float
        Period and strip thickness [mm].
    """
    p, a = np.broadcast_arrays(p, a)
    zeros = np.zeros_like(p)
    xs = np.stack([zeros, zeros + d, zeros + c, np.mod(-p, c), np.mod(d - p, c)])
    xs.sort(axis=0)

    def lead_up_to(y: np.ndarray) -> np.ndarray:
        q = y / c
        k = np.floor(q)
        return k * d + np.minimum((q - k) * c, d)  # same rounding for k and the remainder

    ell = lead_up_to(xs + p) - lead_up_to(xs)
    ex = np.exp(-ell / a)
    dx = np.diff(xs, axis=0)
    dl = np.diff(ell, axis=0)
    sloped = np.abs(dl) > 1e-9 * c
    ratio = np.divide(dx, dl, out=np.zeros_like(dx), where=sloped)
    piece = np.where(sloped, a * (ex[:-1] - ex[1:]) * ratio, dx * ex[:-1])
    return piece.sum(axis=0) / c


def _tp_ts(
    e: np.ndarray,
    r: float,
    n: float,
    kind: str,
    d: float,
    *,
    fibre_density: float = FIBRE_DENSITY_G_CM3,
    covers: bool = True,
) -> tuple[np.ndarray, ...]:
    """Tp(E) and Ts(E) of an enabled grid (see the module docstring); ``d`` in mm.

    ``fibre_density`` and ``covers`` let the tests describe the grid of a Monte Carlo run (no
    covers, another fibre density); the simulator uses the defaults."""
    c = MM_PER_CM / n
    big_d = c - d
    h = r * big_d
    mu_pb = materials.mu_per_mm("Pb", e)
    mu_i, mu_c, cover_mm = _interspace_and_cover(e, kind, fibre_density, covers)

    tp = (big_d * np.exp(-mu_i * h) + d * np.exp(-mu_pb * h)) / c * np.exp(-mu_c * cover_mm)

    keep = SCATTER_THETA_PDF > 0.0
    pdf = SCATTER_THETA_PDF[keep] / SCATTER_THETA_PDF[keep].sum()
    theta = np.radians(0.5 * (SCATTER_THETA_EDGES_DEG[:-1] + SCATTER_THETA_EDGES_DEG[1:]))[keep]
    t = _scatter_t(e, theta, r, n, d, mu_i, mu_c, cover_mm)
    return tp, t @ pdf


def _interspace_and_cover(
    e: np.ndarray, kind: str, fibre_density: float, covers: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Attenuation of the interspace and of the covers [1/mm], and the covers' thickness [mm]."""
    mu_i = materials.mu_per_mm(_interspace_material(kind, fibre_density), e)
    cover_mat, cover_mm = COVERS_MM[kind]
    return mu_i, materials.mu_per_mm(cover_mat, e), cover_mm if covers else 0.0


def _scatter_t(
    e: np.ndarray,
    theta: np.ndarray,
    r: float,
    n: float,
    d: float,
    mu_i: np.ndarray,
    mu_c: np.ndarray,
    cover_mm: float,
) -> np.ndarray:
    """Transmission T(E, theta) of scatter at polar angle ``theta`` [rad], averaged over the
    azimuth and the entry position (Day & Dance 1983), shape (len(e), len(theta)); ``mu_i``,
    ``mu_c`` and ``cover_mm`` from :func:`_interspace_and_cover`.

    Lead removes scatter by photoabsorption and Compton scattering, not by coherent
    scattering (module docstring)."""
    c = MM_PER_CM / n
    h = r * (c - d)
    mu_pb = materials.mu_per_mm("Pb", e) - _lead_coherent_per_mm(tuple(e.tolist()))
    phi, phi_w = _azimuth_nodes(_N_PHI, _PHI_POWER)
    w = np.cos(theta)[None, :, None]
    u = np.maximum(np.sin(theta)[None, :, None] * np.cos(phi)[None, None, :], 1e-9)
    dmu = (mu_pb - mu_i)[:, None, None]
    avg = _strip_average(h * u / w, u / dmu, c, d)
    t = avg * np.exp(-(mu_i[:, None, None] * h + mu_c[:, None, None] * cover_mm) / w)
    return t @ phi_w


def _weights_for(spectrum: Any, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    fluence = np.asarray(getattr(spectrum, "fluence", spectrum), dtype=float)
    if weights is None:
        if hasattr(spectrum, "kerma_weights_uGy_mm2"):
            w = np.asarray(spectrum.kerma_weights_uGy_mm2(), dtype=float)
        else:
            raise ValueError("weights must be given when spectrum is a plain fluence array")
    else:
        w = np.asarray(weights, dtype=float)
    return fluence, w


def grid_figures(
    gt: GridTransmission,
    spectrum: Any,
    spr: float,
    weights: Any = None,
    scatter_spectrum: Any = None,
) -> dict[str, float]:
    """Spectrum-weighted grid figures of merit (JIS Z 4910 / IEC 60627 definitions).

    Parameters
    ----------
    gt : GridTransmission
        From :func:`grid_transmission` on the spectrum's energy grid.
    spectrum : sim.spectrum.Spectrum or array_like
        Primary photon spectrum reaching the grid (ideally behind the patient); a plain
        fluence array needs ``weights``.
    spr : float
        Scatter-to-primary ratio in front of the grid (>= 0) [-].
    weights : array_like, optional
        Detector energy response per photon; default the air kerma per photon,
        E mu_en/rho(air) (the grid figures of IEC 60627 are measured with a dosimeter).
    scatter_spectrum : array_like, optional
        Photon spectrum of the scatter on the same energy grid (``sim.scatter.
        scatter_spectrum``); default: the primary spectrum's shape, which overstates ``ts``
        a little because real scatter is 10-20 % lower in mean energy.

    Returns
    -------
    dict
        ``tp``, ``ts``, ``tt`` (total transmission), ``bucky_factor`` = 1/tt,
        ``contrast_improvement`` = tp/tt, ``selectivity`` = tp/ts, ``image_improvement``
        = tp^2/tt, ``snr_improvement`` = tp/sqrt(tt) (quantum-limited), ``spr_after`` =
        spr ts/tp. All ones (and spr_after = spr) when the grid is out.

    References
    ----------
    JIS Z 4910 and IEC 60627:2013 (Tp, Ts, Tt, B, K, Sigma, Q), quoted in docs/references.md
    [Tab-ScatterGrid];
    Bushberg et al. (2012), ch. 7 (Bucky factor, contrast improvement factor).
    """
    s = _check_spr(spr)
    fluence, w = _weights_for(spectrum, weights)
    if fluence.shape != gt.energy_keV.shape or w.shape != gt.energy_keV.shape:
        raise ValueError(
            f"spectrum and weights must have the grid's energy shape {gt.energy_keV.shape},"
            f" got {fluence.shape} and {w.shape}"
        )
    fw = fluence * w
    total = float(fw.sum())
    if not math.isfinite(total) or total <= 0.0:
        raise ValueError("spectrum x weights sums to zero: grid figures are undefined")
    tp = float(fw @ gt.tp_E) / total
    fws = fw
    if scatter_spectrum is not None:
        sf = np.asarray(scatter_spectrum, dtype=float)
        if sf.shape != gt.energy_keV.shape or not np.all(np.isfinite(sf)) or np.any(sf < 0):
            raise ValueError(
                f"scatter_spectrum must be finite, >= 0 and of shape {gt.energy_keV.shape}"
            )
        fws = sf * w
    total_s = float(fws.sum())
    if total_s <= 0.0:
        raise ValueError("scatter_spectrum x weights sums to zero: ts is undefined")
    ts = float(fws @ gt.ts_E) / total_s
    tt = (tp + s * ts) / (1.0 + s)
    return {
        "tp": tp,
        "ts": ts,
        "tt": tt,
        "bucky_factor": 1.0 / tt,
        "contrast_improvement": tp / tt,
        "selectivity": tp / ts,
        "image_improvement": tp * tp / tt,
        "snr_improvement": tp / math.sqrt(tt),
        "spr_after": s * ts / tp,
    }


__all__ = [
    "COVERS_MM",
    "FIBRE_DENSITY_G_CM3",
    "INTERSPACES",
    "SCATTER_THETA_EDGES_DEG",
    "SCATTER_THETA_PDF",
    "GridTransmission",
    "grid_figures",
    "grid_transmission",
]
