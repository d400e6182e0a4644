"""The phantom registry: one entry per phantom, read by the knob's choices, the run sequence,
the app and :func:`make_phantom`.

Each module of this package that defines a phantom ends with ``ENTRY = PhantomEntry(...)``;
:func:`discover` imports them all and registers their entries, and a phantom written as a data
file (:mod:`sim.phantoms.data`) is registered the same way. Adding a phantom is one file.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from sim.params import PHANTOMS
from sim.phantoms.model import Phantom
from sim.units import MM_PER_CM
from sim.validate import check_number

CONTRAST_KINDS = ("", "iodine", "barium")
"""What ``patient.contrast_ml`` fills in a phantom: nothing, iodinated contrast, or a barium
bolus that passes down at each swallow."""


@dataclass(frozen=True)
class PhantomEntry:
    """One phantom as the rest of the simulator sees it.

    Attributes
    ----------
    name : str
        The value of ``patient.phantom``.
    label : str
        What a student reads in the app.
    build : callable
        ``build(t_mm, progress, contrast_ml, mg_i_per_ml) -> Phantom``: the body thickness
        [mm], the needle's progress [-], the contrast volume [ml] and iodine concentration
        [mg/ml] (the arguments the phantom ignores arrive as 0).
    needle : bool
        ``patient.needle_progress`` moves a needle in it (a run advances it).
    contrast : str
        One of :data:`CONTRAST_KINDS`: what ``patient.contrast_ml`` fills.
    order : int
        Position in the app's list [-].
    source : str
        The module or data file that defines it (:func:`discover` fills in the module).
    """

    name: str
    label: str
    build: Callable[[float, float, float, float], Phantom]
    needle: bool = False
    contrast: str = ""
    order: int = 100
    source: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ValueError(f"phantom name={self.name!r} must be a word (letters, digits, _)")
        if self.contrast not in CONTRAST_KINDS:
            raise ValueError(
                f"phantom {self.name!r}: contrast={self.contrast!r} must be one of "
                f"{', '.join(repr(c) for c in CONTRAST_KINDS)}"
            )

    @property
    def iodine(self) -> bool:
        """``patient.contrast_ml`` of iodinated contrast fills it (a run injects it)."""
        return self.contrast == "iodine"

    @property
    def bolus(self) -> bool:
        """A barium bolus passes down at each swallow (a run repeats it)."""
        return self.contrast == "barium"


_ENTRIES: dict[str, PhantomEntry] = {}


def register(entry: PhantomEntry, replace: bool = False) -> PhantomEntry:
    """Add a phantom; its name becomes a choice of ``patient.phantom``.

    Parameters
    ----------
    entry : PhantomEntry
        The phantom.
    replace : bool
        Allow replacing a registered phantom of the same name (a reloaded data file).

    Returns
    -------
    PhantomEntry
        ``entry``.
    """
    if not isinstance(entry, PhantomEntry):
        raise ValueError(f"register() needs a PhantomEntry, got {type(entry).__name__}")
    old = _ENTRIES.get(entry.name)
    if old is not None and old != entry and not replace:
        raise ValueError(
            f"phantom {entry.name!r} is already registered (from {old.source or 'code'})"
        )
    _ENTRIES[entry.name] = entry
    ordered = sorted(_ENTRIES.values(), key=lambda e: (e.order, e.name))
    PHANTOMS.set([e.name for e in ordered])
    return entry


def entry(name: str) -> PhantomEntry:
    """The registered phantom called ``name`` (``ValueError`` listing the others)."""
    try:
        return _ENTRIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"phantom={name!r} is unknown: expected one of {', '.join(PHANTOMS)}"
        ) from None


def entries() -> tuple[PhantomEntry, ...]:
    """Every registered phantom, in the app's order."""
    return tuple(_ENTRIES[n] for n in PHANTOMS)


def discover() -> None:
    """Register the ``ENTRY`` of every module of this package (once)."""
    import sim.phantoms as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        e = getattr(module, "ENTRY", None)
        if isinstance(e, PhantomEntry):
            register(e if e.source else dataclasses.replace(e, source=module.__name__))


# ------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------
def build_phantom(params) -> Phantom:
    """The phantom chosen by ``params.patient`` (name, thickness, needle, contrast).

    See :func:`make_phantom`.
    """
    pt = params.patient
    return make_phantom(
        pt.phantom,
        thickness_cm=pt.thickness_cm,
        needle_progress=pt.needle_progress,
        contrast_ml=pt.contrast_ml,
        contrast_mg_i_per_ml=pt.contrast_mg_i_per_ml,
    )


def make_phantom(
    name: str,
    thickness_cm: float = 22.0,
    needle_progress: float = 1.0,
    contrast_ml: float = 2.0,
    contrast_mg_i_per_ml: float = 240.0,
) -> Phantom:
    """Build a registered phantom (cached by its arguments).

    The phantoms and what they hold are described in their modules (``sim.phantoms.hip``,
    ``sim.phantoms.lumbar_spine``, ...) and data files (``assets/phantoms``).

    Parameters
    ----------
    name
        A registered phantom (:func:`entries`; ``patient.phantom``).
    thickness_cm
        Body / slab thickness along the beam, 2-40 [cm].
    needle_progress
        Fraction of the needle path done, 0 (tip at the skin) to 1 (tip at the target); for
        phantoms with a needle.
    contrast_ml
        Contrast volume [ml]: iodinated contrast, or the barium bolus of a swallow.
    contrast_mg_i_per_ml
        Iodine concentration of the contrast medium [mg/ml].

    Returns
    -------
    Phantom
    """
    e = entry(name)
    t = check_number("thickness_cm", thickness_cm, 2.0, 40.0, "cm")
    prog = check_number("needle_progress", needle_progress, 0.0, 1.0, "")
    vol = check_number("contrast_ml", contrast_ml, 0.0, 20.0, "ml")
    conc = check_number("contrast_mg_i_per_ml", contrast_mg_i_per_ml, 0.0, 400.0, "mg/ml")
    # normalise the arguments a phantom ignores, for cache hits
    if not e.needle and not e.bolus:
        prog = 0.0
    if e.bolus:
        conc = 0.0  # barium: the iodine concentration does not apply
    elif not e.iodine or vol == 0.0 or conc == 0.0:
        vol, conc = 0.0, 0.0
    return _make(e, t * MM_PER_CM, prog, vol, conc)


@functools.lru_cache(maxsize=256)
def _make(e: PhantomEntry, t_mm: float, prog: float, vol_ml: float, conc: float) -> Phantom:
    return e.build(t_mm, prog, vol_ml, conc)
