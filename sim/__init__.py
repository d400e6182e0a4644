"""fluorosim: an educational simulator of the fluoroscopy imaging chain.

The public scripting API (stable; sweeps, tests and the UI depend on it)::

    import sim
    s = sim.tube_spectrum(kvp=80, anode_angle_deg=12).filtered({"Al": 2.5, "Cu": 0.1})
    s.hvl_mm_al(), s.mean_energy_keV(), s.air_kerma_uGy_per_mAs(distance_cm=100)
    r = sim.simulate(sim.Params().replace(**{"tube.kvp": 90, "grid.enabled": False}))
    r.image, r.stages, r.dose, r.metrics, r.technique
    runs = sim.run(sim.preset_params("hip_injection"))     # frames, dose series
    df = sim.sweep(base, vary={"tube.kvp": [60, 90]})      # a tidy pandas DataFrame
"""

import os

# The engine does many small matrix products; OpenBLAS threads only add overhead there
# (measured: a kVp change at 1024 px took 500 ms with threads, 310 ms without). Set before
# numpy loads; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _no_huge_pages() -> None:
    """Ask numpy not to madvise huge pages for its arrays (a value the user set wins).

    On this kernel's ``defrag=madvise`` setting each fresh huge page can stall in direct
    compaction: measured, a kVp change at 1024 px took 110 ms or, in one run of three, 170-210
    ms with them, a steady 110 ms without (NUMPY_MADVISE_HUGEPAGE is numpy's own switch; if
    numpy was imported first, as under Streamlit, it is set through numpy's own setter).
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
    import sys

    core = getattr(sys.modules.get("numpy"), "_core", None)
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)


_no_huge_pages()

from sim import sweep  # noqa: E402  (the module, callable: sim.sweep(base, vary={...}))
from sim.chain import Result, simulate  # noqa: E402
from sim.params import KNOBS, Params, Technique  # noqa: E402
from sim.presets import PRESETS, preset_params  # noqa: E402
from sim.sequence import RunResult, run  # noqa: E402
from sim.spectrum import Spectrum, tube_spectrum  # noqa: E402

__all__ = [
    "KNOBS",
    "PRESETS",
    "Params",
    "Result",
    "RunResult",
    "Spectrum",
    "Technique",
    "preset_params",
    "run",
    "simulate",
    "sweep",
    "tube_spectrum",
]
