"""fluorosim classroom app (Streamlit): widgets -> Params -> cached simulate() -> views.

Holds no physics: every number comes from ``sim``. Widgets are generated from the knob table
(``sim.params.KNOBS``), so each has the knob's unit, default and range.
"""

from __future__ import annotations

import gc

import numpy as np
import streamlit as st

from sim.params import KNOBS, Params
from sim.plotting import series_figure, spectrum_figure, to_uint8
from sim.presets import PRESETS

gc.freeze()  # keep start-up objects out of every later collection (STREAMLIT-NOTES.md)

# Slider steps for the knobs shown; other float knobs get a step from their range.
STEPS = {
    "tube.kvp": 1.0,
    "tube.ma": 0.5,
    "tube.pulse_ms": 0.5,
    "tube.pulse_rate_pps": 0.5,
    "tube.anode_angle_deg": 1.0,
    "filtration.al_mm": 0.1,
    "filtration.cu_mm": 0.05,
    "geometry.sid_cm": 1.0,
    "geometry.source_skin_cm": 1.0,
    "geometry.field_cm": 1.0,
    "geometry.fov_cm": 1.0,
    "patient.thickness_cm": 1.0,
    "patient.needle_progress": 0.05,
    "patient.contrast_ml": 0.5,
    "patient.contrast_mg_i_per_ml": 10.0,
    "grid.ratio": 1.0,
    "receptor.csi_um": 50.0,
    "run.fluoro_time_s": 1.0,
    "processing.recursive_weight": 0.05,
}

SIDEBAR = {
    "Tube": ["tube.kvp", "tube.ma", "tube.pulse_ms", "tube.pulse_rate_pps", "tube.anode_angle_deg"],
    "Filtration": ["filtration.al_mm", "filtration.cu_mm"],
    "Geometry": [
        "geometry.sid_cm",
        "geometry.source_skin_cm",
        "geometry.field_cm",
        "geometry.fov_cm",
    ],
    "Patient": [
        "patient.phantom",
        "patient.thickness_cm",
        "patient.needle_progress",
        "patient.contrast_ml",
        "patient.contrast_mg_i_per_ml",
    ],
    "Scatter and grid": ["scatter.enabled", "grid.enabled", "grid.ratio"],
    "Receptor": ["receptor.kind", "receptor.csi_um"],
    "Automatic brightness control": ["abc.enabled", "abc.mode", "abc.curve"],
    "Processing": ["processing.log", "processing.edge_strength", "processing.invert"],
    "Fluoroscopy run": [
        "run.fluoro_time_s",
        "processing.recursive_weight",
        "processing.frame_average",
        "processing.dsa",
    ],
}
DEFAULTS = "(defaults: adult hip, ABC on)"
GIF_FRAMES = 90  # most frames sent to the browser as one animated GIF
GIF_PX = 320  # their side [px]


def widget(name: str):
    """A widget for one knob, labelled with its help and unit, keyed by its dotted name.

    The value lives in ``st.session_state[name]`` (seeded with the knob's default), so a
    scenario can set it before the widget is drawn.
    """
    k = KNOBS[name]
    unit = f" [{k.unit}]" if k.unit not in ("-", "") else ""
    label = f"{k.help.rstrip('.')}{unit}"
    st.session_state.setdefault(name, k.default)
    if k.kind is bool:
        return st.checkbox(label, key=name)
    if k.choices is not None:
        return st.selectbox(label, k.choices, key=name)
    if k.kind is int:
        return st.slider(label, int(k.min), int(k.max), key=name)
    step = STEPS.get(name, 10 ** np.floor(np.log10((k.max - k.min) / 100.0)))
    if (k.max - k.min) / step > 2000:  # too fine for a slider: type it
        return st.number_input(label, float(k.min), float(k.max), step=float(step), key=name)
    return st.slider(label, float(k.min), float(k.max), step=float(step), key=name)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_spectra(kvp: float, angle: float, al_mm: float, cu_mm: float):
    """Tube spectrum and filtered spectrum with their figures of merit."""
    from sim.spectrum import tube_spectrum

    tube = tube_spectrum(kvp=kvp, anode_angle_deg=angle)
    filtered = tube.filtered({"Al": al_mm, "Cu": cu_mm})
    figures = {
        "HVL1 [mm Al]": filtered.hvl_mm_al(),
        "HVL2 [mm Al]": filtered.hvl2_mm_al(),
        "Homogeneity coefficient": filtered.homogeneity(),
        "Mean energy [keV]": filtered.mean_energy_keV(),
        "Air kerma at 100 cm [µGy/mAs]": filtered.air_kerma_uGy_per_mAs(100.0),
    }
    return tube, filtered, figures


