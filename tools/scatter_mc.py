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

import sys
import time
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


def _sample_compton(e: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cos_t = np.empty_like(e)
    todo = np.arange(e.size)
    while todo.size:
        mu = rng.uniform(-1.0, 1.0, todo.size)
        k = e[todo] / ME_C2_KEV
        p = 1.0 / (1.0 + k * (1.0 - mu))
        kn = p * p * (p + 1.0 / p - 1.0 + mu * mu) / 2.0
        s = np.interp(_q(e[todo], mu), _Q_TAB, _S_TAB) / _S_MAX
        ok = rng.uniform(size=todo.size) < kn * s
        cos_t[todo[ok]] = mu[ok]
        todo = todo[~ok]
    return cos_t


def _sample_rayleigh(e: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cos_t = np.empty_like(e)
    todo = np.arange(e.size)
    while todo.size:
        mu = rng.uniform(-1.0, 1.0, todo.size)
        f2 = np.interp(_q(e[todo], mu), _Q_TAB, _F2_TAB) / _F2_MAX
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
    e0_kev: float, t_cm: float, n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Transport ``n`` photons; return the scattered photons leaving the exit face, and
    those leaving back through the entrance face (position r and direction cosine w)."""
    x = np.zeros(n)
    y = np.zeros(n)
    z = np.zeros(n)
    u = np.zeros(n)
    v = np.zeros(n)
    w = np.ones(n)
    e = np.full(n, float(e0_kev))
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


if __name__ == "__main__":
    main()
