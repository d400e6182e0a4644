"""Photon interaction coefficients of elements, compounds and mixtures.

Mass attenuation ``mu/rho`` and mass energy-absorption ``mu_en/rho`` coefficients [cm^2/g] on any
energy array in 1..1000 keV, densities [g/cm^3], and the project's named materials.

Data and method
---------------
* Anchor points: NIST XAAMDI tables (Hubbell & Seltzer, NIST SRD 126) for Z = 1-92 and the 48
  NIST compounds, copied into ``assets/nist/``. At every tabulated energy ``mu_rho`` and
  ``mu_en_rho`` return the NIST value exactly (up to float rounding).
* Between the tabulated energies, plain log-log interpolation errs by up to +4 % for water near
  25 keV. ``mu_rho`` therefore follows the shape of xraylib's ``CS_Total`` (a physical cross
  section on a fine grid): log-log interpolation of the NIST values plus the curvature of
  xraylib's curve between the same two points ("NIST-anchored xraylib"). Where xraylib puts an
  absorption edge inside a NIST segment (its edge energies differ from NIST's for a few heavy
  elements) or above 800 keV (xraylib's spline ends there) the curvature term is dropped and
  the value is the plain log-log interpolation.
* ``mu_en_rho`` is anchored the same way, with the curvature of a model built from xraylib's
  partial cross sections: photoabsorption minus K/L fluorescence escape plus Compton scattering
  times the Klein-Nishina energy-transfer fraction. Plain log-log is up to 4.3 % high for air
  and water at 70 keV; the anchored curve follows PENELOPE's fine-grid mu_en/rho within 0.5 %
  (tests). xraylib's own ``CS_Energy`` is up to 37 % low for light elements (an open bug) and
  is not used.
* Compound tables: three mu/rho rows of the shipped NIST compound tables contradict the NIST
  element tables (see ``_ERRATA``) and are replaced by the mixture-rule value.
* Absorption edges sit exactly at the NIST edge energies (listed with 4 significant figures).
  An energy exactly at an edge gets the above-edge value.
* Mixtures follow the mixture rule by mass fraction over their components (elements or other
  materials). For ``mu_en/rho`` this neglects the small compound effect on fluorescence escape.

References
----------
J. H. Hubbell and S. M. Seltzer, "Tables of X-Ray Mass Attenuation Coefficients and Mass
Energy-Absorption Coefficients", NIST Standard Reference Database 126 (1996, rev. 2004).
T. Schoonjans et al., "The xraylib library for X-ray-matter interactions. Recent developments",
Spectrochim. Acta B 66 (2011) 776-784.
ICRU Report 44, "Tissue Substitutes in Radiation Dosimetry and Measurement" (1989);
ICRU Report 46, "Photon, Electron, Proton and Neutron Interaction Data for Body Tissues" (1992).
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xraylib

from sim.cross_sections import HAVE_MODELS, _model, _xraylib_edges
from sim.units import KEV_PER_MEV, MG_PER_G, MM_PER_CM
from sim.validate import short_repr

__all__ = [
    "ENERGY_MIN_KEV",
    "ENERGY_MAX_KEV",
    "Material",
    "asset_path",
    "check_material",
    "check_energy",
    "composition",
    "barium_material",
    "contrast_material",
    "density_g_cm3",
    "known_materials",
    "material_info",
    "mu_en_rho",
    "mu_per_mm",
    "mu_rho",
    "register_mixture",
]

ENERGY_MIN_KEV = 1.0  # lowest NIST SRD 126 energy [keV]
ENERGY_MAX_KEV = 1000.0  # upper limit served here [keV]
# xraylib's CS_Total spline ends just above 800 keV (measured: 800.026 keV, xraylib 4.3.0).
_XRAYLIB_MAX_KEV = 800.0
# Relative nudge away from a NIST edge energy when sampling xraylib: NIST lists edges rounded to
# 4 significant figures (relative rounding <= 5e-4), so xraylib's own edge can sit that close.
_EDGE_NUDGE = 1e-3
# Backstop against an xraylib jump inside a NIST segment that the edge-energy check missed: a
# segment whose |log| curvature term exceeds _MAX_CURVATURE_LOG, or changes by more than
# _MAX_CURVATURE_STEP between two of its probe points, falls back to plain log-log. Largest
# accepted term over Z = 1-92 in 10-150 keV (measured): 0.049 for mu (Tm, 60-80 keV), 0.089 for
# mu_en (Li, 20-30 keV).
_MAX_CURVATURE_LOG = 0.2
_MAX_CURVATURE_STEP = 0.1
N_ELEMENTS = 92
_DENSITY_AGREEMENT = 0.01  # relative tolerance between xraylib and NIST element densities
_MAX_DENSITY_G_CM3 = 23.0  # above osmium (22.59 g/cm3), the densest element

# Iodinated contrast density: linear fit through water (1.000 g/ml at 0 mg I/ml) of the specific
# gravity at 37 C of iohexol (Omnipaque 140/180/240/300/350: 1.164/1.209/1.280/1.349/1.406,
# GE Healthcare prescribing information); residuals <= 0.0012 g/ml.
_CONTRAST_DENSITY_PER_MG_I_PER_ML = 1.163e-3  # [g/ml per mg I/ml]
CONTRAST_MAX_MG_I_PER_ML = 400.0  # [mg I/ml], params.py range
# Iohexol C19H26I3N3O9 (molar mass 821.14 g/mol): iodine is 3 * 126.904 / 821.14 of its mass.
_IOHEXOL_FORMULA = "C19H26I3N3O9"
# Barium sulfate (barite), density 4.49 g/cm3 (CRC Handbook of Chemistry and Physics, physical
# constants of inorganic compounds [R]).
_BASO4_DENSITY_G_CM3 = 4.49
BARIUM_W_V_PERCENT = 60.0
"""Default BaSO4 concentration of the ``"barium"`` suspension [% w/v, g per 100 ml].

