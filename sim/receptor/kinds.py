"""The receptor types behind one interface: :class:`FlatPanel` and :class:`ImageIntensifier`.

Everything that differs between receptor types is a method or property of :class:`Receptor`;
the rest of the simulator asks the object and never compares ``receptor.kind`` to a string.
Build one with :func:`of` from the ``receptor`` section of the knobs and the field of view:

    rx = sim.receptor.of(params.receptor, params.geometry.fov_cm)
    rx.weights(energy_keV); rx.mtf(f); rx.view_mask(field_mask, pixel_mm); ...

The kind names are the choices of the ``receptor.kind`` knob (:data:`RECEPTORS`). To add a
receptor type: a frozen dataclass implementing :class:`Receptor` here, its entry in
:data:`RECEPTORS`, and its name among the knob's choices in :mod:`sim.params` (with its label in
``classroom/controls.py``).

The functions at the end (:func:`receptor_weights`, :func:`receptor_figures`, :func:`dqe0`,
:func:`mtf`) take a :class:`Receptor` or, for convenience, a whole ``sim.Params``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sim.receptor import absorption, intensifier
from sim.receptor.absorption import OPTICAL_SWANK, Layers, gain_e_per_keV
from sim.receptor.blur import aperture_extra_mm, blur, phosphor_range_mm
from sim.receptor.blur import mtf as blur_mtf
from sim.receptor.noise import standard_normal_f32
from sim.units import MM_PER_UM
from sim.validate import check_number

FP_COVER_LAYERS: Layers = (("carbon_fibre", 1.0),)
# guess: flat-panel entrance cover, 1 mm carbon-fibre composite [(material, mm)].

CENTRE_FRACTION = 0.125
"""Side of the central region (fraction of the image side) used for the DQE(0) of a frame and
the image intensifier's camera gain [-]."""