def apply_preset() -> None:
    """Load the chosen scenario: every knob it sets, shown on the widgets."""
    name = st.session_state["preset"]
    p = Params() if name == DEFAULTS else PRESETS[name].params()
    st.session_state["base"] = p.to_dict()
    for names in SIDEBAR.values():
        for knob_name in names:
            st.session_state[knob_name] = p.get(knob_name)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_run(items: tuple):
    """A fluoroscopy run, its frames as one animated GIF, and its dose series."""
    import io

    from PIL import Image

    from sim.sequence import run

    r = run(Params.from_dict(dict(items)))
    keep = np.unique(np.linspace(0, len(r.frames) - 1, min(GIF_FRAMES, len(r.frames))).astype(int))
    frames = [Image.fromarray(r.frames[i]).resize((GIF_PX, GIF_PX)) for i in keep]
    step_ms = 1000.0 * r.times_s[-1] / max(len(keep) - 1, 1) if len(keep) > 1 else 100.0
    buf = io.BytesIO()
    frames[0].save(
        buf, format="GIF", save_all=True, append_images=frames[1:], duration=int(step_ms), loop=0
    )
    return buf.getvalue(), r.series, r.dose, r.technique


@st.cache_data(max_entries=32, show_spinner=False)
def cached_simulation(items: tuple):
    """The simulation for a tuple of (knob, value) pairs (scalars hash reliably)."""
    from sim.chain import simulate

    return simulate(Params.from_dict(dict(items)))


def spectrum_tab(p: Params, result=None) -> None:
    """The beam: spectrum before and after filtration, HVLs, mean energy, output."""
    tube, filtered, figures = cached_spectra(
        p.tube.kvp, p.tube.anode_angle_deg, p.filtration.al_mm, p.filtration.cu_mm
    )
    label = f"after {p.filtration.al_mm:g} mm Al + {p.filtration.cu_mm:g} mm Cu"
    st.pyplot(spectrum_figure({"at the tube (anode self-filtration only)": tube, label: filtered}))
    st.caption(
        "Tube output per mAs at 100 cm for the kVp and filters on the sliders. Model: SpekPy "
        "v2.0 spectra (Poludniowski et al. 2021) interpolated; NIST attenuation."
    )
    cols = st.columns(len(figures))
    for col, (name, value) in zip(cols, figures.items(), strict=True):
        col.metric(name, f"{value:.3g}")
    if result is not None:
        st.subheader("Through the chain (technique actually used, per frame)")
        chain_spectra = {
            "entering the patient": result.stages["spectrum_filtered"],
            "leaving the patient (field centre)": result.stages["spectrum_patient"],
            "absorbed in the receptor": result.stages["spectrum_absorbed"],
        }
        st.pyplot(spectrum_figure(chain_spectra, per_mas=False, normalise=True))


def image_tab(result) -> None:
    """The display image and the main numbers."""
    d, m, t = result.dose, result.metrics, result.technique
    left, right = st.columns([3, 2])
    left.image(result.image, caption="Displayed image (fluoroscopic look: more X-rays, brighter)")
    with right:
        abc = "set by ABC" if result.params.abc.enabled else "set on the sliders"
        st.markdown(f"**Technique** ({abc})")
        c = st.columns(2)
        c[0].metric("kVp [kV]", f"{t['kvp']:.1f}")
        c[1].metric("mA [mA]", f"{t['ma']:.1f}")
        c[0].metric("Pulse [ms]", f"{t['pulse_ms']:.1f}")
        c[1].metric("Cu [mm]", f"{t['cu_mm']:.2f}")
        if t.get("abc_limited"):
            st.warning("ABC is at the air-kerma-rate limit: the image is noisier than its target.")
        st.markdown("**Image and dose**")
        c = st.columns(2)
        c[0].metric("Receptor [nGy/frame]", f"{m['receptor_nGy_per_frame']:.1f}")
        c[1].metric("CNR", f"{m['cnr']:.2f}")
        c[0].metric("Ka,r rate [mGy/min]", f"{d['kar_rate_mGy_per_min']:.1f}")
        c[1].metric("SPR at receptor", f"{m['spr_after_grid']:.2f}")
        limit = d["limit_mGy_per_min"]
        if d["over_limit"]:
            st.error(f"Ka,r rate above the {limit:g} mGy/min limit of 21 CFR 1020.32.")
        else:
            st.caption(f"Limit (21 CFR 1020.32): {limit:g} mGy/min.")