Commercial suspensions span about 40-250 % w/v: thin liquids for swallow studies ~40 % w/v
(e.g. Varibar Thin Liquid), E-Z-Paque reconstituted ~60 % w/v, E-Z-HD for double-contrast
studies 250 % w/v (manufacturer labels, E-Z-EM/Bracco [R]); 60 % w/v is the default here."""
BARIUM_MAX_W_V_PERCENT = 250.0  # [% w/v], densest common product (E-Z-HD)


# --------------------------------------------------------------------------- assets


def asset_path(*parts: str) -> Path:
    """Path of a data file shipped with fluorosim.

    Looks first in the package-data location ``sim/_assets`` (installed package), then in the
    checkout's ``<repo>/assets``. Returns the checkout path if neither exists, so an error
    message names the expected location.

    Parameters
    ----------
    *parts : str
        Path components below ``assets/``, e.g. ``("nist", "elements.csv")``.

    Returns
    -------
    pathlib.Path
        Location of the file or directory.

    References
    ----------
    Python Packaging User Guide, "Including data files" (package data).
    """
    here = Path(__file__).resolve().parent
    for root in (here / "_assets", here.parent / "assets"):
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return here.parent.joinpath("assets", *parts)


# --------------------------------------------------------------------------- NIST tables


@dataclass(frozen=True)
class _Table:
    """One NIST SRD 126 table: energies [keV] (edges listed twice), mu/rho, mu_en/rho [cm^2/g]."""

    energy_keV: np.ndarray
    mu_rho: np.ndarray
    mu_en_rho: np.ndarray


# Corrections to the shipped tables (row energy [keV], column 1 = mu/rho or 2 = mu_en/rho, value).
# Found by checking every compound table against the mixture rule over the NIST element tables:
# in these three rows mu/rho departs from it by 3.7-41 % while the same row's mu_en/rho agrees
# within 0.03 %, and the listed mu/rho breaks the smooth fall between edges; each is replaced by
# the mixture-rule value (transcription errors in the tables as shipped).
# CsI 34.55 keV: 26.87 listed (above the 21.22 at the I K edge, no edge between) -> 19.09.
# Lead glass 12.44 keV: 66.25 listed (flat from 11.87 keV) -> 59.54.
# HgI2 14.52 keV: 103.5 listed -> 107.5.
_ERRATA: dict[str, tuple[tuple[float, int, float], ...]] = {
    "compounds_mixtures/cesium_iodide.csv": ((34.55, 1, 19.09),),
    "compounds_mixtures/lead_glass.csv": ((12.44, 1, 59.54),),
    "compounds_mixtures/mercuric_iodide.csv": ((14.52, 1, 107.5),),
}


@functools.cache
def _read_table(relpath: str) -> _Table:
    """Read an ``assets/nist`` table (energy column in MeV despite its "meV" header)."""
    path = asset_path("nist", *relpath.split("/"))
    data = np.loadtxt(path, delimiter=",", comments="#", dtype=np.float64, ndmin=2)
    energy = data[:, 0] * KEV_PER_MEV
    if np.any(np.diff(energy) < 0):
        raise RuntimeError(f"{path}: energies are not sorted")
    for energy_keV, column, value in _ERRATA.get(relpath, ()):
        row = np.flatnonzero(np.isclose(energy, energy_keV, rtol=1e-6))
        if row.size != 1:
            raise RuntimeError(f"{path}: erratum row {energy_keV} keV not found once")
        data[row[0], column] = value
    for arr in (energy, data[:, 1], data[:, 2]):
        arr.setflags(write=False)
    return _Table(energy, data[:, 1].copy(), data[:, 2].copy())


@functools.cache
def _element_rows() -> dict[str, tuple[int, str, float]]:
    """Symbol -> (Z, name, density [g/cm^3]) from ``assets/nist/elements.csv`` (NIST SRD 126)."""
    rows: dict[str, tuple[int, str, float]] = {}
    path = asset_path("nist", "elements.csv")
    with open(path, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            fields = line.strip().split(",")
            if len(fields) < 6:
                continue
            z, sym, name, density = int(fields[0]), fields[1], fields[2], float(fields[5])
            if 1 <= z <= N_ELEMENTS:
                rows[sym] = (z, name, density)
    return rows


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Material:
    """A named material.

    Attributes
    ----------
    name : str
        Registry name.
    density_g_cm3 : float
        Density [g/cm^3].
    table : str or None
        NIST table below ``assets/nist`` (``elements/z13.csv``) if the coefficients come from
        one, else None.
    elements : tuple of (int, float)
        Elemental composition as (Z, mass fraction); used for the xraylib curvature of tables
        and for ``composition``. Empty if unknown.
    components : tuple of (str, float)
        For mixtures without a table: (material name, mass fraction) summing to 1.
    description : str
        What it is, with the source of its composition and density.
    """

    name: str
    density_g_cm3: float
    table: str | None = None
    elements: tuple[tuple[int, float], ...] = ()
    components: tuple[tuple[str, float], ...] = ()
    description: str = ""


def _xrl(name: str) -> tuple[tuple[tuple[int, float], ...], float]:
    """(Z, mass fraction) and density of an entry of xraylib's NIST compound catalogue."""
    d = xraylib.GetCompoundDataNISTByName(name)
    return tuple(zip(d["Elements"], d["massFractions"], strict=True)), float(d["density"])