def centre(shape: tuple[int, int]) -> tuple[slice, slice]:
    """The central region of an image (:data:`CENTRE_FRACTION` of each side)."""
    ny, nx = shape
    hy = max(1, int(round(ny * CENTRE_FRACTION / 2)))
    hx = max(1, int(round(nx * CENTRE_FRACTION / 2)))
    return slice(ny // 2 - hy, ny // 2 + hy), slice(nx // 2 - hx, nx // 2 + hx)


class Receptor(ABC):
    """What the chain needs from an image receptor.

    Subclasses are frozen (hashable) dataclasses built by :func:`of`. Units: images in keV
    absorbed in the phosphor per simulated pixel; ``pixel_mm`` is the simulated pixel at the
    receptor plane.
    """

    kind: ClassVar[str]
    """The ``receptor.kind`` knob value of this type."""

    lag: float
    """First-frame image lag fraction [-]."""

    # ---- construction
    @classmethod
    @abstractmethod
    def from_section(cls, section: Any, fov_cm: float | None) -> Receptor:
        """The receptor of the ``receptor`` knob section and the field of view [cm]."""

    @classmethod
    @abstractmethod
    def absorber_for(cls, csi_um: float) -> tuple[float, Layers]:
        """CsI thickness [um] and entrance layers of this type for the knob ``csi_um``."""

    # ---- absorption and noise figures
    @property
    @abstractmethod
    def absorber(self) -> tuple[float, Layers]:
        """CsI thickness [um] and the entrance layers in front of it."""

    @property
    @abstractmethod
    def native_pixel_mm(self) -> float:
        """Native (binned) detector pixel, or camera pixel referred to the input [mm]."""

    @property
    @abstractmethod
    def additive_sigma_keV(self) -> float:
        """Additive noise per native pixel (electronics, camera) in keV absorbed [keV]."""

    @property
    @abstractmethod
    def electrons_per_keV(self) -> float:
        """Photodiode electrons per keV absorbed; 0 when there is no such readout [e-/keV]."""

    @property
    def optics_sigma_mm(self) -> float:
        """Gaussian blur after the phosphor (electron and camera optics), 0 for none [mm]."""
        return 0.0

    @property
    def phosphor_range_mm(self) -> float:
        """Range of the phosphor's exponential line-spread function [mm]."""
        return phosphor_range_mm(self.absorber[0])

    def weights(self, energy_keV: Any) -> dict[str, np.ndarray]:
        """Energy weights per photon per mm^2 (:func:`receptor_weights`)."""
        return absorption.weights(energy_keV, *self.absorber)

    def dqe_from_moments(self, q: float, m0: float, m1: float, m2: float) -> dict:
        """DQE(0) and its factors from fluence and deposition moments per mm^2."""
        return absorption.dqe_from_moments(
            q, m0, m1, m2, self.additive_sigma_keV, self.native_pixel_mm
        )

    def figures(self, spectrum_at_receptor: Any, receptor_kerma_nGy: float) -> dict[str, float]:
        """QDE, Swank factors, gain and DQE(0) (:func:`receptor_figures`)."""
        return absorption.spectrum_figures(
            self.weights,
            spectrum_at_receptor,
            receptor_kerma_nGy,
            self.additive_sigma_keV,
            self.native_pixel_mm,
        )

    def mtf(self, f_cyc_per_mm: Any) -> np.ndarray:
        """Presampled MTF along a detector axis (:func:`mtf`)."""
        f = np.asarray(f_cyc_per_mm, dtype=np.float64)
        if not np.all(np.isfinite(f)) or np.any(f < 0):
            raise ValueError("f_cyc_per_mm must be finite and >= 0 [1/mm]")
        return blur_mtf(f, self.phosphor_range_mm, self.optics_sigma_mm, self.native_pixel_mm)

    # ---- image formation (hooks: distortion before the noise, effects after the blur)
    def distort(
        self, mean: np.ndarray, m2: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Geometric distortion of the mean and second-moment maps before the noise."""
        return mean, m2

    def distort_variance(self, m2: np.ndarray) -> np.ndarray:
        """The distortion of :meth:`distort` applied to a noise variance map alone."""
        return m2

    def after_blur(self, stack: np.ndarray, pixel_mm: float) -> np.ndarray:
        """Effects after the blur on a stack (noisy, noise-free) or (noise-free,) [keV]."""
        return stack

    def scale_noise(self, noise: np.ndarray, pixel_mm: float) -> np.ndarray:
        """The linear part of :meth:`after_blur` applied to blurred noise alone."""
        return noise

    def noise_gain(self, shape: tuple[int, int], pixel_mm: float) -> np.ndarray | None:
        """The factor :meth:`scale_noise` applies, as one map (None: 1)."""
        return None

    def pipeline(
        self, mean: np.ndarray, m2: np.ndarray | None, pixel_mm: float, rng: Any
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Mean (and quantum-noise) images through the receptor: (signal, expected, w).

        ``mean`` is the absorbed energy per simulated pixel [keV]; ``m2`` its second moment per
        pixel [keV^2] or None for the noise-free image only; ``w`` the extra aperture [mm].
        Distortion (:meth:`distort`), quantum noise, blur, then :meth:`after_blur`.
        """
        w = aperture_extra_mm(self.native_pixel_mm, pixel_mm)
        a = self.phosphor_range_mm
        mean, m2 = self.distort(mean, m2)
        if m2 is not None:
            stack = np.empty((2, *mean.shape), dtype=np.float32)
            noisy = stack[0]
            np.multiply(m2, np.float32(1.0 / OPTICAL_SWANK), out=noisy)
            np.sqrt(noisy, out=noisy)
            noisy *= standard_normal_f32(rng, mean.shape)
            noisy += mean
            stack[1] = mean
        else:
            stack = mean[None]
        stack = blur(stack, pixel_mm, a, self.optics_sigma_mm, w)
        stack = self.after_blur(stack, pixel_mm)
        return stack[0], stack[-1], w

    def noise_only(
        self, expected: np.ndarray, m2: np.ndarray | None, pixel_mm: float, rng: Any
    ) -> np.ndarray:
        """``expected`` plus the quantum noise taken through the (linear) receptor response.

        ``m2`` is used as scratch space (overwritten).

        The operators of :meth:`pipeline` act on the noise alone: distortion of the variance,
        blur, and the linear part of :meth:`after_blur` (:meth:`scale_noise`).
        """
        expected = np.asarray(expected, dtype=np.float32)
        if m2 is None:
            return expected.copy()
        w = aperture_extra_mm(self.native_pixel_mm, pixel_mm)
        a = self.phosphor_range_mm
        m2 = self.distort_variance(m2)  # overwritten below: the caller's scratch map
        noise = np.multiply(m2, np.float32(1.0 / OPTICAL_SWANK), out=m2)
        np.sqrt(noise, out=noise)
        noise *= standard_normal_f32(rng, noise.shape)
        noise = blur(noise[None], pixel_mm, a, self.optics_sigma_mm, w)[0]
        noise = self.scale_noise(noise, pixel_mm)
        noise += expected  # noise is a fresh array of this call
        return noise

    @abstractmethod
    def flat_field(self, energy_keV_per_mm2: float, n: int, pixel_mm: float) -> np.ndarray:
        """Noise-free image (n, n) of a uniform input of absorbed energy per mm^2 [keV/px]."""

    @abstractmethod
    def gain_reference(self, open_field: np.ndarray) -> np.ndarray:
        """The image the processing divides by, from the open-field image [keV per pixel]."""

    @abstractmethod
    def view_mask(self, field_mask: np.ndarray, pixel_mm: float) -> np.ndarray:
        """Where the receptor shows X-rays, from the collimated field mask [-]."""

    @abstractmethod
    def abc_target_factor(self, reference_fov_cm: float) -> float:
        """Factor on the ABC's receptor air-kerma target, relative to this type at
        ``reference_fov_cm`` [-]."""


def _uniform(value: float, n: int) -> np.ndarray:
    """A uniform float32 image (n, n) of ``value``, as a read-only broadcast view."""
    return np.broadcast_to(np.float32(value), (n, n))


@dataclass(frozen=True)
class FlatPanel(Receptor):
    """CsI:Tl indirect flat panel behind a carbon-fibre cover, a-Si:H photodiodes.

    Gain-calibrated pixel by pixel against an open field (Seibert, Boone & Lindfors, Proc.
    SPIE 3336:348 (1998)), so the heel effect, the inverse-square fall-off and the pixel gains
    are removed; electronic noise per native pixel, digital binning.
    """

    kind: ClassVar[str] = "flat_panel"
    csi_um: float
    pixel_um: float
    binning: int
    electronic_noise_e: float
    lag: float

    def __post_init__(self) -> None:
        lo, hi = absorption.CSI_UM_RANGE
        check_number("receptor.csi_um", self.csi_um, lo, hi, "um")

    @classmethod
    def from_section(cls, section: Any, fov_cm: float | None = None) -> FlatPanel:
        return cls(
            csi_um=float(section.csi_um),
            pixel_um=float(section.pixel_um),
            binning=int(section.binning),
            electronic_noise_e=float(section.electronic_noise_e),
            lag=float(section.lag),
        )

    @classmethod
    def absorber_for(cls, csi_um: float) -> tuple[float, Layers]:
        return float(csi_um), FP_COVER_LAYERS

    @property
    def absorber(self) -> tuple[float, Layers]:
        return self.absorber_for(self.csi_um)

    @property
    def native_pixel_mm(self) -> float:
        return float(self.pixel_um) * MM_PER_UM * int(self.binning)

    @property
    def additive_sigma_keV(self) -> float:
        # digital binning: a binned pixel sums binning^2 native pixels, each with sigma_e
        return float(self.electronic_noise_e) * int(self.binning) / gain_e_per_keV()

    @property
    def electrons_per_keV(self) -> float:
        return gain_e_per_keV()

    def flat_field(self, energy_keV_per_mm2: float, n: int, pixel_mm: float) -> np.ndarray:
        # the panel's blur is normalised with reflecting edges: a uniform input stays uniform
        # (one value seen as the image: a read-only view, no memory)
        return _uniform(energy_keV_per_mm2 * float(pixel_mm) ** 2, n)

    def gain_reference(self, open_field: np.ndarray) -> np.ndarray:
        return open_field

    def view_mask(self, field_mask: np.ndarray, pixel_mm: float) -> np.ndarray:
        return field_mask

    def abc_target_factor(self, reference_fov_cm: float) -> float:
        return 1.0


@dataclass(frozen=True)
class ImageIntensifier(Receptor):
    """CsI image intensifier with a TV camera (:mod:`sim.receptor.intensifier`).

    ``fov_cm`` is the input field in use (magnification mode), in [15, 40] cm; ``glare`` the
    veiling-glare fraction. The TV chain has no per-pixel gain correction: its camera gain is
    set on the centre of the output, so vignetting, the pincushion's brightness fall-off and
    the glare stay on the display (Bushberg et al. 2012, ch. 9).
    """

    kind: ClassVar[str] = "image_intensifier"
    fov_cm: float
    glare: float
    lag: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "fov_cm", intensifier.check_ii_fov(self.fov_cm))
        check_number("receptor.ii_glare", self.glare, 0.0, 1.0)

    @classmethod
    def from_section(cls, section: Any, fov_cm: float | None) -> ImageIntensifier:
        if fov_cm is None:
            raise ValueError(
                "the image intensifier needs geometry.fov_cm: pass fov_cm or a sim.Params"
            )
        return cls(fov_cm=fov_cm, glare=float(section.ii_glare), lag=float(section.lag))

    @classmethod
    def absorber_for(cls, csi_um: float) -> tuple[float, Layers]:
        return intensifier.II_CSI_UM, intensifier.II_WINDOW_LAYERS

    @property
    def absorber(self) -> tuple[float, Layers]:
        return self.absorber_for(intensifier.II_CSI_UM)

    @property
    def native_pixel_mm(self) -> float:
        return intensifier.camera_pixel_mm(self.fov_cm)

    @property
    def additive_sigma_keV(self) -> float:
        return intensifier.II_CAMERA_NOISE_KEV

    @property
    def electrons_per_keV(self) -> float:
        return 0.0

    @property
    def optics_sigma_mm(self) -> float:
        return intensifier.optics_sigma_mm(self.fov_cm)

    def _remap(self, shape: tuple[int, int]) -> intensifier.Remap:
        return intensifier.pincushion_remap(shape, intensifier.pincushion_k(self.fov_cm))

    def distort(
        self, mean: np.ndarray, m2: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # each output pixel sees input area / local areal magnification: the stretched
        # periphery gets fewer quanta
        remap = self._remap(mean.shape)
        mean = remap.apply(mean) * remap.inv_jacobian
        if m2 is not None:
            m2 = remap.apply_nearest(m2) * remap.inv_jacobian
        return mean, m2

    def distort_variance(self, m2: np.ndarray) -> np.ndarray:
        remap = self._remap(m2.shape)
        return remap.apply_nearest(m2) * remap.inv_jacobian

    def after_blur(self, stack: np.ndarray, pixel_mm: float) -> np.ndarray:
        g = self.glare
        if g > 0.0:
            # veiling glare (1 - g) x + g (x ** K): the glare term of the noise is averaged
            # over cm^2 and negligible, so K acts on the noise-free image, shared by both
            glare = np.float32(g) * intensifier.glare_spread(stack[-1], pixel_mm, self.fov_cm)
            stack = stack * np.float32(1.0 - g) + glare
        stack *= intensifier.ii_output_map(stack.shape[-2:], pixel_mm, self.fov_cm)
        return stack

    def scale_noise(self, noise: np.ndarray, pixel_mm: float) -> np.ndarray:
        noise *= np.float32(1.0 - self.glare)
        noise *= intensifier.ii_output_map(noise.shape, pixel_mm, self.fov_cm)
        return noise

    def noise_gain(self, shape: tuple[int, int], pixel_mm: float) -> np.ndarray:
        return intensifier.ii_output_map(shape, pixel_mm, self.fov_cm) * np.float32(
            1.0 - self.glare
        )

    def flat_field(self, energy_keV_per_mm2: float, n: int, pixel_mm: float) -> np.ndarray:
        flat = np.full((n, n), energy_keV_per_mm2, dtype=np.float32)
        px = float(pixel_mm)
        _, out, _ = self.pipeline(flat * np.float32(px**2), None, px, None)
        return np.ascontiguousarray(out, dtype=np.float32)

    def gain_reference(self, open_field: np.ndarray) -> np.ndarray:
        # a uniform image at the open field's central value: the camera gain set on the centre
        c = centre(open_field.shape)
        return _uniform(float(np.mean(open_field[c])), open_field.shape[0])

    def view_mask(self, field_mask: np.ndarray, pixel_mm: float) -> np.ndarray:
        # only the circular input field shows X-rays
        return field_mask * (intensifier.ii_output_map(field_mask.shape, pixel_mm, self.fov_cm) > 0)

    def abc_target_factor(self, reference_fov_cm: float) -> float:
        # brightness gain proportional to the minification (FOV)^2
        return (reference_fov_cm / self.fov_cm) ** 2


RECEPTORS: dict[str, type[Receptor]] = {
    FlatPanel.kind: FlatPanel,
    ImageIntensifier.kind: ImageIntensifier,
}
"""The receptor types by ``receptor.kind``."""

KINDS = tuple(RECEPTORS)


def of(section: Any, fov_cm: float | None = None) -> Receptor:
    """The receptor of a ``receptor`` knob section (``sim.Params().receptor``).

    Parameters
    ----------
    section : sim.params.Receptor
        The receptor knobs (``kind`` picks the type).
    fov_cm : float, optional
        Field of view at the receptor, ``geometry.fov_cm``; required by the image intensifier
        (its input field, in [15, 40]) [cm].

    Returns
    -------
    Receptor
        A frozen, hashable :class:`FlatPanel` or :class:`ImageIntensifier`.
    """
    kind = getattr(section, "kind", None)
    cls = RECEPTORS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"receptor.kind={kind!r} is invalid: expected one of {KINDS}")
    return cls.from_section(section, fov_cm)


def as_receptor(x: Any) -> Receptor:
    """A :class:`Receptor` as is, or the receptor of a ``sim.Params`` (or receptor section)."""
    if isinstance(x, Receptor):
        return x
    section = getattr(x, "receptor", x)
    if not hasattr(section, "kind") or not hasattr(section, "csi_um"):
        raise ValueError(
            "params must be a sim.Params (or its receptor section) or a sim.receptor.Receptor, "
            f"got {type(x).__name__}"
        )
    g = getattr(x, "geometry", None)
    return of(section, None if g is None else g.fov_cm)


def receptor_class(kind: str) -> type[Receptor]:
    """The receptor type of a kind name, else ``ValueError``."""
    cls = RECEPTORS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"kind={kind!r} is invalid: expected one of {KINDS}")
    return cls


