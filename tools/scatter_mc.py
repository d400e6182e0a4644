"""Monte Carlo scatter of water slabs: the data behind sim/scatter.py (and the grid's angles).

A monoenergetic pencil beam (20-150 keV) falls normally on a laterally infinite water slab
(2-40 cm). Each scattered photon leaving the exit face is projected onto receptor planes at
air gaps of 0-100 cm; each photon leaving back through the entrance face is scored as air
kerma at the entrance surface. ``assets/scatter/scatter_mc_water.npz`` holds, per incident
photon and for every (energy, thickness):

* ``total_q`` / ``total_e``: scattered photons (energy, relative to E0) leaving the exit face;
* ``radial_q`` / ``radial_e``: their radial histogram at each air gap (``gaps_cm``,
  ``r_edges_cm``) -> the scatter point-spread function (PSF);
* ``mean_e_keV``: mean energy of that scatter;
* ``angular_q``: polar-angle histograms of the scatter reaching the centre of a field (by
  reciprocity: pencil photons landing within the field radius) for a few (gap, radius) cases;
* ``back_kerma``: radial histogram of backscattered air kerma at the entrance surface
  (fluence weight 1/|cos|, E mu_en/rho(air)), relative to the kerma of the incident photon
  -> backscatter factors, checked against Benmakhlouf et al. (2011) in tests;
* ``primary``: exp(-mu t), the unscattered fraction.

sim/scatter.py reads it at run time (SPR of a pencil and the PSF at the receptor), and
sim/grid.py embeds the angular distribution of one case (20 cm water, 30 x 30 cm field,
5 cm gap).

Run from the repository root (about two minutes on one core)::

    nice -n 10 .venv/bin/python tools/scatter_mc.py

The ``grid`` sub-command (:func:`grid_experiment`) sends a tube spectrum through a water slab
and tracks the scatter reaching the field centre, and the primaries, through a focused linear
grid (lead strips and interspaces crossed as they come: septal penetration, photoelectric
absorption, Compton and Rayleigh scattering in lead and interspace), scoring Tp, Ts and the SPR
in front of and behind the grid. ``assets/scatter/grid_mc.json`` (the configuration of issue 11;
130 s on one core) came from::

    nice -n 10 .venv/bin/python tools/scatter_mc.py grid --photons 20000000

and ``--help`` lists the grid, beam and phantom options. Lead and aluminium densities from NIST
SRD 126; cellulose (C6H10O5) interspace at the density given.

Physics (the method of Boone & Seibert, Med Phys 15:713, 1988, and Chan & Doi, Med Phys
12:152, 1985):

* Cross sections of water (H2O, 1.000 g/cm^3) from xraylib 4.3 (``CS_Photo_CP``,
  ``CS_Compt_CP``, ``CS_Rayl_CP``), which follows NIST XCOM (Berger et al., NIST SRD 8).
* Compton scattering: Klein-Nishina angular distribution times the incoherent scattering
  function S(q) of Hubbell et al. (J Phys Chem Ref Data 4:471, 1975; xraylib ``SF_Compt``),
  energy after scattering from the Compton formula (no Doppler broadening).
* Rayleigh scattering: Thomson distribution times the squared atomic form factor F(q)^2
  (xraylib ``FF_Rayl``), independent-atom approximation for H2O.
* Photoelectric absorption ends the history (the oxygen K fluorescence, 0.5 keV, is local).
* Photons below 5 keV are absorbed locally (mean free path in water < 0.1 mm).
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xraylib

OUT = Path(__file__).resolve().parents[1] / "assets" / "scatter" / "scatter_mc_water.npz"
ENERGIES_KEV = np.array([20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 100.0, 120.0, 150.0])
THICKNESSES_CM = np.array([2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0])
N_PHOTONS = 150_000
E_CUT_KEV = 5.0
ME_C2_KEV = 510.99895  # electron rest energy (CODATA 2018) [keV]
HC_KEV_ANGSTROM = 12.398419843  # h c (CODATA 2018) [keV Angstrom]
WATER = (("H", 1, 2), ("O", 8, 1))  # element, Z, atoms per molecule

# Tables on a fine energy grid, interpolated during transport.
_E_TAB = np.linspace(E_CUT_KEV, 151.0, 1463)
_CS = {
    "photo": np.array([xraylib.CS_Photo_CP("H2O", e) for e in _E_TAB]),
    "compt": np.array([xraylib.CS_Compt_CP("H2O", e) for e in _E_TAB]),
    "rayl": np.array([xraylib.CS_Rayl_CP("H2O", e) for e in _E_TAB]),
}
_MU_TOT = _CS["photo"] + _CS["compt"] + _CS["rayl"]  # [cm^2/g] = [1/cm] at 1 g/cm^3
_Q_TAB = np.concatenate([[0.0], np.geomspace(1e-3, 15.0, 600)])  # [1/Angstrom]
_S_TAB = sum(
    n * np.array([xraylib.SF_Compt(z, q) if q > 0 else 0.0 for q in _Q_TAB]) for _, z, n in WATER
)
_F2_TAB = sum(n * np.array([xraylib.FF_Rayl(z, q) for q in _Q_TAB]) ** 2 for _, z, n in WATER)
_S_MAX = float(sum(n * z for _, z, n in WATER))  # S(q) -> total electrons
_F2_MAX = float(_F2_TAB[0])


def _interp(table: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.interp(e, _E_TAB, table)


def _q(e_kev: np.ndarray, cos_t: np.ndarray) -> np.ndarray:
    """Momentum transfer sin(theta/2)/lambda [1/Angstrom]."""
    return np.sqrt(np.clip((1.0 - cos_t) / 2.0, 0.0, 1.0)) * e_kev / HC_KEV_ANGSTROM


def _sample_compton(
    e: np.ndarray, rng: np.random.Generator, s_tab: np.ndarray = None, s_max: float = None
) -> np.ndarray:
    """Klein-Nishina x S(q) by rejection; ``s_tab``/``s_max`` of a medium (default water)."""
    s_tab = _S_TAB if s_tab is None else s_tab
    s_max = _S_MAX if s_max is None else s_max
    cos_t = np.empty_like(e)
    todo = np.arange(e.size)
    while todo.size:
        mu = rng.uniform(-1.0, 1.0, todo.size)
        k = e[todo] / ME_C2_KEV
        p = 1.0 / (1.0 + k * (1.0 - mu))
        kn = p * p * (p + 1.0 / p - 1.0 + mu * mu) / 2.0
        s = np.interp(_q(e[todo], mu), _Q_TAB, s_tab) / s_max
        ok = rng.uniform(size=todo.size) < kn * s
        cos_t[todo[ok]] = mu[ok]
        todo = todo[~ok]
    return cos_t


def _sample_rayleigh(
    e: np.ndarray, rng: np.random.Generator, f2_tab: np.ndarray = None, f2_max: float = None
) -> np.ndarray:
    """Thomson x F(q)^2 by rejection; ``f2_tab``/``f2_max`` of a medium (default water)."""
    f2_tab = _F2_TAB if f2_tab is None else f2_tab
    f2_max = _F2_MAX if f2_max is None else f2_max
    cos_t = np.empty_like(e)
    todo = np.arange(e.size)
    while todo.size:
        mu = rng.uniform(-1.0, 1.0, todo.size)
        f2 = np.interp(_q(e[todo], mu), _Q_TAB, f2_tab) / f2_max
        ok = rng.uniform(size=todo.size) < (1.0 + mu * mu) / 2.0 * f2
        cos_t[todo[ok]] = mu[ok]
        todo = todo[~ok]
    return cos_t


def _rotate(u, v, w, cos_t, rng):
    """New direction after a deflection by theta (cos_t) and a uniform azimuth."""
    phi = rng.uniform(0.0, 2.0 * np.pi, u.size)
    sin_t = np.sqrt(np.clip(1.0 - cos_t * cos_t, 0.0, 1.0))
    cp, sp = np.cos(phi), np.sin(phi)
    den = np.sqrt(np.clip(1.0 - w * w, 0.0, 1.0))
    near_axis = den < 1e-8
    safe = np.where(near_axis, 1.0, den)
    un = sin_t * (u * w * cp - v * sp) / safe + u * cos_t
    vn = sin_t * (v * w * cp + u * sp) / safe + v * cos_t
    wn = -sin_t * cp * den + w * cos_t
    un = np.where(near_axis, sin_t * cp, un)
    vn = np.where(near_axis, sin_t * sp, vn)
    wn = np.where(near_axis, np.sign(w + 1e-30) * cos_t, wn)
    norm = np.sqrt(un * un + vn * vn + wn * wn)
    return un / norm, vn / norm, wn / norm


def run(
    e0_kev: float | np.ndarray, t_cm: float, n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Transport ``n`` photons; return the scattered photons leaving the exit face, and
    those leaving back through the entrance face (position r and direction cosine w).

    ``e0_kev`` is one energy or one per photon (a sampled spectrum)."""
    x = np.zeros(n)
    y = np.zeros(n)
    z = np.zeros(n)
    u = np.zeros(n)
    v = np.zeros(n)
    w = np.ones(n)
    e = np.broadcast_to(np.asarray(e0_kev, dtype=float), (n,)).copy()
    k = np.zeros(n, dtype=np.int32)  # interactions so far
    out = {key: [] for key in ("x", "y", "u", "v", "w", "e", "k")}
    back = {key: [] for key in ("r", "w", "e")}
    while e.size:
        s = -np.log(rng.uniform(size=e.size)) / _interp(_MU_TOT, e)
        zn = z + w * s
        leave = zn >= t_cm
        if leave.any():
            d = (t_cm - z[leave]) / w[leave]
            for key, val in (
                ("x", x[leave] + u[leave] * d),
                ("y", y[leave] + v[leave] * d),
                ("u", u[leave]),
                ("v", v[leave]),
                ("w", w[leave]),
                ("e", e[leave]),
                ("k", k[leave]),
            ):
                out[key].append(val)
        gone = zn <= 0.0
        if gone.any():
            d = -z[gone] / w[gone]
            back["r"].append(np.hypot(x[gone] + u[gone] * d, y[gone] + v[gone] * d))
            back["w"].append(w[gone])
            back["e"].append(e[gone])
        stay = (~leave) & (~gone)
        x, y, z = x[stay] + u[stay] * s[stay], y[stay] + v[stay] * s[stay], zn[stay]
        u, v, w, e, k = u[stay], v[stay], w[stay], e[stay], k[stay] + 1
        r = rng.uniform(size=e.size) * _interp(_MU_TOT, e)
        photo = r < _interp(_CS["photo"], e)
        compt = (~photo) & (r < _interp(_CS["photo"] + _CS["compt"], e))
        rayl = ~(photo | compt)
        cos_t = np.ones_like(e)
        if compt.any():
            cos_t[compt] = _sample_compton(e[compt], rng)
            e[compt] = e[compt] / (1.0 + e[compt] / ME_C2_KEV * (1.0 - cos_t[compt]))
        if rayl.any():
            cos_t[rayl] = _sample_rayleigh(e[rayl], rng)
        u, v, w = _rotate(u, v, w, cos_t, rng)
        alive = (~photo) & (e >= E_CUT_KEV)
        x, y, z, u, v, w, e, k = (a[alive] for a in (x, y, z, u, v, w, e, k))
    res = {key: np.concatenate(val) if val else np.zeros(0) for key, val in out.items()}
    scattered = res["k"] > 0
    backs = {key: np.concatenate(val) if val else np.zeros(0) for key, val in back.items()}
    return {key: val[scattered] for key, val in res.items()}, backs