# ICRU-46 / NIST SRD 126 Table 2 elemental compositions (percent by mass) and densities
# [g/cm^3] of the ICRU-44 body tissues (also distributed with EGSnrc PEGS4 and SpekPy). Checked:
# the mixture rule over the NIST element tables reproduces each NIST compound table within 0.2 %.
_ICRU44 = {
    "adipose": (0.95, "H 11.4 C 59.8 N 0.7 O 27.8 Na 0.1 S 0.1 Cl 0.1"),
    "blood": (1.06, "H 10.2 C 11.0 N 3.3 O 74.5 Na 0.1 P 0.1 S 0.2 Cl 0.3 K 0.2 Fe 0.1"),
    "bone": (1.92, "H 3.4 C 15.5 N 4.2 O 43.5 Na 0.1 Mg 0.2 P 10.3 S 0.3 Ca 22.5"),
    "brain": (1.04, "H 10.7 C 14.5 N 2.2 O 71.2 Na 0.2 P 0.4 S 0.2 Cl 0.3 K 0.3"),
    "breast": (1.02, "H 10.6 C 33.2 N 3.0 O 52.7 Na 0.1 P 0.1 S 0.2 Cl 0.1"),
    "eye": (1.07, "H 9.6 C 19.5 N 5.7 O 64.6 Na 0.1 P 0.1 S 0.3 Cl 0.1"),
    "lung": (1.05, "H 10.3 C 10.5 N 3.1 O 74.9 Na 0.2 P 0.2 S 0.3 Cl 0.3 K 0.2"),
    "muscle": (1.05, "H 10.2 C 14.3 N 3.4 O 71.0 Na 0.1 P 0.2 S 0.3 Cl 0.1 K 0.4"),
    "ovary": (1.05, "H 10.5 C 9.3 N 2.4 O 76.8 Na 0.2 P 0.2 S 0.2 Cl 0.2 K 0.2"),
    "testis": (1.04, "H 10.6 C 9.9 N 2.0 O 76.6 Na 0.2 P 0.1 S 0.2 Cl 0.2 K 0.2"),
    "tissue": (1.06, "H 10.2 C 14.3 N 3.4 O 70.8 Na 0.2 P 0.3 S 0.3 Cl 0.2 K 0.3"),
}
# ICRU-46 skeletal spongiosa (cancellous bone), 1.18 g/cm^3.
_SPONGIOSA = "H 8.5 C 40.4 N 2.8 O 36.7 Na 0.1 Mg 0.1 P 3.4 S 0.2 Cl 0.2 K 0.1 Ca 7.4 Fe 0.1"
# AISI 304 stainless steel, nominal composition (ASTM A240: Cr 18-20, Ni 8-10.5, Mn <= 2).
_STEEL_304 = "Fe 70 Cr 19 Ni 9 Mn 2"


def _parse_percent(spec: str) -> tuple[tuple[int, float], ...]:
    """Parse ``"H 10.2 C 14.3 ..."`` (percent by mass) into normalised (Z, mass fraction)."""
    fields = spec.split()
    symbols, values = fields[::2], fields[1::2]
    pairs = [
        (xraylib.SymbolToAtomicNumber(s), float(v)) for s, v in zip(symbols, values, strict=True)
    ]
    total = sum(v for _, v in pairs)
    return tuple((z, v / total) for z, v in pairs)