# --------------------------------------------------------------------------------------------
# functions of a receptor (a Receptor, or a sim.Params for convenience)
# --------------------------------------------------------------------------------------------
def deposition_moments(
    energy_keV: Any, csi_um: float = 600.0, kind: str = "flat_panel"
) -> dict[str, np.ndarray]:
    """Moments of the energy deposited in the CsI per incident photon.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies [keV].
    csi_um : float
        CsI thickness, in [200, 700] (ignored for the image intensifier) [um].
    kind : str
        A receptor kind, ``"flat_panel"`` or ``"image_intensifier"``.

    Returns
    -------
    dict of str to numpy.ndarray
        As :func:`sim.receptor.absorption.deposition_moments` (with its references), for the
        CsI and entrance layers of that kind.
    """
    cls = receptor_class(kind)
    lo, hi = absorption.CSI_UM_RANGE
    csi = check_number("csi_um", csi_um, lo, hi, "um")
    e = absorption.check_energy(energy_keV)
    return absorption.moments(e, *cls.absorber_for(csi))


def quantum_detection_efficiency(
    energy_keV: Any, csi_um: float = 600.0, kind: str = "flat_panel"
) -> np.ndarray:
    """Probability that a photon crosses the cover and interacts in the CsI layer.

    ``QDE(E) = T_cover(E) * (1 - exp(-mu_CsI(E) * f_pack * L))`` with the total attenuation of
    CsI (xraylib) at packing fraction ``absorption.CSI_PACKING_FRACTION``.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies [keV].
    csi_um : float
        CsI thickness, in [200, 700] (ignored for the image intensifier: 400 um) [um].
    kind : str
        ``"flat_panel"`` or ``"image_intensifier"``.

    Returns
    -------
    numpy.ndarray
        QDE per energy, in [0, 1] [-].

    References
    ----------
    J. H. Hubbell, S. M. Seltzer, NIST SRD 126, via xraylib (Schoonjans et al. 2011);
    Swank, J. Appl. Phys. 44:4199 (1973).
    """
    return deposition_moments(energy_keV, csi_um, kind)["qde"]