def stages_tab(result) -> None:
    """Every image stage of the chain, side by side."""
    images = [(k, v) for k, v in result.stages.items() if getattr(v, "ndim", 0) == 2]
    cols = st.columns(3)
    for i, (name, img) in enumerate(images):
        cols[i % 3].image(to_uint8(img), caption=name.replace("_", " "))
    st.table({k: [f"{v:.4g}"] for k, v in result.metrics.items()})


def dose_tab(result) -> None:
    """Patient dose against the limits and the tissue-reaction thresholds."""
    d = result.dose
    c = st.columns(4)
    c[0].metric("Ka,r [mGy]", f"{d['kar_mGy']:.1f}")
    c[1].metric("KAP [Gy·cm²]", f"{d['kap_Gycm2']:.2f}")
    c[2].metric("Peak skin dose [mGy]", f"{d['peak_skin_dose_mGy']:.1f}")
    c[3].metric("Effective dose [mSv]", f"{d['effective_dose_mSv']:.2f}")
    st.caption(
        f"After {d['fluoro_time_s']:g} s of fluoroscopy. Skin: {d['reaction']}. "
        "Ka,r at the interventional reference point (15 cm from the isocentre toward the "
        "source), free in air; skin dose with backscatter (Benmakhlouf et al. 2011)."
    )
    st.table({k: [f"{v:.4g}" if isinstance(v, float) else str(v)] for k, v in d.items()})


def run_tab(p: Params) -> None:
    """A whole procedure: frames played in the browser, dose building up."""
    st.caption(
        f"{p.run.fluoro_time_s:g} s of fluoroscopy at the settings on the left: each pulse "
        "with its own noise, the needle advancing and contrast filling (hip), lag and recursive "
        "filtering, dose accumulated pulse by pulse."
    )
    if not st.button("Run the procedure", key="run_button"):
        return
    with st.spinner("Simulating the run..."):
        gif, series, dose, technique = cached_run(tuple(sorted(p.to_dict().items())))
    left, right = st.columns([1, 1])
    left.image(gif, caption="The run (played in the browser; last frame = last-image hold)")
    with right:
        st.pyplot(
            series_figure(
                series.time_s,
                {"Ka,r [mGy]": series.kar_mGy, "peak skin dose [mGy]": series.skin_dose_mGy},
                "cumulative dose [mGy]",
            )
        )
        c = st.columns(3)
        c[0].metric("Run Ka,r [mGy]", f"{dose['kar_mGy']:.1f}")
        c[1].metric("Run KAP [Gy·cm²]", f"{dose['kap_Gycm2']:.2f}")
        c[2].metric("Pulses", f"{dose['frames']:d}")


def main() -> None:
    """Lay out the page."""
    st.set_page_config(page_title="fluorosim", layout="wide")
    st.title("fluorosim: the fluoroscopy imaging chain")
    with st.sidebar:
        st.selectbox(
            "Scenario", [DEFAULTS, *PRESETS], key="preset", on_change=apply_preset,
            format_func=lambda n: n if n == DEFAULTS else PRESETS[n].title,
        )  # fmt: skip
        if st.session_state["preset"] != DEFAULTS:
            st.info(PRESETS[st.session_state["preset"]].text)
        for section, names in SIDEBAR.items():
            with st.expander(section, expanded=section in ("Tube", "Filtration")):
                for name in names:
                    widget(name)
    values = dict(st.session_state.get("base", {}))
    values.update({name: st.session_state[name] for names in SIDEBAR.values() for name in names})
    try:
        p = Params.from_dict(values)
    except ValueError as exc:
        st.error(str(exc))
        return
    tabs = st.tabs(["Image", "Stages", "Spectrum", "Dose", "Run"])
    try:
        result = cached_simulation(tuple(sorted(p.to_dict().items())))
        views = (
            (tabs[0], image_tab, result),
            (tabs[1], stages_tab, result),
            (tabs[2], lambda r: spectrum_tab(p, r), result),
            (tabs[3], dose_tab, result),
            (tabs[4], run_tab, p),
        )
        for tab, view, arg in views:
            with tab:
                view(arg)
    except ValueError as exc:  # a combination of settings the physics does not allow
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - a student sees a message, never a traceback
        st.error(f"The simulation failed ({type(exc).__name__}: {exc}). Please report it.")


main()