# NIST compound key -> xraylib NIST-catalogue name (composition and density from xraylib).
_XRAYLIB_NAMES = {
    "a150": "A-150 Tissue-Equivalent Plastic",
    "air": "Air, Dry (near sea level)",
    "alanine": "Alanine",
    "b100": "B-100 Bone-Equivalent Plastic",
    "bakelite": "Bakelite",
    "c552": "C-552 Air-Equivalent Plastic",
    "calcium fluoride": "Calcium Fluoride",
    "calcium sulfate": "Calcium Sulfate",
    "cdte": "Cadmium Telluride",
    "ceric": "Ceric Sulfate Dosimeter Solution",
    "cesium iodide": "Cesium Iodide",
    "fricke": "Ferrous Sulfate Dosimeter Solution",
    "gadox": "Gadolinium Oxysulfide",
    "gallium arsenide": "Gallium Arsenide",
    "lead glass": "Glass, Lead",
    "lithium fluoride": "Lithium Fluoride",
    "lithium tetraborate": "Lithium Tetraborate",
    "magnesium tetraborate": "Magnesium Tetraborate",
    "mercuric iodide": "Mercuric Iodide",
    "mylar": "Polyethylene Terephthalate (Mylar)",
    "photo emulsion": "Photographic Emulsion",
    "pmma": "Polymethyl Methacralate (Lucite, Perspex)",
    "polyethylene": "Polyethylene",
    "polystyrene": "Polystyrene",
    "pvc": "Polyvinyl Chloride",
    "pyrex": "Glass, Pyrex",
    "teflon": "Polytetrafluoroethylene (Teflon)",
    "temethane": "Tissue-Equivalent GAS (Methane based)",
    "tepropane": "Tissue-Equivalent GAS (Propane based)",
    "tissue4": "Tissue, Soft (ICRU four-component)",
    "vinyltoluene": "Plastic Scintillator (Vinyltoluene based)",
    "water": "Water, Liquid",
}

# NIST keys with neither an xraylib entry nor an ICRU-44 composition here: density from
# NIST SRD 126 Table 2; no composition, so their mu/rho is plain log-log between NIST energies.
_NIST_TABLE2_DENSITY = {
    "concrete": 2.3,
    "concrete barite": 3.35,
    "gafchromic": 1.3,
    "kodak": 3.815,
    "nylonfilm": 1.08,
}


def _nist_compound_keys() -> tuple[tuple[str, str], ...]:
    """(key, long name) of the NIST compounds, in the order of compounds_mixtures.csv."""
    import csv

    with open(asset_path("nist", "compounds_mixtures.csv"), encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        return tuple((row[0].strip(), row[1].strip()) for row in reader if row)


def _builtin_registry() -> dict[str, Material]:
    """Build the static registry: elements, NIST compounds, project mixtures."""
    reg: dict[str, Material] = {}
    for sym, (z, name, density_nist) in _element_rows().items():
        # NIST elements.csv gives 3 significant figures (Al 2.70); xraylib's ElementDensity has
        # more (Al 2.6989) and is used where the two agree within 1 % (all but C, At, Fr).
        density_xrl = xraylib.ElementDensity(z)
        agree = abs(density_xrl / density_nist - 1.0) < _DENSITY_AGREEMENT
        reg[sym] = Material(
            name=sym,
            density_g_cm3=density_xrl if agree else density_nist,
            table=f"elements/z{z:02d}.csv",
            elements=((z, 1.0),),
            description=f"{name} (Z={z}); density "
            + ("xraylib ElementDensity" if agree else "NIST SRD 126 elements table"),
        )
    for key, long_name in _nist_compound_keys():
        table = f"compounds_mixtures/{key.replace(' ', '_')}.csv"
        if key in _ICRU44:
            density, spec = _ICRU44[key]
            elems = _parse_percent(spec)
            src = "composition and density ICRU-44/46 (NIST SRD 126 Table 2)"
        elif key in _XRAYLIB_NAMES:
            elems, density = _xrl(_XRAYLIB_NAMES[key])
            src = f"composition and density from xraylib NIST catalogue '{_XRAYLIB_NAMES[key]}'"
        else:
            density, elems = _NIST_TABLE2_DENSITY[key], ()
            src = "density NIST SRD 126 Table 2; composition not stored"
        reg[key] = Material(key, density, table, tuple(elems), (), f"{long_name}; {src}")

    def alias(name: str, key: str, density: float, what: str) -> None:
        base = reg[key]
        reg[name] = Material(name, density, base.table, base.elements, (), what)

    alias(
        "soft_tissue",
        "tissue",
        1.06,
        "ICRU-44 adult soft tissue, 1.06 g/cm3 (NIST table 'tissue'; ICRU Report 44)",
    )
    alias(
        "bone_cortical",
        "bone",
        1.92,
        "ICRU-44 cortical bone, 1.92 g/cm3 (NIST table 'bone'; ICRU Report 44)",
    )
    # inflated lung: the ICRU-44 lung composition (NIST table 'lung' is the deflated tissue,
    # 1.05 g/cm3) at 0.26 g/cm3, the inflated-lung density of ICRU Report 46 (1992) (ICRP
    # Publication 110 (2009) adult reference computational phantoms: 0.38 male, 0.36 female).
    alias(
        "lung_inflated",
        "lung",
        0.26,
        "ICRU-44 lung composition at the inflated density 0.26 g/cm3 (ICRU Report 46)",
    )
    alias("csi", "cesium iodide", 4.51, "CsI:Tl scintillator (Tl doping neglected), 4.51 g/cm3")
    # guess-ish: brief/roentgen value 7.32; Nikl, Meas. Sci. Technol. 17 (2006) R37 gives 7.34.
    alias("gos", "gadox", 7.32, "Gd2O2S:Tb phosphor (Tb neglected), 7.32 g/cm3")
    _add_elemental(
        reg,
        "bone_cancellous",
        _parse_percent(_SPONGIOSA),
        1.18,
        "ICRU-46 skeletal spongiosa (cancellous bone), 1.18 g/cm3 (ICRU Report 46)",
    )
    _add_elemental(
        reg,
        "steel",
        _parse_percent(_STEEL_304),
        8.0,
        "AISI 304 stainless steel, nominal Fe 70 Cr 19 Ni 9 Mn 2 %, 8.0 g/cm3 (ASTM A240)",
    )
    # amorphous selenium: 4.27 g/cm3 (Kasap & Rowlands, IEE Proc. CDS 149 (2002) 85).
    _add_elemental(reg, "a_se", ((34, 1.0),), 4.27, "amorphous selenium photoconductor")
    # guess: carbon-fibre/epoxy composite as pure carbon at 1.6 g/cm3 (typical CFRP 1.5-1.6).
    _add_elemental(reg, "carbon_fibre", ((6, 1.0),), 1.6, "carbon-fibre table top (guess: C)")
    # guess: table pad as polyethylene foam at 0.05 g/cm3.
    pe = reg["polyethylene"]
    reg["foam"] = Material(
        "foam", 0.05, pe.table, pe.elements, (), "table pad foam (guess: polyethylene, 0.05)"
    )
    return reg


def _add_elemental(
    reg: dict[str, Material],
    name: str,
    elems: tuple[tuple[int, float], ...],
    density: float,
    description: str,
) -> None:
    """Register a mixture of elements by mass fraction (normalised to 1)."""
    total = sum(w for _, w in elems)
    elems = tuple((z, w / total) for z, w in elems)
    comps = tuple((_SYMBOLS[z], w) for z, w in elems)
    reg[name] = Material(name, density, None, elems, comps, description)


_SYMBOLS = {z: xraylib.AtomicNumberToSymbol(z) for z in range(1, N_ELEMENTS + 1)}
_REGISTRY: dict[str, Material] = _builtin_registry()


def known_materials() -> tuple[str, ...]:
    """Names of all materials: element symbols H..U, NIST compounds, project mixtures.

    Returns
    -------
    tuple of str
        Registry names, elements first (by Z), then NIST compounds, project mixtures and
        materials registered at run time (contrast media).

    References
    ----------
    NIST SRD 126 (element and compound keys).
    """
    return tuple(_REGISTRY)


def check_material(name: str) -> str:
    """Validate a material name.

    Parameters
    ----------
    name : str
        Material name.

    Returns
    -------
    str
        The same name, if known.

    Raises
    ------
    ValueError
        If unknown; the message lists the known names and suggests close matches.

    References
    ----------
    NIST SRD 126 (names of the tabulated materials).
    """
    if isinstance(name, str) and name in _REGISTRY:
        return name
    others = [m for m in _REGISTRY if m not in _SYMBOLS.values()]
    lowered = {m.lower(): m for m in _REGISTRY}
    word = name[:100].lower() if isinstance(name, str) else ""  # difflib is linear in length
    guess = difflib.get_close_matches(word, list(lowered), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(lowered[g]) for g in guess)}?" if guess else ""
    raise ValueError(
        f"material={short_repr(name)} is unknown.{hint} Known: any element symbol H..U, "
        f"{', '.join(others)}."
    )


