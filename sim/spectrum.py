"""Tungsten-anode x-ray tube spectra, filtration and beam-quality figures.

Model
-----
An interpolating (TASMICS-style) model built on SpekPy. ``tools/make_spectrum_table.py`` stores
the unfiltered spectra of a semi-infinite tungsten reflection target computed with SpekPy 2.5.4
(default physics ``casim``, PENELOPE attenuation data, no filtration other than the anode
self-filtration, no air) for every integer kVp from 40 to 150 kV and anode angles 6, 8, ... 22
deg, on the fixed grid :data:`ENERGY_EDGES_KEV` (0.5 keV bins, the same bins as SpekPy), in
photons / (mm^2 mAs) per bin at 100 cm. Bremsstrahlung and characteristic (W L and K lines)
fluences are stored separately. At run time:

* anode angle: log-linear interpolation between the two nearest angle nodes in the variable
  1/sin(angle) (the self-filtration path length through the anode scales as 1/sin(angle));
* kVp, bremsstrahlung: linear interpolation between the two integer-kVp nodes of the cumulative
  fluence taken at the reduced energy E/kVp (the bremsstrahlung shape scales with E/kVp, Kramers
  1923), so the end point moves continuously with kVp and bins above kVp are exactly zero;
* kVp, characteristic lines: linear at fixed energy, except that the W K lines switch on at the
  K binding energy 69.525 keV (X-ray Data Booklet), with an intensity rising linearly from it.

The table nodes reproduce SpekPy exactly (to float32); between nodes the interpolation error in
HVL, mean energy and air kerma is well below 1 % (checked in tests/test_spectrum.py).
Filtration multiplies by exp(-mu t) with the attenuation of :mod:`sim.materials` (xraylib);
air kerma uses the NIST mass energy-absorption coefficient of dry air.

Limits: the SpekPy model (semi-infinite target, central axis, no heel-effect off-axis, no tube
ripple: constant potential), no focal-track ageing (anode roughness), no off-focal radiation.

References
----------
.. [1] G. Poludniowski, A. Omar, R. Bujila, P. Andreo, "SpekPy v2.0 - a software toolkit for
   modeling x-ray tube spectra", Med. Phys. 48:3630-3637 (2021). MIT licence.
.. [2] A. Omar, P. Andreo, G. Poludniowski, "A model for the energy and angular distribution of
   x rays emitted from an x-ray tube. Part I/II", Med. Phys. 47:4763 and 4005 (2020); and
   "Performance of different theories for the angular distribution of bremsstrahlung produced
   by keV electrons incident upon a target", Radiat. Phys. Chem. 148:73 (2018).
.. [3] J. M. Hernandez, J. M. Boone, "Tungsten anode spectral model using interpolating
   cubic splines: unfiltered x-ray spectra from 20 kV to 640 kV" (TASMICS), Med. Phys.
   41:042101 (2014).
.. [4] H. A. Kramers, "On the theory of x-ray absorption and of the continuous x-ray
   spectrum", Phil. Mag. 46:836 (1923).
.. [5] J. H. Hubbell, S. M. Seltzer, "Tables of X-Ray Mass Attenuation Coefficients and Mass
   Energy-Absorption Coefficients", NIST Standard Reference Database 126 (2004).
.. [6] A. C. Thompson et al., X-Ray Data Booklet, LBNL (2009): W K binding energy 69 525 eV.
.. [7] IEC 61267:2005, Medical diagnostic X-ray equipment - Radiation conditions for use in
   the determination of characteristics (RQR and RQA qualities).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np
from scipy.optimize import brentq

from sim.units import G_PER_KG, J_PER_KEV, MM2_PER_CM2, UGY_PER_GY
from sim.validate import check_number, short_repr, show

__all__ = [
    "ANGLE_RANGE_DEG",
    "BIN_WIDTH_KEV",
    "ENERGY_EDGES_KEV",
    "ENERGY_KEV",
    "IEC_QUALITIES",
    "KVP_RANGE",
    "Spectrum",
    "iec_beam",
    "kerma_weights_uGy_mm2",
    "rqr_filtration_mm_al",
    "tube_spectrum",
]

ENERGY_EDGES_KEV = np.arange(1.0, 150.0 + 0.25, 0.5)
"""Edges of the energy bins shared by every module [keV]."""
ENERGY_EDGES_KEV.flags.writeable = False
ENERGY_KEV = 0.5 * (ENERGY_EDGES_KEV[:-1] + ENERGY_EDGES_KEV[1:])
"""Bin centres, 1.25 ... 149.75 keV (298 bins of 0.5 keV) [keV]."""
ENERGY_KEV.flags.writeable = False
BIN_WIDTH_KEV = 0.5
"""Width of the energy bins [keV]."""

KVP_RANGE = (40.0, 150.0)
"""Valid tube potentials [kV]."""
ANGLE_RANGE_DEG = (6.0, 22.0)
"""Valid anode angles [deg]."""
REFERENCE_DISTANCE_CM = 100.0
"""Distance from the focal spot at which ``Spectrum.fluence`` is given [cm]."""

W_K_EDGE_KEV = 69.525  # W K binding energy, X-ray Data Booklet (Thompson et al. 2009) [keV]
_K_LINE_MIN_KEV = 50.0  # bins above this hold only W K lines in the characteristic table [keV]
_HVL_MATERIAL = "Al"
_TABLE_PARTS = ("spectra", "w_anode_spekpy.npz")  # below assets/, found by materials.asset_path

IEC_QUALITIES: dict[str, tuple[float, float, float]] = {
    "RQR2": (40.0, 1.42, 0.0),
    "RQR3": (50.0, 1.78, 0.0),
    "RQR4": (60.0, 2.19, 0.0),
    "RQR5": (70.0, 2.58, 0.0),
    "RQR6": (80.0, 3.01, 0.0),
    "RQR7": (90.0, 3.48, 0.0),
    "RQR8": (100.0, 3.97, 0.0),
    "RQR9": (120.0, 5.00, 0.0),
    "RQR10": (150.0, 6.57, 0.0),
    "RQA2": (40.0, 1.42, 4.0),
    "RQA3": (50.0, 1.78, 10.0),
    "RQA4": (60.0, 2.19, 16.0),
    "RQA5": (70.0, 2.58, 21.0),
    "RQA6": (80.0, 3.01, 26.0),
    "RQA7": (90.0, 3.48, 30.0),
    "RQA8": (100.0, 3.97, 34.0),
    "RQA9": (120.0, 5.00, 40.0),
    "RQA10": (150.0, 6.57, 45.0),
}
"""IEC 61267:2005 qualities: name -> (kVp [kV], RQR HVL1 [mm Al], added Al of RQA [mm]).