GAPS_CM = np.array([0, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100], dtype=float)
R_EDGES_CM = np.concatenate([[0.0], np.geomspace(0.05, 200.0, 72)])
THETA_EDGES_DEG = np.linspace(0.0, 90.0, 46)
# (air gap, radius of the circular field of equal area at the exit surface) [cm]
ANGLE_CASES = (
    (0.0, np.inf),
    (2.0, 16.9),
    (5.0, 16.9),
    (10.0, 16.9),
    (20.0, 16.9),
    (5.0, 5.64),
    (15.0, 14.1),
)


def _mu_en_air(e_kev: np.ndarray) -> np.ndarray:
    """mu_en/rho of dry air [cm^2/g], NIST SRD 126 via sim.materials."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sim import materials

    return materials.mu_en_rho("air", np.clip(e_kev, 1.0, None))


def tally(
    res: dict[str, np.ndarray], backs: dict[str, np.ndarray], e0_kev: float, n: int
) -> dict[str, np.ndarray]:
    """Reduce one run to radial and angular histograms per incident photon."""
    e_rel = res["e"] / e0_kev  # energy weight relative to a primary photon
    tan_x, tan_y = res["u"] / res["w"], res["v"] / res["w"]
    radial_q = np.empty((GAPS_CM.size, R_EDGES_CM.size - 1))
    radial_e = np.empty_like(radial_q)
    for i, g in enumerate(GAPS_CM):
        r = np.hypot(res["x"] + tan_x * g, res["y"] + tan_y * g)
        radial_q[i] = np.histogram(r, R_EDGES_CM)[0] / n
        radial_e[i] = np.histogram(r, R_EDGES_CM, weights=e_rel)[0] / n
    theta = np.degrees(np.arccos(np.clip(res["w"], 0.0, 1.0)))
    angular = np.empty((len(ANGLE_CASES), THETA_EDGES_DEG.size - 1))
    for i, (g, radius) in enumerate(ANGLE_CASES):
        r = np.hypot(res["x"] + tan_x * g, res["y"] + tan_y * g)
        angular[i] = np.histogram(theta[r < radius], THETA_EDGES_DEG)[0] / n
    # Backscatter air kerma at the entrance surface, relative to the kerma of one incident
    # photon per unit area: fluence weight 1/|w| times E mu_en/rho(air) (Attix 1986, eq. 2.13).
    k_rel = backs["e"] * _mu_en_air(backs["e"]) / (e0_kev * _mu_en_air(np.array([e0_kev]))[0])
    back_k = np.histogram(backs["r"], R_EDGES_CM, weights=k_rel / np.abs(backs["w"]))[0] / n
    return {
        "back_kerma": back_k,
        "total_q": np.array(res["e"].size / n),
        "total_e": np.array(e_rel.sum() / n),
        "radial_q": radial_q,
        "radial_e": radial_e,
        "angular_q": angular,
        "mean_e_keV": np.array(res["e"].mean() if res["e"].size else e0_kev),
    }


def main() -> None:
    rng = np.random.default_rng(20240601)
    mu = np.interp(ENERGIES_KEV, _E_TAB, _MU_TOT)
    shape = (ENERGIES_KEV.size, THICKNESSES_CM.size)
    store: dict[str, np.ndarray] = {
        "energies_keV": ENERGIES_KEV,
        "thicknesses_cm": THICKNESSES_CM,
        "gaps_cm": GAPS_CM,
        "r_edges_cm": R_EDGES_CM,
        "theta_edges_deg": THETA_EDGES_DEG,
        "angle_cases_gap_radius_cm": np.array(ANGLE_CASES),
        "n_photons": np.array(N_PHOTONS),
        "mu_water_per_cm": mu,
        # unscattered (primary) photons per incident photon: exp(-mu t), exact
        "primary": np.exp(-mu[:, None] * THICKNESSES_CM[None, :]),
    }
    t0 = time.perf_counter()
    acc: dict[str, list] = {}
    for e0 in ENERGIES_KEV:
        for t in THICKNESSES_CM:
            tal = tally(*run(e0, t, N_PHOTONS, rng), e0, N_PHOTONS)
            for key, val in tal.items():
                acc.setdefault(key, []).append(val)
            print(f"E={e0:g} keV t={t:g} cm: {time.perf_counter() - t0:.0f} s", flush=True)
    for key, val in acc.items():
        arr = np.array(val)
        store[key] = arr.reshape(shape + arr.shape[1:]).astype(np.float32)
    np.savez_compressed(OUT, **store)
    print(f"wrote {OUT}")


# --------------------------------------------------------------------------------------------
# Photons through a focused linear anti-scatter grid (``grid`` sub-command)
# --------------------------------------------------------------------------------------------
GRID_OUT = OUT.with_name("grid_mc.json")
PB_DENSITY_G_CM3 = 11.35  # lead, NIST SRD 126 elements table (xraylib ElementDensity 11.35)
AL_DENSITY_G_CM3 = 2.699  # aluminium, NIST SRD 126 elements table
CELLULOSE = ("C6H10O5", ((6, 6), (1, 10), (8, 5)))  # paper / fibre interspace, as sim/grid.py
ALUMINIUM = ("Al", ((13, 1),))
LEAD = ("Pb", ((82, 1),))


class _Medium:
    """Interaction tables of one grid material, per mm (xraylib 4.3 / NIST XCOM)."""

    def __init__(self, spec: tuple[str, tuple], density_g_cm3: float) -> None:
        formula, atoms = spec
        per_mm = density_g_cm3 / 10.0  # (cm^2/g)(g/cm^3) = 1/cm -> 1/mm
        self.photo = per_mm * np.array([xraylib.CS_Photo_CP(formula, e) for e in _E_TAB])
        self.compt = per_mm * np.array([xraylib.CS_Compt_CP(formula, e) for e in _E_TAB])
        self.rayl = per_mm * np.array([xraylib.CS_Rayl_CP(formula, e) for e in _E_TAB])
        self.total = self.photo + self.compt + self.rayl
        self.s_tab = sum(
            n * np.array([xraylib.SF_Compt(z, q) if q > 0 else 0.0 for q in _Q_TAB])
            for z, n in atoms
        )
        self.s_max = float(sum(n * z for z, n in atoms))
        f2 = sum(n * np.array([xraylib.FF_Rayl(z, q) for q in _Q_TAB]) ** 2 for z, n in atoms)
        self.f2_tab, self.f2_max = f2, float(f2[0])

    def interact(self, e, u, v, w, rng):
        """One interaction: (absorbed, new e, u, v, w) (photoelectric ends the history)."""
        r = rng.uniform(size=e.size) * _interp(self.total, e)
        photo = r < _interp(self.photo, e)
        compt = (~photo) & (r < _interp(self.photo + self.compt, e))
        rayl = ~(photo | compt)
        cos_t = np.ones_like(e)
        e = e.copy()
        if compt.any():
            cos_t[compt] = _sample_compton(e[compt], rng, self.s_tab, self.s_max)
            e[compt] = e[compt] / (1.0 + e[compt] / ME_C2_KEV * (1.0 - cos_t[compt]))
        if rayl.any():
            cos_t[rayl] = _sample_rayleigh(e[rayl], rng, self.f2_tab, self.f2_max)
        u, v, w = _rotate(u, v, w, cos_t, rng)
        return photo | (e < E_CUT_KEV), e, u, v, w


@dataclass(frozen=True)
class GridGeometry:
    """A focused linear grid at the field centre (strips normal to x, along y) [mm]."""

    lines_per_cm: float
    strip_mm: float
    ratio: float
    interspace: str = "fibre"
    interspace_density_g_cm3: float = 0.5

    @property
    def period_mm(self) -> float:
        return 10.0 / self.lines_per_cm

    @property
    def height_mm(self) -> float:
        return self.ratio * (self.period_mm - self.strip_mm)


@functools.lru_cache(maxsize=8)
def _media(interspace: str, density: float) -> tuple[_Medium, _Medium]:
    spec = CELLULOSE if interspace == "fibre" else ALUMINIUM
    return _Medium(LEAD, PB_DENSITY_G_CM3), _Medium(spec, density)


def through_grid(
    e: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    g: GridGeometry,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Track photons entering the grid's top face (w > 0) to the end of their histories.

    Each photon enters at a uniformly random position within one strip period (the strips sit
    at x in [k C, k C + d)). It crosses lead and interspace as they come (exact boundaries, so
    septal penetration is attenuation through the lead actually met), interacts by the
    photoelectric effect (history ends), Compton or Rayleigh scattering in either material,
    and leaves through the bottom (scored), or the top (lost). The strips are taken parallel
    to the z axis: at the field centre of a focused grid they are (their tilt across the
    centimetre or so that a photon's history spans is below 1 cm / 100 cm focus = 0.6 deg).
    No cover plates. Lead fluorescence is not produced: below the Pb K edge (88.0 keV) the
    only fluorescence is L (10.5-14.8 keV), absorbed within microns of lead and neglected.

    Returns
    -------
    out_e, hits : ndarray
        Energy on leaving through the bottom (0 if absorbed or back out of the top) [keV] and
        the number of interactions in the grid, per photon.
    """
    lead, inter = _media(g.interspace, g.interspace_density_g_cm3)
    c, d, h = g.period_mm, g.strip_mm, g.height_mm
    n = e.size
    idx = np.arange(n)
    x = rng.uniform(0.0, c, n)
    z = np.zeros(n)
    u, v, w, e = (np.array(a, dtype=float) for a in (u, v, w, e))
    hits = np.zeros(n, dtype=np.int32)
    out_e = np.zeros(n)
    out_hits = np.zeros(n, dtype=np.int32)
    while idx.size:
        probe = x + 1e-9 * np.sign(u)  # which side of an edge the photon is moving into
        k = np.floor(probe / c)
        in_lead = probe - k * c < d
        lo = k * c + np.where(in_lead, 0.0, d)
        hi = k * c + np.where(in_lead, d, c)
        with np.errstate(divide="ignore", invalid="ignore"):
            sx = np.where(u > 0, (hi - x) / u, np.where(u < 0, (lo - x) / u, np.inf))
            sz = np.where(w > 0, (h - z) / w, np.where(w < 0, -z / w, np.inf))
        sx = np.maximum(sx, 0.0)
        mu = np.where(in_lead, _interp(lead.total, e), _interp(inter.total, e))
        t = -np.log(rng.uniform(size=e.size)) / mu
        step = np.minimum(sx, sz)
        hit = t < step
        leave = (~hit) & (sz <= sx)
        bottom = leave & (w > 0)
        out_e[idx[bottom]] = e[bottom]
        out_hits[idx[bottom]] = hits[bottom]
        cross = (~hit) & (~leave)
        x = np.where(cross, np.where(u > 0, hi, lo), x + u * np.where(hit, t, 0.0))
        z = z + w * np.where(hit, t, np.where(cross, sx, 0.0))
        dead = leave.copy()
        for medium, sel in ((lead, hit & in_lead), (inter, hit & ~in_lead)):
            if sel.any():
                gone, e[sel], u[sel], v[sel], w[sel] = medium.interact(
                    e[sel], u[sel], v[sel], w[sel], rng
                )
                dead[sel] = gone
                hits[sel] += 1
        keep = ~dead
        idx, x, z, u, v, w, e, hits = (a[keep] for a in (idx, x, z, u, v, w, e, hits))
    return out_e, out_hits