def material_info(name: str) -> Material:
    """The registry entry of a material.

    Parameters
    ----------
    name : str
        Material name.

    Returns
    -------
    Material
        Frozen record with density, table, composition and description.

    References
    ----------
    See ``Material.description`` of each entry.
    """
    return _REGISTRY[check_material(name)]


def density_g_cm3(material: str) -> float:
    """Density of a material.

    Parameters
    ----------
    material : str
        Material name.

    Returns
    -------
    float
        Density [g/cm^3].

    References
    ----------
    NIST SRD 126 elements table; xraylib NIST catalogue; ICRU Report 44 (tissues).
    """
    return material_info(material).density_g_cm3


def composition(material: str) -> dict[str, float]:
    """Elemental composition by mass fraction.

    Parameters
    ----------
    material : str
        Material name.

    Returns
    -------
    dict of str to float
        Element symbol -> mass fraction (sums to 1); empty if not stored.

    References
    ----------
    ICRU Report 46 (tissues); xraylib NIST compound catalogue.
    """
    mat = material_info(material)
    if mat.elements:
        return {_SYMBOLS[z]: w for z, w in mat.elements}
    out: dict[str, float] = {}
    for comp, w in mat.components:
        for sym, wc in composition(comp).items():
            out[sym] = out.get(sym, 0.0) + w * wc
    return out


