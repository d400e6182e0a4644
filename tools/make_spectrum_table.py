"""Generate assets/spectra/w_anode_spekpy.npz, the tungsten-anode spectrum table of sim.spectrum.

Run once, from the repository root, on one core (about 6-8 minutes)::

    nice -n 10 .venv/bin/python tools/make_spectrum_table.py

``--reference`` instead writes ``assets/spectra/spekpy_reference.json`` (about 1 minute): SpekPy's
own HVL1, HVL2 (mm Al), mean energy (keV) and air kerma (uGy/mAs at 100 cm) for the filtrations
2.5 mm Al, 3 mm Al + 0.1/0.3/0.6 mm Cu on a kVp x anode-angle grid, used by
tests/test_spectrum.py so that the full comparison runs without SpekPy's 0.3-1 s per spectrum.

The table holds the UNFILTERED spectra of a semi-infinite tungsten reflection target computed by
SpekPy (Poludniowski et al., Med Phys 48:3630, 2021; MIT licence) with its default physics
(``physics="casim"``, ``mu_data_source="pene"``, 0.5 keV bins, on the central axis x = y = 0,
z = 100 cm, 1 mAs). ``Spek()`` adds no filtration by default (``state.filtration.filters`` is
empty, checked below); the only attenuation included is the self-filtration in the anode.
No air is included.

SpekPy returns ``get_spectrum(diff=True)`` in photons / (cm^2 keV) per mAs at z; we store
photons / (mm^2 mAs) per 0.5 keV bin at 100 cm: multiply by the bin width [keV] and by
CM2_PER_MM2. Bremsstrahlung and characteristic parts are stored separately so that sim.spectrum
can interpolate them differently in kVp.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import spekpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.units import CM2_PER_MM2  # noqa: E402

KVP_NODES = np.arange(40, 151, 1, dtype=np.float64)  # [kV]
ANGLE_NODES_DEG = np.arange(6, 23, 2, dtype=np.float64)  # [deg]
EDGES_KEV = np.arange(1.0, 150.0 + 0.25, 0.5)  # the fixed grid of sim.spectrum [keV]
DK_KEV = 0.5  # SpekPy default bin width [keV]
DISTANCE_CM = 100.0
MAS = 1.0
OUT = ROOT / "assets" / "spectra" / "w_anode_spekpy.npz"
REF_OUT = ROOT / "assets" / "spectra" / "spekpy_reference.json"
# SpekPy adds the thickness of a material already present, so the filtrations are built up:
# 2.5 Al -> 3 Al + 0.1 Cu -> 3 Al + 0.3 Cu -> 3 Al + 0.6 Cu.
REF_STEPS = [[("Al", 2.5)], [("Al", 0.5), ("Cu", 0.1)], [("Cu", 0.2)], [("Cu", 0.3)]]
REF_TOTALS = [{"Al": 2.5}, {"Al": 3.0, "Cu": 0.1}, {"Al": 3.0, "Cu": 0.3}, {"Al": 3.0, "Cu": 0.6}]
REF_CASES = [(float(k), 12.0) for k in range(40, 151, 5)] + [
    (40.3, 12.0),
    (57.3, 7.0),
    (69.7, 12.0),
    (72.5, 12.0),
    (80.0, 8.0),
    (91.4, 13.0),
    (100.0, 16.0),
    (118.6, 19.0),
    (133.3, 12.0),
    (45.5, 21.0),
    (147.2, 6.0),
    (149.9, 22.0),
]


def reference() -> None:
    """Write SpekPy's beam-quality figures for ``REF_CASES`` x ``REF_TOTALS`` to ``REF_OUT``."""
    rows = []
    t0 = time.time()
    for kvp, angle in REF_CASES:
        s = spekpy.Spek(kvp=kvp, th=angle, dk=DK_KEV, z=DISTANCE_CM, mas=MAS)
        for step, total in zip(REF_STEPS, REF_TOTALS, strict=True):
            s.multi_filter(step)
            rows.append(
                {
                    "kvp": kvp,
                    "anode_angle_deg": angle,
                    "filters_mm": total,
                    "hvl1_mm_al": s.get_hvl1(),
                    "hvl2_mm_al": s.get_hvl2(),
                    "mean_energy_keV": s.get_emean(),
                    "air_kerma_uGy_per_mAs": s.get_kerma(),
                }
            )
    doc = {
        "source": f"SpekPy {spekpy.__version__}, default physics (casim, pene mu), "
        "Spek(kvp, th, dk=0.5, z=100, mas=1).multi_filter(...); get_hvl1, get_hvl2 (Al, "
        "air kerma), get_emean, get_kerma",
        "command": "nice -n 10 .venv/bin/python tools/make_spectrum_table.py --reference",
        "units": {
            "kvp": "kV",
            "anode_angle_deg": "deg",
            "filters_mm": "mm",
            "hvl1_mm_al": "mm Al",
            "hvl2_mm_al": "mm Al",
            "mean_energy_keV": "keV",
            "air_kerma_uGy_per_mAs": "uGy/mAs at 100 cm",
        },
        "rows": rows,
    }
    REF_OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {REF_OUT} ({len(rows)} rows) in {time.time() - t0:.1f} s")


def main() -> None:
    """Compute the table and write it to ``OUT``."""
    n_e = EDGES_KEV.size - 1
    centres = 0.5 * (EDGES_KEV[:-1] + EDGES_KEV[1:])
    brem = np.zeros((KVP_NODES.size, ANGLE_NODES_DEG.size, n_e))
    char = np.zeros_like(brem)
    t0 = time.time()
    for j, angle in enumerate(ANGLE_NODES_DEG):
        s = spekpy.Spek(kvp=float(KVP_NODES[0]), th=float(angle), dk=DK_KEV, z=DISTANCE_CM, mas=MAS)
        assert not s.state.filtration.filters, "Spek() added a default filter"
        assert s.state.model_parameters.physics == "spekpy-v2-casim"
        assert s.state.model_parameters.mu_data_source == "pene"
        for i, kvp in enumerate(KVP_NODES):
            s.set_state_parameters(kvp=float(kvp))
            k = s.get_k()
            n = k.size
            if not np.allclose(k, centres[:n]):
                raise RuntimeError(f"SpekPy bins differ from the grid at kvp={kvp}")
            # photons / (cm^2 keV) at z per mAs  ->  photons / (mm^2 bin) per mAs
            tot = s.get_spk() * DK_KEV * CM2_PER_MM2
            ch = s.get_spk(brem=False) * DK_KEV * CM2_PER_MM2
            char[i, j, :n] = ch
            brem[i, j, :n] = tot - ch
        print(f"angle {angle:4.1f} deg done, {time.time() - t0:6.1f} s", flush=True)
    np.clip(brem, 0.0, None, out=brem)
    np.savez_compressed(
        OUT,
        kvp_nodes=KVP_NODES,
        angle_nodes_deg=ANGLE_NODES_DEG,
        edges_keV=EDGES_KEV,
        brem=brem.astype(np.float32),
        char=char.astype(np.float32),
        spekpy_version=np.array(spekpy.__version__),
        physics=np.array("casim"),
        mu_data_source=np.array("pene"),
        units=np.array("photons / (mm^2 mAs) per 0.5 keV bin at 100 cm, no filtration"),
    )
    print(f"wrote {OUT} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    if "--reference" in sys.argv[1:]:
        reference()
    else:
        main()
