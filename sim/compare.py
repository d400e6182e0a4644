"""A/B comparison: how much each group of settings changed a dose or image quantity.

Two parameter sets ``a`` and ``b`` give, say, Ka,r rates of 15 and 60 mGy/min. Which settings
account for the factor 4? :func:`breakdown` answers by *sequential substitution* (a
chain-linked, telescoping decomposition): start from ``a``, apply the knobs of ``b`` one group
(cause) at a time in the fixed order of :data:`CAUSES`, simulate every intermediate state, and
credit each cause with the ratio of the quantity after its step to the quantity before it::

    Q(b) / Q(a) = Q(s1) / Q(a) x Q(s2) / Q(s1) x ... x Q(b) / Q(s_n-1)

The factors multiply to the total ratio exactly (the product telescopes), whatever the
physics, because the last state is ``b`` itself. The split, not the product, depends on the
order: when two causes interact (the grid and ABC, the distances and the patient) the
interaction is credited to whichever comes later. This is the order dependence known from
index-number and structural decomposition analysis, where sequential substitution is the
simplest of the decompositions and averaging over every order (the Shapley decomposition) is
the order-free one, at the cost of 2^n simulations. Here the order follows the beam as a student
reasons about it: the patient, the distances, the field of view, collimation, pulse rate, grid,
filtration, ABC, manual technique, receptor, fluoroscopy time, then everything else.

Causes whose knobs are the same in ``a`` and ``b`` are not simulated (factor 1). An intermediate
state that is not a valid ``Params`` (a thicker patient before it has been moved toward the
source, say) is merged with the next cause(s) until it is valid, and reported under the joined
label ("patient attenuation + inverse square"). A quantity that is 0 before a step (the SPR
with scatter off) has no ratio: that factor is NaN and ``Breakdown.defined`` says so.

References
----------
.. [1] E. Dietzenbacher, B. Los, "Structural decomposition techniques: sense and sensitivity",
   Economic Systems Research 10 (1998) 307-324 (order dependence of sequential decompositions).
.. [2] A. F. Shorrocks, "Decomposition procedures for distributional analysis: a unified
   framework based on the Shapley value", J. Econ. Inequal. 11 (2013) 99-126.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sim.chain import simulate as chain_simulate
from sim.params import KNOBS, Params
from sim.quantities import quantity

__all__ = ["CAUSES", "DEFAULT_KEYS", "Breakdown", "Cause", "breakdown"]

DEFAULT_KEYS = (
    "dose.kar_rate_mGy_per_min",
    "dose.skin_dose_mGy",
    "dose.kap_Gycm2",
    "metrics.cnr",
    "metrics.spr_after_grid",
)
"""Quantities broken down by default: Ka,r rate, skin dose, KAP, CNR, SPR after the grid."""


@dataclass(frozen=True)
class Cause:
    """A group of knobs credited together: a label for the student and the dotted knobs."""

    label: str
    knobs: tuple[str, ...]


def _section(name: str) -> tuple[str, ...]:
    return tuple(k for k in KNOBS if k.startswith(name + "."))


_NAMED = (
    Cause("patient attenuation", _section("patient")),
    Cause(
        "inverse square", ("geometry.source_skin_cm", "geometry.source_iso_cm", "geometry.sid_cm")
    ),
    Cause("magnification / FOV", ("geometry.fov_cm",)),
    Cause("collimation", ("geometry.field_cm", "geometry.field_shape")),
    Cause("pulse rate", ("tube.pulse_rate_pps", "tube.mode")),
    Cause("grid", _section("grid")),
    Cause("filtration", _section("filtration")),
    Cause("ABC level", _section("abc")),
    Cause("manual technique", ("tube.kvp", "tube.ma", "tube.pulse_ms")),
    Cause("receptor", _section("receptor")),
    Cause("fluoroscopy time", ("run.fluoro_time_s",)),  # cumulative doses scale with it
)
_CLAIMED = {k for c in _NAMED for k in c.knobs}

CAUSES: tuple[Cause, ...] = (
    *_NAMED,
    Cause("other settings", tuple(k for k in KNOBS if k not in _CLAIMED)),
)
"""The causes in the order they are substituted; every knob belongs to exactly one."""


@dataclass(frozen=True)
class Breakdown:
    """Factors by which each cause changed each quantity from A to B.

    Attributes
    ----------
    causes : tuple of str
        Cause labels in substitution order; merged causes joined by " + ".
    factors : dict of str to tuple of float
        Quantity key -> factor of each cause (value after / value before its step) [-]; 1 for
        causes that did not change, NaN where the value before the step was 0.
    a, b : dict of str to float
        Quantity key -> value for A and for B [unit of the quantity].
    total : dict of str to float
        Quantity key -> b / a (NaN when a is 0) [-]; the product of the factors.
    defined : dict of str to bool
        Quantity key -> whether every factor is a number (no step started from 0).
    knobs : tuple of tuple of str
        The knobs taken from B at each step (empty for a cause that did not change).
    """

    causes: tuple[str, ...]
    factors: dict[str, tuple[float, ...]]
    a: dict[str, float]
    b: dict[str, float]
    total: dict[str, float]
    defined: dict[str, bool]
    knobs: tuple[tuple[str, ...], ...]

    @property
    def changed(self) -> tuple[bool, ...]:
        """Whether each cause changed anything (was simulated)."""
        return tuple(bool(k) for k in self.knobs)

    def factor(self, key: str, cause: str) -> float:
        """The factor of one cause (its exact label, merged ones joined by " + ") [-]."""
        if key not in self.factors:
            raise ValueError(f"{key!r} was not broken down: expected one of {list(self.factors)}")
        if cause not in self.causes:
            raise ValueError(f"no cause {cause!r}: expected one of {list(self.causes)}")
        return self.factors[key][self.causes.index(cause)]


def _ratio(after: float, before: float) -> float:
    """after / before, NaN (never a silent division by zero) when before is 0 or not finite."""
    if before == 0.0 or not (math.isfinite(before) and math.isfinite(after)):
        return math.nan
    return after / before


def _values(result: Any, keys: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for key in keys:
        q = quantity(key)
        report = getattr(result, q.section)
        if q.name not in report:
            raise ValueError(f"{key} is not reported by this simulation")
        v = report[q.name]
        if isinstance(v, bool) or not isinstance(v, numbers.Real):  # np.bool_ is not Real
            raise ValueError(f"{key}={v!r} is not a number: it cannot be broken into factors")
        out[key] = float(v)
    return out


def breakdown(
    a: Params,
    b: Params,
    keys: Sequence[str] = DEFAULT_KEYS,
    simulate: Callable[[Params], Any] = chain_simulate,
) -> Breakdown:
    """Break the change of each quantity from A to B into factors, one per cause.

    Sequential substitution along :data:`CAUSES` (see the module docstring): the factors of
    a quantity multiply to its ratio B / A exactly; how the ratio is split depends on the
    order of the causes when they interact.

    Parameters
    ----------
    a, b : sim.Params
        The two settings compared (A, the reference, and B).
    keys : sequence of str
        Numeric quantities, dotted (``"dose.kap_Gycm2"``, see ``sim.quantities``).
    simulate : callable
        ``Params -> result`` with ``technique``, ``dose`` and ``metrics`` mappings:
        ``sim.simulate`` (one frame, the default) or ``sim.run`` (a whole run).

    Returns
    -------
    Breakdown
        Causes, factors per quantity, values for A and B, totals, which are defined.

    References
    ----------
    Dietzenbacher & Los, Econ. Syst. Res. 10 (1998) 307 (sequential decomposition, order).
    """
    if not isinstance(a, Params) or not isinstance(b, Params):
        raise ValueError(
            f"breakdown() needs two sim.Params, got {type(a).__name__}, {type(b).__name__}"
        )
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    if not keys:
        raise ValueError("keys is empty: name at least one quantity (e.g. dose.kap_Gycm2)")
    for key in keys:
        quantity(key)  # unknown keys fail before the first simulation
    state, before = a, _values(simulate(a), keys)
    start = dict(before)
    causes: list[str] = []
    steps: list[tuple[str, ...]] = []
    factors: dict[str, list[float]] = {k: [] for k in keys}
    pending: list[Cause] = []  # causes merged until their state is valid
    deferred: list[Cause] = []  # unchanged causes met during a merge

    def emit(label: str, knobs: tuple[str, ...], f: dict[str, float]) -> None:
        causes.append(label)
        steps.append(knobs)
        for k in keys:
            factors[k].append(f[k])

    for cause in CAUSES:
        if all(a.get(n) == b.get(n) for n in cause.knobs):
            if pending:
                deferred.append(cause)
            else:
                emit(cause.label, (), dict.fromkeys(keys, 1.0))
            continue
        pending.append(cause)
        knobs = tuple(n for c in pending for n in c.knobs if a.get(n) != b.get(n))
        try:
            nxt = state.replace(**{n: b.get(n) for n in knobs})
        except ValueError:
            continue  # not a valid state on its own: merge with the next cause
        after = _values(simulate(nxt), keys)
        emit(
            " + ".join(c.label for c in pending),
            knobs,
            {k: _ratio(after[k], before[k]) for k in keys},
        )
        for c in deferred:
            emit(c.label, (), dict.fromkeys(keys, 1.0))
        state, before, pending, deferred = nxt, after, [], []
    if pending or state != b:  # unreachable: the last state holds every knob of b
        raise RuntimeError("breakdown did not reach b; this is a bug")
    total = {k: _ratio(before[k], start[k]) for k in keys}
    return Breakdown(
        causes=tuple(causes),
        factors={k: tuple(v) for k, v in factors.items()},
        a=start,
        b=before,
        total=total,
        defined={
            k: all(math.isfinite(f) for f in factors[k]) and math.isfinite(total[k]) for k in keys
        },
        knobs=tuple(steps),
    )