RQR HVLs as commonly quoted (docs/references.md [Tab-BeamQuality], status [R], consistent with
the [S] 0.1 mm values); RQA added Al from the public SpekPy beam definitions quoted there
(docs/references.md [SpekPyRQA], status [S-indirect]).
"""


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _check_thickness(material: str, mm: float) -> float:
    """Return a filter thickness as float or raise ValueError (finite, >= 0)."""
    what = f"thickness of {short_repr(material)}={show(mm)}"
    if isinstance(mm, (bool, str, bytes, bytearray)):  # float("2") would accept text
        raise ValueError(f"{what} is not a number [mm]")
    try:
        t = float(mm)
    except OverflowError:  # an integer beyond the float range
        t = math.inf
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not a number [mm]") from None
    if not math.isfinite(t) or t < 0.0:
        raise ValueError(f"{what} is out of range: must be finite and >= 0 mm")
    return t


# --------------------------------------------------------------------------------------------
# material data on the fixed grid (cached once per material)
# --------------------------------------------------------------------------------------------
def _materials():
    """The sim.materials module (imported lazily to keep import order free)."""
    from sim import materials

    return materials


@cache
def _mu_per_mm_grid(material: str) -> np.ndarray:
    """Linear attenuation coefficient of ``material`` at the bin centres [1/mm]."""
    mu = np.asarray(_materials().mu_per_mm(material, ENERGY_KEV), dtype=np.float64).copy()
    mu.flags.writeable = False
    return mu


@lru_cache(maxsize=1)
def _kerma_weights() -> np.ndarray:
    """Air kerma per unit fluence per bin, E * mu_en/rho(air) [uGy mm^2].

    Fluence [1/mm^2] * MM2_PER_CM2 -> [1/cm^2]; E [keV] * J_PER_KEV -> [J];
    mu_en/rho [cm^2/g] * G_PER_KG -> [cm^2/kg]; Gy -> uGy.
    """
    mu_en = np.asarray(_materials().mu_en_rho("air", ENERGY_KEV), dtype=np.float64)
    w = ENERGY_KEV * J_PER_KEV * mu_en * G_PER_KG * MM2_PER_CM2 * UGY_PER_GY
    w.flags.writeable = False
    return w


def kerma_weights_uGy_mm2() -> np.ndarray:
    """Air kerma per unit photon fluence in each bin of :data:`ENERGY_KEV` [uGy mm^2].

    Same array as ``Spectrum.kerma_weights_uGy_mm2()``, without needing a spectrum
    (read-only; E * mu_en/rho(air) with unit conversions from ``sim.units``).

    References
    ----------
    Attix, Introduction to Radiological Physics and Radiation Dosimetry (1986), eq. 2.13;
    mu_en/rho of dry air from NIST SRD 126 (Hubbell & Seltzer 2004).
    """
    return _kerma_weights()


# --------------------------------------------------------------------------------------------
# the SpekPy table and its interpolation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Table:
    kvp_nodes: np.ndarray  # [kV], integers 40..150
    inv_sin_nodes: np.ndarray  # 1/sin(angle) at the angle nodes, decreasing
    angle_nodes_deg: np.ndarray  # [deg]
    brem: np.ndarray  # (n_kvp, n_angle, n_e) photons/(mm^2 mAs) per bin at 100 cm
    char: np.ndarray  # same shape
    log_brem: np.ndarray  # log of brem, -inf where 0
    log_char: np.ndarray


@lru_cache(maxsize=1)
def _table() -> _Table:
    """Load ``assets/spectra/w_anode_spekpy.npz`` once."""
    table_path = _materials().asset_path(*_TABLE_PARTS)
    if not table_path.exists():
        raise FileNotFoundError(
            f"{table_path} is missing: run `python tools/make_spectrum_table.py` to create it"
        )
    with np.load(table_path) as z:
        edges = z["edges_keV"]
        if edges.shape != ENERGY_EDGES_KEV.shape or not np.allclose(edges, ENERGY_EDGES_KEV):
            raise ValueError(f"{table_path}: energy grid differs from ENERGY_EDGES_KEV")
        kvp_nodes = z["kvp_nodes"].astype(np.float64)
        angles = z["angle_nodes_deg"].astype(np.float64)
        brem = z["brem"].astype(np.float64)
        char = z["char"].astype(np.float64)
    with np.errstate(divide="ignore"):
        log_brem = np.log(brem)
        log_char = np.log(char)
    return _Table(
        kvp_nodes=kvp_nodes,
        inv_sin_nodes=1.0 / np.sin(np.radians(angles)),
        angle_nodes_deg=angles,
        brem=brem,
        char=char,
        log_brem=log_brem,
        log_char=log_char,
    )


def _angle_interp(lin: np.ndarray, log: np.ndarray, j: int, a: float) -> np.ndarray:
    """Log-linear blend of angle nodes j and j+1 with weight ``a`` on j+1 (rows = kVp nodes)."""
    if a == 0.0:
        return lin[:, j]
    y0, y1 = lin[:, j], lin[:, j + 1]
    both = (y0 > 0.0) & (y1 > 0.0)
    with np.errstate(invalid="ignore"):
        geo = np.exp((1.0 - a) * log[:, j] + a * log[:, j + 1])
    return np.where(both, geo, (1.0 - a) * y0 + a * y1)


@lru_cache(maxsize=4096)
def _unfiltered(kvp: float, anode_angle_deg: float) -> np.ndarray:
    """Unfiltered fluence per bin at 100 cm [photons / (mm^2 mAs)] (read-only)."""
    t = _table()
    # angle: nodes j, j+1 and weight a in the variable 1/sin(angle)
    n_ang = t.angle_nodes_deg.size
    j = int(
        np.clip(np.searchsorted(t.angle_nodes_deg, anode_angle_deg, side="right") - 1, 0, n_ang - 2)
    )
    u = 1.0 / math.sin(math.radians(anode_angle_deg))
    a = (u - t.inv_sin_nodes[j]) / (t.inv_sin_nodes[j + 1] - t.inv_sin_nodes[j])
    a = min(max(a, 0.0), 1.0)
    # kVp: nodes i, i+1 and weight w on i+1
    k_lo = t.kvp_nodes[0]
    i = min(int(math.floor(kvp - k_lo)), t.kvp_nodes.size - 2)
    w = (kvp - t.kvp_nodes[i]) / (t.kvp_nodes[i + 1] - t.kvp_nodes[i])
    rows = slice(i, i + 2)
    brem = _angle_interp(t.brem[rows], t.log_brem[rows], j, a)  # (2, n_e)
    char = _angle_interp(t.char[rows], t.log_char[rows], j, a)
    k0, k1 = t.kvp_nodes[i], t.kvp_nodes[i + 1]
    if w == 0.0:
        out = brem[0] + char[0]
    elif w == 1.0:
        out = brem[1] + char[1]
    else:
        # bremsstrahlung: interpolate the cumulative fluence at the reduced energy E/kVp
        cum = np.zeros((2, ENERGY_EDGES_KEV.size))
        np.cumsum(brem, axis=1, out=cum[:, 1:])
        c0 = np.interp(ENERGY_EDGES_KEV * (k0 / kvp), ENERGY_EDGES_KEV, cum[0])
        c1 = np.interp(ENERGY_EDGES_KEV * (k1 / kvp), ENERGY_EDGES_KEV, cum[1])
        out = np.diff((1.0 - w) * c0 + w * c1)
        # characteristic lines at fixed energy
        ch = (1.0 - w) * char[0] + w * char[1]
        if k0 < W_K_EDGE_KEV < k1:
            # guess: K-line yield linear in (kVp - E_K) between the edge and the 70 kV node
            # (SpekPy's 70 kV lines are ~1 % of their bins, so the shape hardly matters)
            k_bins = ENERGY_KEV > _K_LINE_MIN_KEV
            ch[k_bins] = char[1, k_bins] * max(kvp - W_K_EDGE_KEV, 0.0) / (k1 - W_K_EDGE_KEV)
        out = out + ch
    out = np.clip(out, 0.0, None)
    out[ENERGY_EDGES_KEV[:-1] >= kvp] = 0.0
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------------------------
# Spectrum
# --------------------------------------------------------------------------------------------
def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Spectrum:
    """A photon spectrum on the fixed grid :data:`ENERGY_KEV`.

    Attributes
    ----------
    energy_keV : ndarray
        Bin centres [keV].
    fluence : ndarray
        Photons per bin per mm^2 per mAs at 100 cm from the focal spot [1/(mm^2 mAs)].
    kvp : float
        Tube potential [kV].
    anode_angle_deg : float
        Anode angle [deg].
    filtration : tuple of (str, float)
        Filters applied so far, (material, thickness [mm]) in order.
    """

    energy_keV: np.ndarray
    fluence: np.ndarray
    kvp: float
    anode_angle_deg: float
    filtration: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self) -> None:
        e = np.asarray(self.energy_keV)
        f = np.asarray(self.fluence)
        if e.shape != ENERGY_KEV.shape or f.shape != ENERGY_KEV.shape:
            raise ValueError(
                f"energy_keV and fluence must have shape {ENERGY_KEV.shape} (the fixed grid), "
                f"got {e.shape} and {f.shape}"
            )
        if not np.all(np.isfinite(f)) or np.any(f < 0.0):
            raise ValueError("fluence must be finite and >= 0 in every bin")
        if e.flags.writeable or e.dtype != np.float64:
            object.__setattr__(self, "energy_keV", _frozen(e))
        if f.flags.writeable or f.dtype != np.float64:
            object.__setattr__(self, "fluence", _frozen(f))

    # ---- derived spectra -------------------------------------------------------------------
    def filtered(self, filters: Mapping[str, float]) -> Spectrum:
        """Spectrum after the given filters, exp(-mu t) for each.

        Parameters
        ----------
        filters : mapping of str to float
            Material name (see ``sim.materials.known_materials``) to thickness [mm].

        Returns
        -------
        Spectrum
            The filtered spectrum; ``filtration`` lists all filters applied.

        References
        ----------
        Beer-Lambert attenuation with mu/rho from xraylib / NIST XCOM via ``sim.materials``
        (Hubbell & Seltzer, NIST SRD 126).
        """
        if not isinstance(filters, Mapping):
            raise ValueError(f"filters={filters!r} must be a mapping material -> thickness [mm]")
        mats = _materials()
        mu_t = np.zeros_like(ENERGY_KEV)
        added = []
        for name, mm in filters.items():
            name = mats.check_material(name) or name
            t = _check_thickness(name, mm)
            if t == 0.0:
                continue
            mu_t = mu_t + _mu_per_mm_grid(name) * t
            added.append((name, t))
        if not added:
            return self
        return Spectrum(
            energy_keV=self.energy_keV,
            fluence=self.fluence * np.exp(-mu_t),
            kvp=self.kvp,
            anode_angle_deg=self.anode_angle_deg,
            filtration=self.filtration + tuple(added),
        )

    def scaled(self, factor: float) -> Spectrum:
        """Spectrum with the fluence multiplied by ``factor`` (>= 0, finite) [-]."""
        f = float(factor)
        if not math.isfinite(f) or f < 0.0:
            raise ValueError(f"factor={factor!r} is out of range: must be finite and >= 0")
        return Spectrum(
            energy_keV=self.energy_keV,
            fluence=self.fluence * f,
            kvp=self.kvp,
            anode_angle_deg=self.anode_angle_deg,
            filtration=self.filtration,
        )

    # ---- scalar figures -------------------------------------------------------------------
    def total_fluence(self) -> float:
        """Photon fluence summed over energy at 100 cm per mAs [1/(mm^2 mAs)]."""
        return float(self.fluence.sum())

    def kerma_weights_uGy_mm2(self) -> np.ndarray:
        """Air kerma per unit photon fluence in each bin, E mu_en/rho(air) [uGy mm^2].

        References
        ----------
        Attix, Introduction to Radiological Physics and Radiation Dosimetry (1986), eq. 2.13;
        mu_en/rho of dry air from NIST SRD 126 (Hubbell & Seltzer 2004).
        """
        return _kerma_weights()

    def air_kerma_uGy_per_mAs(self, distance_cm: float = REFERENCE_DISTANCE_CM) -> float:
        """Air kerma free in air per mAs at ``distance_cm`` from the focal spot [uGy/mAs].

        Inverse-square scaling from 100 cm; no air attenuation.

        References
        ----------
        K = sum_E Phi(E) E mu_en/rho(air) (Attix 1986); NIST SRD 126 mu_en/rho of air.
        """
        d = check_number("distance_cm", distance_cm, 1e-3, 1e6, "cm")  # sanity bounds only
        k100 = float(self.fluence @ _kerma_weights())
        return k100 * (REFERENCE_DISTANCE_CM / d) ** 2

    def fluence_per_uGy(self) -> float:
        """Photon fluence per air kerma at the same point (SNR^2_in per uGy) [1/(mm^2 uGy)].

        References
        ----------
        IEC 62220-1-1:2015, Table 3 (photon fluence per air kerma of the RQA qualities).
        """
        k = float(self.fluence @ _kerma_weights())
        if k <= 0.0:
            raise ValueError("spectrum has zero air kerma: fluence_per_uGy is undefined")
        return float(self.fluence.sum()) / k

    def mean_energy_keV(self) -> float:
        """Fluence-weighted mean photon energy [keV] (as SpekPy ``get_emean``).

        References
        ----------
        Poludniowski et al., Med. Phys. 48:3630 (2021) (definition used by SpekPy).
        """
        n = float(self.fluence.sum())
        if n <= 0.0:
            raise ValueError("spectrum has zero fluence: mean energy is undefined")
        return float(self.fluence @ ENERGY_KEV) / n

    def _al_thickness_for(self, fractions: tuple[float, ...]) -> tuple[float, ...]:
        """Al thicknesses [mm] at which the air kerma falls to each of ``fractions``.

        Newton iteration on log K(t), which is convex and decreasing in t, started on the
        left of the root (t = 0): convergence is monotone, without overshoot.
        """
        wk = self.fluence * _kerma_weights()
        k0 = float(wk.sum())
        if k0 <= 0.0:
            raise ValueError("spectrum has zero air kerma: HVL is undefined")
        mu = _mu_per_mm_grid(_HVL_MATERIAL)
        out = []
        t = 0.0
        for frac in fractions:
            target = math.log(frac)
            for _ in range(60):
                x = wk * np.exp(-mu * t)
                s = float(x.sum())
                f = math.log(s / k0) - target  # > 0 left of the root
                slope = float(x @ mu) / s  # = -d(log K)/dt > 0
                step = f / slope
                t += step
                if step < 1e-9 * (1.0 + t):
                    break
            out.append(t)
        return tuple(out)

    def hvl_mm_al(self) -> float:
        """First half-value layer in aluminium (air-kerma based) [mm Al].

        References
        ----------
        IEC 60601-1-3:2008, 3.29 (half-value layer); ICRU Report 74 (2005).
        """
        return self._al_thickness_for((0.5,))[0]

    def hvl2_mm_al(self) -> float:
        """Second half-value layer (kerma from 1/2 to 1/4) in aluminium [mm Al].

        References
        ----------
        ICRU Report 74 (2005); IEC 61267:2005 (homogeneity coefficient).
        """
        t1, t2 = self._al_thickness_for((0.5, 0.25))
        return t2 - t1

    def homogeneity(self) -> float:
        """Homogeneity coefficient HVL1 / HVL2 [-].

        References
        ----------
        IEC 61267:2005, definition of the homogeneity coefficient h.
        """
        t1, t2 = self._al_thickness_for((0.5, 0.25))
        return t1 / (t2 - t1)


# --------------------------------------------------------------------------------------------
# public constructors
# --------------------------------------------------------------------------------------------
def tube_spectrum(kvp: float = 80.0, anode_angle_deg: float = 12.0) -> Spectrum:
    """Unfiltered tungsten-anode spectrum per mAs at 100 cm (anode self-filtration only).

    Parameters
    ----------
    kvp : float
        Tube potential, constant potential [kV], in [40, 150].
    anode_angle_deg : float
        Anode (target) angle [deg], in [6, 22].

    Returns
    -------
    Spectrum
        Bremsstrahlung + W L and K lines, photons / (mm^2 mAs) per 0.5 keV bin at 100 cm.

    References
    ----------
    Interpolation of SpekPy 2.5.4 spectra (Poludniowski et al., Med. Phys. 48:3630, 2021;
    Omar et al., Med. Phys. 47:4763, 2020), TASMICS-style (Hernandez & Boone, Med. Phys.
    41:042101, 2014); see the module docstring.
    """
    k = check_number("kvp", kvp, *KVP_RANGE, "kV")
    a = check_number("anode_angle_deg", anode_angle_deg, *ANGLE_RANGE_DEG, "deg")
    return Spectrum(
        energy_keV=ENERGY_KEV,
        fluence=_unfiltered(k, a),
        kvp=k,
        anode_angle_deg=a,
        filtration=(),
    )


@lru_cache(maxsize=64)
def beam(kvp: float, anode_angle_deg: float, al_mm: float, cu_mm: float) -> tuple:
    """The tube spectrum and the beam after the added filtration, per mAs at 100 cm.

    The one place the beam is built: the chain, automatic brightness control, the scatter
    model and the app all call it (cached on its four knobs).

    Parameters
    ----------
    kvp : float
        Tube potential [kV].
    anode_angle_deg : float
        Anode angle [deg].
    al_mm, cu_mm : float
        Added aluminium and copper filtration [mm].

    Returns
    -------
    tuple of Spectrum
        ``(tube, filtered)``.
    """
    tube = tube_spectrum(kvp=kvp, anode_angle_deg=anode_angle_deg)
    return tube, tube.filtered({"Al": al_mm, "Cu": cu_mm})


def rqr_filtration_mm_al(kvp: float, hvl_mm_al: float, anode_angle_deg: float = 12.0) -> float:
    """Total Al filtration giving the requested first HVL (IEC 61267 RQR beam) [mm Al].

    Parameters
    ----------
    kvp : float
        Tube potential [kV], in [40, 150].
    hvl_mm_al : float
        Target first half-value layer [mm Al].
    anode_angle_deg : float
        Anode angle [deg], in [6, 22].

    Returns
    -------
    float
        Aluminium thickness (total filtration, in addition to the anode) [mm].

    References
    ----------
    IEC 61267:2005, clause 6: RQR qualities obtained by adjusting the filtration until the
    first HVL equals the nominal value.
    """
    spec = tube_spectrum(kvp, anode_angle_deg)
    h = check_number("hvl_mm_al", hvl_mm_al, 1e-6, 1e3, "mm Al")
    h_min = spec.hvl_mm_al()
    t_max = 100.0
    h_max = spec.filtered({_HVL_MATERIAL: t_max}).hvl_mm_al()
    if not h_min <= h <= h_max:
        raise ValueError(
            f"hvl_mm_al={hvl_mm_al!r} is out of range [{h_min:.3g}, {h_max:.3g}] mm Al "
            f"reachable with 0-{t_max:g} mm Al at kvp={_fmt(kvp)} kV"
        )

    def f(t: float) -> float:
        return spec.filtered({_HVL_MATERIAL: t}).hvl_mm_al() - h

    return float(brentq(f, 0.0, t_max, xtol=1e-6, rtol=1e-10))


def _fmt(x: float) -> str:
    """Format a number compactly for messages."""
    return f"{float(x):g}"


@lru_cache(maxsize=64)
def iec_beam(quality: str, anode_angle_deg: float = 12.0) -> Spectrum:
    """IEC 61267 RQR or RQA beam: RQR Al fitted to the nominal HVL, plus the RQA Al.

    Parameters
    ----------
    quality : str
        One of :data:`IEC_QUALITIES` ("RQR2".."RQR10", "RQA2".."RQA10").
    anode_angle_deg : float
        Anode angle [deg].

    Returns
    -------
    Spectrum
        Filtered with Al only.

    References
    ----------
    IEC 61267:2005, Tables 2 and 3 (values as in docs/references.md [Tab-BeamQuality]).
    """
    if quality not in IEC_QUALITIES:
        raise ValueError(f"quality={quality!r} is unknown; valid: {', '.join(IEC_QUALITIES)}")
    kvp, hvl, added = IEC_QUALITIES[quality]
    t_rqr = rqr_filtration_mm_al(kvp, hvl, anode_angle_deg)
    return tube_spectrum(kvp, anode_angle_deg).filtered({_HVL_MATERIAL: t_rqr + added})