def receptor_weights(receptor: Any, energy_keV: Any) -> dict[str, np.ndarray]:
    """Energy weights of the receptor, per photon per mm^2, for ``projection.integrate``.

    Parameters
    ----------
    receptor : Receptor or sim.Params
        The receptor (of a Params: ``receptor.*`` and ``geometry.fov_cm``).
    energy_keV : array_like
        Photon energies, normally ``sim.spectrum.ENERGY_KEV`` [keV].

    Returns
    -------
    dict of str to numpy.ndarray
        As :func:`sim.receptor.absorption.weights` (with its references), for this receptor.
    """
    return as_receptor(receptor).weights(energy_keV)


def receptor_figures(
    receptor: Any, spectrum_at_receptor: Any, receptor_kerma_nGy: float
) -> dict[str, float]:
    """QDE, Swank factors, gain and DQE(0) for a spectrum and air kerma at the receptor.

    Parameters
    ----------
    receptor : Receptor or sim.Params
        The receptor.
    spectrum_at_receptor : sim.spectrum.Spectrum
        Spectrum reaching the receptor; only its shape matters [1/(mm^2 mAs)].
    receptor_kerma_nGy : float
        Air kerma at the receptor per frame, in (0, 1e7] [nGy].

    Returns
    -------
    dict of str to float
        ``qde`` (spectrum-averaged QDE), ``swank_x`` (x-ray Swank factor), ``swank``
        (x-ray x optical), ``dqe0_quantum`` (= qde x swank, no additive noise),
        ``additive_to_quantum`` (additive / quantum noise variance), ``dqe0``,
        ``fluence_per_nGy`` [1/(mm^2 nGy)], ``quanta_per_native_pixel`` (incident),
        ``gain_e_per_keV``.

    References
    ----------
    Swank (1973); I. A. Cunningham, "Applied linear-systems theory", in Handbook of Medical
    Imaging Vol. 1, SPIE (2000), ch. 2: DQE(0) = QDE x I / (1 + additive/quantum variance).
    """
    return as_receptor(receptor).figures(spectrum_at_receptor, receptor_kerma_nGy)