def register_mixture(name: str, fractions: dict[str, float], density_g_cm3: float) -> str:
    """Register a mixture of known materials by mass fraction.

    Parameters
    ----------
    name : str
        New material name (re-registering an identical definition is a no-op).
    fractions : dict of str to float
        Component material -> mass fraction (> 0; normalised to sum 1).
    density_g_cm3 : float
        Density of the mixture [g/cm^3].

    Returns
    -------
    str
        The registered name.

    References
    ----------
    Mixture rule: Hubbell & Seltzer, NIST SRD 126, section 3.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} must be a non-empty string")
    valid = f"(0, {_MAX_DENSITY_G_CM3:g}] g/cm3"
    density_g_cm3 = _finite_float(density_g_cm3, "density_g_cm3", valid)
    if not 0.0 < density_g_cm3 <= _MAX_DENSITY_G_CM3:
        raise ValueError(f"density_g_cm3={density_g_cm3} is out of range {valid}")
    if not fractions:
        raise ValueError("fractions={} must name at least one material")
    clean: dict[str, float] = {}
    for comp, w in fractions.items():
        check_material(comp)
        clean[comp] = _finite_float(w, f"fractions[{comp!r}]", "(0, inf)")
        if not clean[comp] > 0:
            raise ValueError(f"fractions[{comp!r}]={w} is out of range (0, inf)")
    total = sum(clean.values())
    comps = tuple(sorted((c, w / total) for c, w in clean.items()))
    mat = Material(name, float(density_g_cm3), None, (), comps, "mixture by mass fraction")
    if name in _REGISTRY:
        if _REGISTRY[name] != mat:
            raise ValueError(f"name={name!r} is already registered with another definition")
        return name
    _REGISTRY[name] = mat
    return name


def contrast_material(mg_i_per_ml: float, base: str = "water") -> str:
    """Register iodinated contrast (iohexol) at a given iodine concentration in a base material.

    Model: the solution contains ``c`` mg I/ml bound in iohexol (C19H26I3N3O9, 46.4 % iodine by
    mass); its density rises linearly by 1.163e-3 g/ml per mg I/ml over that of the base (fit to
    Omnipaque 140-350 specific gravity at 37 C); the remaining mass is base material.

    Parameters
    ----------
    mg_i_per_ml : float
        Iodine concentration [mg/ml], 0..400; rounded to 0.1 mg/ml.
    base : str
        Material the contrast is dissolved in (e.g. "water", "soft_tissue").

    Returns
    -------
    str
        Registered name such as ``"water+I240"``.

    References
    ----------
    GE Healthcare, Omnipaque (iohexol) injection, prescribing information: iodine
    concentration and specific gravity at 37 C.
    """
    valid = f"[0, {CONTRAST_MAX_MG_I_PER_ML:g}] mg/ml"
    c = _finite_float(mg_i_per_ml, "mg_i_per_ml", valid)
    if not 0.0 <= c <= CONTRAST_MAX_MG_I_PER_ML:
        raise ValueError(f"mg_i_per_ml={mg_i_per_ml} is out of range {valid}")
    check_material(base)
    c = round(c, 1)
    name = f"{base}+I{c:g}"
    if name in _REGISTRY:
        return name
    rho_base = density_g_cm3(base)
    rho = rho_base + _CONTRAST_DENSITY_PER_MG_I_PER_ML * c
    iodine_g_per_ml = c / MG_PER_G
    w_iohexol = iodine_g_per_ml / _iohexol_iodine_fraction() / rho
    if c == 0.0:
        fractions = {base: 1.0}
    else:
        fractions = {"iohexol": w_iohexol, base: 1.0 - w_iohexol}
    register_mixture(name, fractions, rho)
    return name


@functools.lru_cache(maxsize=1)
def _iohexol_iodine_fraction() -> float:
    """Mass fraction of iodine in iohexol (xraylib CompoundParser)."""
    parsed = xraylib.CompoundParser(_IOHEXOL_FORMULA)
    return dict(zip(parsed["Elements"], parsed["massFractions"], strict=True))[53]


def barium_material(w_v_percent: float = BARIUM_W_V_PERCENT) -> str:
    """Register a barium sulfate suspension in water at a w/v concentration.

    Model: ``c`` g of BaSO4 per 100 ml of suspension, the rest water, with additive volumes
    (BaSO4 4.49 g/cm3): density ``rho = c' + 1.0 (1 - c' / 4.49)`` with ``c' = c / 100``
    [g/ml], e.g. 1.47 g/ml at 60 % w/v; suspending agents and flavourings (a few % of the mass)
    are neglected (a modelling choice). The default concentration is registered as
    ``"barium"``.

    Parameters
    ----------
    w_v_percent : float
        BaSO4 concentration, (0, 250] [% w/v].

    Returns
    -------
    str
        ``"barium"`` at the default concentration, else e.g. ``"barium40wv"``.

    References
    ----------
    BaSO4 density: CRC Handbook of Chemistry and Physics (barite 4.49 g/cm3) [R]. Product
    concentrations 40-250 % w/v: E-Z-EM/Bracco labels (Varibar, E-Z-Paque, E-Z-HD) [R].
    """
    valid = f"(0, {BARIUM_MAX_W_V_PERCENT:g}] % w/v"
    c = _finite_float(w_v_percent, "w_v_percent", valid)
    if not 0.0 < c <= BARIUM_MAX_W_V_PERCENT:
        raise ValueError(f"w_v_percent={w_v_percent} is out of range {valid}")
    c = round(c, 1)
    name = "barium" if c == BARIUM_W_V_PERCENT else f"barium{c:g}wv"
    if name in _REGISTRY:
        return name
    g_per_ml = c / 100.0  # percent w/v -> g/ml
    rho = g_per_ml + density_g_cm3("water") * (1.0 - g_per_ml / _BASO4_DENSITY_G_CM3)
    register_mixture(name, {"BaSO4": g_per_ml / rho, "water": 1.0 - g_per_ml / rho}, rho)
    return name


def _register_iohexol() -> None:
    parsed = xraylib.CompoundParser(_IOHEXOL_FORMULA)
    elems = tuple(zip(parsed["Elements"], parsed["massFractions"], strict=True))
    # guess: iohexol powder density 1.6 g/cm3 is not used by the contrast model (only its
    # composition is); it is given so that "iohexol" is a complete material.
    _add_elemental(_REGISTRY, "iohexol", elems, 1.6, "iohexol C19H26I3N3O9 (density a guess)")


_register_iohexol()


def _register_barium() -> None:
    parsed = xraylib.CompoundParser("BaSO4")
    elems = tuple(zip(parsed["Elements"], parsed["massFractions"], strict=True))
    _add_elemental(_REGISTRY, "BaSO4", elems, _BASO4_DENSITY_G_CM3, "barium sulfate (barite)")
    barium_material()


# --------------------------------------------------------------------------- energies


def _finite_float(value: object, name: str, valid: str) -> float:
    """float(value), or ValueError naming the argument, the value and the valid range."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number; valid range {valid}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name}={value} is out of range {valid}")
    return out


