"""Photon cross sections of elements and mixtures from xraylib: the shapes between NIST energies.

:mod:`sim.materials` pins mu/rho and mu_en/rho to the NIST tables at their energies and takes
only the curvature between them from the models here: the mixture-rule total cross section,
and an energy-absorption model built from xraylib's partial cross sections (photoabsorption
minus K/L fluorescence escape, plus the Compton energy transfer of Klein and Nishina), with the
absorption edges of each element.

References
----------
T. Schoonjans et al., "The xraylib library for X-ray-matter interactions. Recent
developments", Spectrochim. Acta B 66:776 (2011); W. T. Elam, B. D. Ravel, J. R. Sieber,
Radiat. Phys. Chem. 63:121 (2002) (line energies and rates); F. H. Attix, Introduction to
Radiological Physics and Radiation Dosimetry (1986), ch. 7 (Klein-Nishina energy transfer).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import xraylib

try:  # the vectorised bindings, when installed with xraylib
    import xraylib_np as _xnp
except ImportError:  # pragma: no cover
    _xnp = None

HAVE_MODELS = _xnp is not None
"""The models need the vectorised bindings; without them the tables are interpolated alone."""

_ELECTRON_REST_KEV = 510.99895  # electron rest energy m_e c^2 [keV], CODATA 2018


def _xraylib_total(elements: tuple[tuple[int, float], ...], e: np.ndarray) -> np.ndarray:
    """Mixture-rule xraylib CS_Total [cm^2/g] at energies e [keV] (<= 800 keV)."""
    zs = np.array([z for z, _ in elements], dtype=np.int64)
    ws = np.array([w for _, w in elements], dtype=np.float64)
    e = np.ascontiguousarray(e, dtype=np.float64)
    if _xnp is not None:
        cs = _xnp.CS_Total(zs, e)
    else:  # pragma: no cover
        cs = np.array([[xraylib.CS_Total(int(z), float(x)) for x in e] for z in zs])
    return ws @ cs


def _kn_transfer_fraction(e: np.ndarray) -> np.ndarray:
    """Mean fraction of the photon energy given to the Compton electron (Klein-Nishina).

    ``sigma_tr / sigma = 1 - sigma_s / sigma`` with the Klein-Nishina total and energy-scattering
    cross sections (Attix, Introduction to Radiological Physics and Radiation Dosimetry, 1986,
    ch. 7).
    """
    a = e / _ELECTRON_REST_KEV
    ln = np.log1p(2 * a)
    sigma = 2 * (
        (1 + a) / a**2 * (2 * (1 + a) / (1 + 2 * a) - ln / a)
        + ln / (2 * a)
        - (1 + 3 * a) / (1 + 2 * a) ** 2
    )
    sigma_s = (
        ln / a**3
        + 2 * (1 + a) * (2 * a**2 - 2 * a - 1) / (a**2 * (1 + 2 * a) ** 2)
        + 8 * a**2 / (3 * (1 + 2 * a) ** 3)
    )
    return 1.0 - sigma_s / sigma


@functools.lru_cache(maxsize=1)
def _shell_lines() -> tuple[tuple[int, ...], ...]:
    """xraylib line codes (IUPAC, e.g. KL3, L3M5) starting in each of K, L1, L2, L3."""
    out = []
    for shell in _FLUOR_SHELLS:
        pattern = re.compile(rf"^{shell}[L-Q]\d_LINE$")
        out.append(tuple(getattr(xraylib, a) for a in dir(xraylib) if pattern.match(a)))
    return tuple(out)


@functools.cache
def _mean_fluorescence_keV(z: int) -> tuple[float, ...]:
    """Mean fluorescence photon energy per radiative vacancy of K, L1, L2, L3 [keV].

    Radiative-rate weighted line energies from xraylib (Elam et al. 2002 database).
    """
    out = []
    for lines in _shell_lines():
        total = energy = 0.0
        for line in lines:
            try:
                rate, line_keV = xraylib.RadRate(z, line), xraylib.LineEnergy(z, line)
            except ValueError:
                continue
            total += rate
            energy += rate * line_keV
        out.append(energy / total if total > 0 else 0.0)
    return tuple(out)


_FLUOR_SHELLS = ("K", "L1", "L2", "L3")
# Below Na the fluorescence yield is < 2 % and the escaped energy a smooth < 0.2 % of the
# absorbed energy above 10 keV: the term is skipped for speed (it only shapes the curvature).
_MIN_Z_FLUORESCENCE = 11


def _xraylib_energy_absorption(
    elements: tuple[tuple[int, float], ...], e: np.ndarray
) -> np.ndarray:
    """Model mu_en/rho [cm^2/g] from xraylib partial cross sections (shape only).

    ``tau (1 - sum_s f_s X_s / E) + sigma_incoh * (Klein-Nishina transfer fraction)``: photo
    absorption minus K/L fluorescence escape, plus Compton energy transfer. Used only for the
    curvature between NIST energies; the values are anchored to NIST.
    """
    zs = np.array([z for z, _ in elements], dtype=np.int64)
    ws = np.array([w for _, w in elements], dtype=np.float64)
    e = np.ascontiguousarray(e, dtype=np.float64)
    shells = np.array([getattr(xraylib, f"{s}_SHELL") for s in _FLUOR_SHELLS], dtype=np.int64)
    out = _xnp.CS_Photo(zs, e) + _xnp.CS_Compt(zs, e) * _kn_transfer_fraction(e)[None, :]
    heavy = zs >= _MIN_Z_FLUORESCENCE
    if np.any(heavy):
        fluor = _xnp.CS_FluorShell(zs[heavy], shells, e)  # (Z, shell, E) [cm^2/g]
        x_keV = np.array([_mean_fluorescence_keV(int(z)) for z in zs[heavy]])  # (Z, shell)
        out[heavy] -= np.einsum("zse,zs->ze", fluor, x_keV) / e[None, :]
    return ws @ out


def _model(kind: str, elements: tuple[tuple[int, float], ...], e: np.ndarray) -> np.ndarray:
    """xraylib model of the coefficient ``kind`` ("mu" or "mu_en") [cm^2/g]."""
    if kind == "mu":
        return _xraylib_total(elements, e)
    return _xraylib_energy_absorption(elements, e)


_SHELLS = tuple(
    getattr(xraylib, f"{s}_SHELL")
    for s in ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5", "N1", "N2", "N3", "N4", "N5")
)


@functools.cache
def _xraylib_edges(z: int) -> tuple[float, ...]:
    """xraylib absorption-edge energies of element z [keV]."""
    out = []
    for shell in _SHELLS:
        try:
            energy = xraylib.EdgeEnergy(z, shell)
        except ValueError:
            continue
        if energy > 0:
            out.append(energy)
    return tuple(out)