def dqe0(receptor: Any, spectrum_at_receptor: Any, receptor_kerma_nGy: float) -> float:
    """Zero-frequency detective quantum efficiency at a given receptor air kerma.

    ``DQE(0) = QDE * I_x * I_opt / (1 + sigma_add^2 / sigma_quantum^2)``, with the variances
    per native pixel at that kerma (electronic noise for the flat panel, camera noise for the
    image intensifier).

    Parameters
    ----------
    receptor : Receptor or sim.Params
        The receptor.
    spectrum_at_receptor : sim.spectrum.Spectrum
        Spectrum at the receptor (shape only) [1/(mm^2 mAs)].
    receptor_kerma_nGy : float
        Air kerma at the receptor per frame [nGy].

    Returns
    -------
    float
        DQE(0) [-].

    References
    ----------
    Swank (1973); Cunningham (2000); Granfors & Aufrichtig (2000) and Samei & Flynn (2003)
    for measured CsI panels at RQA5 (DQE(0) ~ 0.65-0.75).
    """
    return float(receptor_figures(receptor, spectrum_at_receptor, receptor_kerma_nGy)["dqe0"])


def mtf(receptor: Any, f_cyc_per_mm: Any) -> np.ndarray:
    """Presampled MTF along a detector axis: phosphor x (II optics) x pixel aperture.

    Flat panel: ``1/(1 + (2 pi a f)^2) * |sinc(p f)|`` with a = 0.195 L (exponential LSF of a
    CsI layer of thickness L, guess calibrated to published panels) and p the native (binned)
    pixel. Image intensifier: 400 um CsI phosphor x Gaussian of the electron optics / output
    phosphor referred to the input (sigma scales with the FOV) x camera-pixel sinc.

    Parameters
    ----------
    receptor : Receptor or sim.Params
        The receptor.
    f_cyc_per_mm : array_like
        Spatial frequencies at the receptor plane, >= 0 [1/mm].

    Returns
    -------
    numpy.ndarray
        MTF values in [0, 1], 1 at f = 0 [-].

    References
    ----------
    Zhao, Ristic & Rowlands, Med. Phys. 31:2594 (2004); Samei & Flynn, Med. Phys. 30:608
    (2003); Boone et al., Med. Phys. 18:236 (1991) (II MTF).
    """
    return as_receptor(receptor).mtf(f_cyc_per_mm)