def check_energy(energy_keV: object) -> np.ndarray:
    """Validate photon energies.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies [keV].

    Returns
    -------
    numpy.ndarray
        float64 copy of the energies [keV].

    Raises
    ------
    ValueError
        If any energy is NaN, infinite or outside [1, 1000] keV.

    References
    ----------
    NIST SRD 126 energy range (1 keV - 100 GeV); this module serves 1-1000 keV.
    """
    try:
        e = np.array(energy_keV, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"energy_keV={energy_keV!r} is not numeric") from None
    if e.size == 0:
        return e
    bad = ~np.isfinite(e) | (e < ENERGY_MIN_KEV) | (e > ENERGY_MAX_KEV)
    if np.any(bad):
        first = e[bad].flat[0]
        raise ValueError(
            f"energy_keV={first} is out of range [{ENERGY_MIN_KEV:g}, {ENERGY_MAX_KEV:g}] keV"
        )
    return e


# --------------------------------------------------------------------------- interpolation


def _segments(nodes: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Index i of the NIST segment [nodes[i], nodes[i+1]] holding each energy.

    An energy equal to an edge energy (listed twice) falls in the segment above the edge.
    """
    idx = np.searchsorted(nodes, e, side="right") - 1
    return np.clip(idx, 0, nodes.size - 2)


def _loglog(nodes: np.ndarray, values: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Log-log interpolation of a NIST column with duplicated edge rows."""
    i = _segments(nodes, e)
    x0, x1 = np.log(nodes[i]), np.log(nodes[i + 1])
    y0, y1 = np.log(values[i]), np.log(values[i + 1])
    t = (np.log(e) - x0) / (x1 - x0)
    return np.exp(y0 + t * (y1 - y0))


@dataclass(frozen=True)
class _Curvature:
    """Per-segment anchors of the xraylib curvature term for one table."""

    lo_keV: np.ndarray  # sampling start of each segment [keV]
    hi_keV: np.ndarray  # sampling end [keV]
    log_g_lo: np.ndarray  # log xraylib at lo
    log_g_hi: np.ndarray  # log xraylib at hi
    usable: np.ndarray  # bool: curvature term applied in this segment


_CURVATURE_PROBES = 8  # sample points per segment used to vet the curvature term


@functools.cache
def _curvature(kind: str, table: str, elements: tuple[tuple[int, float], ...]) -> _Curvature:
    """Build the curvature anchors of a NIST table from its xraylib composition."""
    nodes = _read_table(table).energy_keV
    n_seg = nodes.size - 1
    lo = nodes[:-1].copy()
    hi = nodes[1:].copy()
    usable = (hi > lo) & (hi <= _XRAYLIB_MAX_KEV) & bool(elements)
    # nudge away from edges (a node listed twice)
    starts_at_edge = np.r_[False, nodes[1:-1] == nodes[:-2]]
    ends_at_edge = np.r_[nodes[1:-1] == nodes[2:], False]
    lo = np.where(starts_at_edge, lo * (1 + _EDGE_NUDGE), lo)
    hi = np.where(ends_at_edge, hi * (1 - _EDGE_NUDGE), hi)
    usable &= hi > lo
    if elements:
        edges = np.array(sorted({x for z, _ in elements for x in _xraylib_edges(z)}))
        for k in np.flatnonzero(usable):
            if np.any((edges > lo[k]) & (edges < hi[k])):
                usable[k] = False
    log_g_lo = np.zeros(n_seg)
    log_g_hi = np.zeros(n_seg)
    if np.any(usable):
        u = np.flatnonzero(usable)
        log_g_lo[u] = np.log(_model(kind, elements, lo[u]))
        log_g_hi[u] = np.log(_model(kind, elements, hi[u]))
        # vet: sample each usable segment; reject segments with an unexpected jump
        frac = np.linspace(0.0, 1.0, _CURVATURE_PROBES)
        le = np.log(lo[u])[:, None] + frac[None, :] * np.log(hi[u] / lo[u])[:, None]
        g = np.log(_model(kind, elements, np.exp(le).ravel())).reshape(le.shape)
        lin = log_g_lo[u][:, None] + frac[None, :] * (log_g_hi[u] - log_g_lo[u])[:, None]
        steps = np.abs(np.diff(g - lin, axis=1)).max(axis=1)
        bad = (np.abs(g - lin).max(axis=1) > _MAX_CURVATURE_LOG) | (steps > _MAX_CURVATURE_STEP)
        usable[u[bad]] = False
    return _Curvature(lo, hi, log_g_lo, log_g_hi, usable)


def _table_value(kind: str, mat: Material, e: np.ndarray) -> np.ndarray:
    """NIST-anchored coefficient ``kind`` of a tabulated material [cm^2/g].

    Log-log interpolation of the NIST column times exp(curvature of the xraylib model between
    the same two NIST energies); exact at the NIST energies.
    """
    tab = _read_table(mat.table)
    column = tab.mu_rho if kind == "mu" else tab.mu_en_rho
    out = _loglog(tab.energy_keV, column, e)
    if not mat.elements or not HAVE_MODELS:
        return out
    cur = _curvature(kind, mat.table, mat.elements)
    i = _segments(tab.energy_keV, e)
    use = cur.usable[i]
    if not np.any(use):
        return out
    iu = i[use]
    lo, hi = cur.lo_keV[iu], cur.hi_keV[iu]
    eu = np.clip(e[use], lo, hi)
    t = np.log(eu / lo) / np.log(hi / lo)
    lin = cur.log_g_lo[iu] + t * (cur.log_g_hi[iu] - cur.log_g_lo[iu])
    f = np.log(_model(kind, mat.elements, eu)) - lin
    out[use] *= np.exp(f)
    return out


@functools.lru_cache(maxsize=512)
def _coefficient(kind: str, name: str, e_bytes: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Cached coefficient array (read-only) for one material and energy array."""
    e = np.frombuffer(e_bytes, dtype=np.float64).reshape(shape)
    mat = _REGISTRY[name]
    flat = e.ravel()
    if mat.table is not None:
        out = _table_value(kind, mat, flat)
    else:
        out = np.zeros_like(flat)
        for comp, w in mat.components:
            out += w * _coefficient(kind, comp, e_bytes, shape).ravel()
    out = out.reshape(shape)
    out.setflags(write=False)
    return out


def _lookup(kind: str, material: str, energy_keV: object) -> np.ndarray:
    name = check_material(material)
    e = check_energy(energy_keV)
    return _coefficient(kind, name, e.tobytes(), e.shape)


def mu_rho(material: str, energy_keV: object) -> np.ndarray:
    """Mass attenuation coefficient (with coherent scattering).

    NIST values at the tabulated energies; between them log-log interpolation plus the
    curvature of xraylib's CS_Total (see module docstring). Edges at the NIST energies.

    Parameters
    ----------
    material : str
        Material name (see ``known_materials``).
    energy_keV : array_like
        Photon energies in [1, 1000] [keV].

    Returns
    -------
    numpy.ndarray
        mu/rho, same shape as ``energy_keV``, read-only, float64 [cm^2/g].

    References
    ----------
    Hubbell & Seltzer, NIST SRD 126; Schoonjans et al., Spectrochim. Acta B 66 (2011) 776.
    """
    return _lookup("mu", material, energy_keV)


def mu_en_rho(material: str, energy_keV: object) -> np.ndarray:
    """Mass energy-absorption coefficient.

    Log-log interpolation of the NIST table between tabulated energies (edges kept); mixtures by
    mass fraction (neglecting the compound effect on fluorescence escape).

    Parameters
    ----------
    material : str
        Material name (see ``known_materials``).
    energy_keV : array_like
        Photon energies in [1, 1000] [keV].

    Returns
    -------
    numpy.ndarray
        mu_en/rho, same shape as ``energy_keV``, read-only, float64 [cm^2/g].

    References
    ----------
    Hubbell & Seltzer, NIST SRD 126.
    """
    return _lookup("mu_en", material, energy_keV)


def mu_per_mm(material: str, energy_keV: object) -> np.ndarray:
    """Linear attenuation coefficient.

    Parameters
    ----------
    material : str
        Material name (see ``known_materials``).
    energy_keV : array_like
        Photon energies in [1, 1000] [keV].

    Returns
    -------
    numpy.ndarray
        mu = (mu/rho) * rho, same shape as ``energy_keV``, float64 [1/mm].

    References
    ----------
    Hubbell & Seltzer, NIST SRD 126.
    """
    return mu_rho(material, energy_keV) * density_g_cm3(material) / MM_PER_CM


_register_barium()  # after _finite_float is defined