def _kerma_per_photon(e_kev: np.ndarray) -> np.ndarray:
    """Air kerma per photon per unit area, E mu_en/rho(air) (NIST SRD 126), 0 for e = 0."""
    k = np.asarray(e_kev, dtype=float) * _mu_en_air(np.maximum(e_kev, 1.0))
    return np.where(np.asarray(e_kev) > 0, k, 0.0)


def _ratio_and_se(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """sum(num)/sum(den) and its standard error (delta method over independent photons)."""
    r = float(num.sum() / den.sum())
    return r, float(np.sqrt(np.sum((num - r * den) ** 2)) / den.sum())


def grid_experiment(
    *,
    kvp: float = 80.0,
    al_mm: float = 2.5,
    water_cm: float = 20.0,
    field_cm: float = 30.0,
    gap_cm: float = 2.0,
    lines_per_cm: float = 40.0,
    strip_um: float = 36.0,
    ratios: tuple[float, ...] = (8.0, 10.0, 12.0, 15.0),
    interspace: str = "fibre",
    interspace_density: float = 0.5,
    n_photons: int = 1_000_000,
    n_primary: int = 400_000,
    splits: int = 4,
    seed: int = 20261205,
    batch: int = 250_000,
    keep_photons: bool = False,
) -> dict:
    """Tp, Ts and SPR behind a grid at the centre of a square field behind a water slab.

    A parallel beam of the tube spectrum (``sim.spectrum``, ``kvp`` through ``al_mm`` Al) falls
    on ``water_cm`` of water. By reciprocity (as for ``angular_q`` above), the scatter reaching
    the centre of a uniform ``field_cm`` x ``field_cm`` field is that of a pencil beam landing
    within the field at the grid, ``gap_cm`` behind the exit face. Each such scattered photon
    is tracked ``splits`` times (independent entry positions) through grids of every ratio
    (:func:`through_grid`); primaries, sampled from the spectrum behind the slab, enter at
    normal incidence. Scores are per photon crossing the plane, weighted by the air kerma per
    photon (the weight of the chain's grid figures, IEC 60627) or by one (quanta).

    Tp = unscattered primaries out / in; Ts = phantom scatter out (any grid history) / in;
    grid scatter G = primaries scattered in the grid that still leave / primaries in;
    SPR before = scatter in / primary in; SPR after = (SPR before Ts + G) / Tp.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sim.spectrum import tube_spectrum

    rng = np.random.default_rng(seed)
    spec = tube_spectrum(kvp).filtered({"Al": al_mm})
    e_grid = np.asarray(spec.energy_keV, dtype=float)
    phi = np.asarray(spec.fluence, dtype=float)
    prob = phi / phi.sum()
    mu_w = _interp(_MU_TOT, np.maximum(e_grid, E_CUT_KEV))  # water, 1 g/cm^3 [1/cm]
    prim = prob * np.exp(-mu_w * water_cm)  # unscattered photons per incident photon
    weights = {"kerma": _kerma_per_photon(e_grid), "quanta": np.ones_like(e_grid)}
    primary_in = {k: float(prim @ wk) for k, wk in weights.items()}
    half = 0.5 * field_cm
    geoms = [
        GridGeometry(lines_per_cm, strip_um / 1000.0, r, interspace, interspace_density)
        for r in ratios
    ]
    sc_in = {k: [] for k in weights}
    sc_out = {(k, i): [] for k in weights for i in range(len(ratios))}
    sc_direct = {key: [] for key in sc_out}  # left without interacting in the grid
    photons = {key: [] for key in ("e", "u", "v", "w")}
    theta_edges = np.arange(0.0, 91.0, 2.0)
    theta_q = np.zeros(theta_edges.size - 1)
    theta_k = np.zeros(theta_edges.size - 1)
    # kerma of the scatter entering the grid by (energy, polar angle): for checking a grid model
    # on exactly the photons of this run, apart from how it models their distribution
    e_edges = np.arange(0.0, kvp + 2.0, 2.0)
    e_theta_edges = np.arange(0.0, 91.0, 1.0)
    e_theta_k = np.zeros((e_edges.size - 1, e_theta_edges.size - 1))
    t0 = time.perf_counter()
    done = 0
    while done < n_photons:
        m = min(batch, n_photons - done)
        e0 = rng.choice(e_grid, size=m, p=prob)
        res, _ = run(e0, water_cm, m, rng)
        gx = res["x"] + res["u"] / res["w"] * gap_cm
        gy = res["y"] + res["v"] / res["w"] * gap_cm
        inside = (np.abs(gx) < half) & (np.abs(gy) < half)
        e, u, v, w = (res[key][inside] for key in ("e", "u", "v", "w"))
        if keep_photons:
            for key, val in zip(("e", "u", "v", "w"), (e, u, v, w), strict=True):
                photons[key].append(val)
        theta = np.degrees(np.arccos(np.clip(w, 0.0, 1.0)))
        theta_q += np.histogram(theta, theta_edges)[0]
        theta_k += np.histogram(theta, theta_edges, weights=_kerma_per_photon(e))[0]
        e_theta_k += np.histogram2d(
            e, theta, (e_edges, e_theta_edges), weights=_kerma_per_photon(e)
        )[0]
        w_in = {"kerma": _kerma_per_photon(e), "quanta": np.ones_like(e)}
        for k in weights:
            sc_in[k].append(w_in[k])
        for i, g in enumerate(geoms):
            rep = [np.tile(a, splits) for a in (e, u, v, w)]
            out_e, hits = through_grid(*rep, g, rng)
            out_e, direct = out_e.reshape(splits, -1), (hits == 0).reshape(splits, -1)
            for k, score in (("kerma", _kerma_per_photon(out_e)), ("quanta", out_e > 0)):
                sc_out[(k, i)].append(score.mean(axis=0))
                sc_direct[(k, i)].append(np.where(direct, score, 0.0).mean(axis=0))
        done += m
        print(f"grid MC: {done} photons, {time.perf_counter() - t0:.0f} s", flush=True)
    # primaries behind the slab, through each grid
    ep = rng.choice(e_grid, size=n_primary, p=prim / prim.sum())
    zeros = np.zeros(n_primary)
    result: dict = {
        "config": {
            "kvp": kvp,
            "al_mm": al_mm,
            "water_cm": water_cm,
            "field_cm": field_cm,
            "gap_cm": gap_cm,
            "lines_per_cm": lines_per_cm,
            "strip_um": strip_um,
            "interspace": interspace,
            "interspace_density_g_cm3": interspace_density,
            "covers": "none",
            "n_photons": n_photons,
            "n_primary": n_primary,
            "splits": splits,
            "seed": seed,
        },
        "theta_edges_deg": theta_edges.tolist(),
        "theta_pdf_quanta": (theta_q / theta_q.sum()).tolist(),
        "theta_pdf_kerma": (theta_k / theta_k.sum()).tolist(),
        "e_edges_keV": e_edges.tolist(),
        "e_theta_edges_deg": e_theta_edges.tolist(),
        "e_theta_kerma": [[float(f"{x:.6g}") for x in row] for row in e_theta_k / e_theta_k.sum()],
        "ratios": {},
    }
    for k in weights:
        s_in = np.concatenate(sc_in[k])
        result[f"spr_before_{k}"] = float(s_in.sum() / n_photons / primary_in[k])
    s_e = np.concatenate([x for x in sc_in["quanta"]])  # counts only
    result["scatter_photons_at_grid"] = int(s_e.size)
    for i, g in enumerate(geoms):
        out_e, hits = through_grid(ep, zeros, zeros, np.ones(n_primary), g, rng)
        row: dict = {"height_mm": g.height_mm}
        for k, wk in weights.items():
            w_p = np.interp(ep, e_grid, wk)
            w_out = _kerma_per_photon(out_e) if k == "kerma" else (out_e > 0).astype(float)
            tp, tp_se = _ratio_and_se(np.where(hits == 0, w_out, 0.0), w_p)
            gs, gs_se = _ratio_and_se(np.where(hits > 0, w_out, 0.0), w_p)
            s_in = np.concatenate(sc_in[k])
            ts, ts_se = _ratio_and_se(np.concatenate(sc_out[(k, i)]), s_in)
            ts_direct, _ = _ratio_and_se(np.concatenate(sc_direct[(k, i)]), s_in)
            spr = result[f"spr_before_{k}"]
            row[k] = {
                "tp": tp,
                "tp_se": tp_se,
                "ts": ts,
                "ts_se": ts_se,
                "ts_direct": ts_direct,
                "grid_scatter": gs,
                "grid_scatter_se": gs_se,
                "spr_after": (spr * ts + gs) / tp,
                "spr_after_no_grid_scatter": spr * ts / tp,
            }
        result["ratios"][f"{g.ratio:g}"] = row
    result["runtime_s"] = round(time.perf_counter() - t0, 1)
    if keep_photons:
        result["photons"] = {k: np.concatenate(v) for k, v in photons.items()}
    return result


def _main_grid(argv: list[str]) -> None:
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="scatter_mc.py grid", description=__doc__.split("\n")[0])
    ap.add_argument("--photons", type=int, default=1_000_000, help="incident photons")
    ap.add_argument("--primaries", type=int, default=400_000, help="primaries through the grid")
    ap.add_argument("--splits", type=int, default=4, help="grid tracks per scattered photon")
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--ratios", type=float, nargs="+", default=[8.0, 10.0, 12.0, 15.0])
    ap.add_argument("--lines", type=float, default=40.0, help="lines per cm")
    ap.add_argument("--strip-um", type=float, default=36.0, help="lead strip thickness [um]")
    ap.add_argument("--interspace", choices=("fibre", "aluminium"), default="fibre")
    ap.add_argument("--density", type=float, default=0.5, help="interspace density [g/cm^3]")
    ap.add_argument("--kvp", type=float, default=80.0)
    ap.add_argument("--al-mm", type=float, default=2.5)
    ap.add_argument("--water-cm", type=float, default=20.0)
    ap.add_argument("--field-cm", type=float, default=30.0)
    ap.add_argument("--gap-cm", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=GRID_OUT)
    a = ap.parse_args(argv)
    res = grid_experiment(
        kvp=a.kvp,
        al_mm=a.al_mm,
        water_cm=a.water_cm,
        field_cm=a.field_cm,
        gap_cm=a.gap_cm,
        lines_per_cm=a.lines,
        strip_um=a.strip_um,
        ratios=tuple(a.ratios),
        interspace=a.interspace,
        interspace_density=a.density,
        n_photons=a.photons,
        n_primary=a.primaries,
        splits=a.splits,
        seed=a.seed,
    )
    res["command"] = "nice -n 10 .venv/bin/python tools/scatter_mc.py grid " + " ".join(argv)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({r: v["kerma"] for r, v in res["ratios"].items()}, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "grid":
        _main_grid(sys.argv[2:])
    else:
        main()
