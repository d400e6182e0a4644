"""Polyenergetic primary projection through per-material path-length maps.

For a spectrum ``fluence(E)`` (photons / (mm^2 mAs) per bin at 100 cm) and path-length maps
``L_m`` [mm] of materials ``m`` along each ray, the primary signal for an energy weight ``w(E)``
is, per pixel,

    out[pixel] = (100 / d)^2 * sum_E fluence(E) * w(E) * exp(-sum_m mu_m(E) * L_m[pixel])

(Beer-Lambert per energy bin, with beam hardening because the sum over energy is taken after
the attenuation). ``w = 1`` gives the primary photon fluence, ``w = E`` the energy fluence, and
the receptor supplies absorbed-quanta, absorbed-energy and air-kerma weights.

:func:`integrate` evaluates it through a cached look-up table over basis-material thicknesses,
within 0.5 % of the exact per-energy sum :func:`exact_integrate`; :func:`transmitted_spectrum`
gives the spectrum behind one ray.

The package:

- :mod:`~sim.projection.physics`: the formula evaluated exactly per energy
  (:func:`exact_integrate`, :func:`transmitted_spectrum`) and the basis-material
  decomposition (Alvarez & Macovski 1976; Lehmann et al. 1981), with the references;
- :mod:`~sim.projection.axes`: the table's axes, nodes uniform in ``sqrt(t + c)``, and how
  their node count and spacing are chosen;
- :mod:`~sim.projection.lut`: the look-up-table engine (:class:`Lut`, :func:`build_lut`,
  :func:`integrate`): build, per-pixel interpolation, cache (:func:`clear_cache`; the
  layouts reused between nearby spectra: :func:`forget_layouts`);
- :mod:`~sim.projection.inputs`: checks of spectra, weights, distances and path maps
  (:func:`prepare_paths` checks a scene's maps once for many spectra).
"""

from sim.projection.axes import INTERP_TOL, Axis, clear_plans
from sim.projection.inputs import PathMaps, prepare_paths
from sim.projection.layout import integrate
from sim.projection.lut import (
    _CACHE as _CACHE,  # the LUT cache, read by tests and tools/bench_projection.py
)
from sim.projection.lut import (
    DEFAULT_MAX_ATTENUATION,
    MAX_AXES,
    Lut,
    build_lut,
    clear_cache,
)
from sim.projection.physics import (
    FIT_TOL,
    KAPPA_MAX,
    clear_axes,
    exact_integrate,
    transmitted_spectrum,
)


def forget_layouts() -> None:
    """Forget the table layouts reused for *nearly* the same spectrum (axis choices and node
    plans), so that the next tables depend on their own spectrum alone and not on the ones
    built before them (at the 1e-4 level); the exact caches (same input) are kept."""
    clear_plans()
    clear_axes()


__all__ = [
    "DEFAULT_MAX_ATTENUATION",
    "FIT_TOL",
    "INTERP_TOL",
    "KAPPA_MAX",
    "MAX_AXES",
    "Axis",
    "Lut",
    "PathMaps",
    "build_lut",
    "clear_cache",
    "exact_integrate",
    "forget_layouts",
    "integrate",
    "prepare_paths",
    "transmitted_spectrum",
]
