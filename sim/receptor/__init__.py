"""Image receptor: CsI:Tl flat panel and CsI image intensifier.

What the receptor does to the X-ray fluence that reaches it, in the order of the chain:

1. **Absorption** (:func:`receptor_weights`). Energy weights applied by
   ``projection.integrate`` to the fluence at the receptor, per photon per mm^2:
   ``"quanta"`` (1), ``"kerma_uGy"`` (air kerma, from the NIST mu_en/rho of air via
   :mod:`sim.spectrum`), ``"abs_quanta"`` (quantum detection efficiency QDE(E): the probability
   that a photon crosses the entrance cover and interacts in the CsI layer),
   ``"abs_energy_keV"`` (first moment M1(E) of the energy deposited per incident photon) and
   ``"abs_energy2_keV2"`` (its second moment M2(E)). The deposited energy accounts for
   photoelectric absorption with K-fluorescence escape of Cs and I (depth-resolved escape of
   isotropic K x-rays from a slab, Dance & Day 1984; Chan & Doi 1983), Compton recoil electrons
   (Klein-Nishina energy transfer, scattered photon assumed lost) and coherent scattering
   (nothing deposited). The detector is energy integrating: its signal is proportional to the
   absorbed energy.
2. **Signal and quantum noise** (:func:`detect`). Mean absorbed energy per simulated pixel
   ``M1 * A``; Gaussian quantum noise of variance ``M2 * A / I_opt`` (compound Poisson:
   the real number of absorbed quanta and their deposited-energy spread, i.e. the x-ray Swank
   factor ``I_x = M1^2 / (M0 M2)``, times the optical Swank factor ``I_opt`` of CsI).
3. **Blur** (:func:`mtf`). Phosphor light spread (exponential line-spread function whose width
   grows with the CsI thickness, i.e. a Lorentzian MTF in f*L) and the pixel aperture, applied
   to signal *and* quantum noise together (noise generated before the blur, so it becomes
   correlated, as in a real phosphor). The blur acts on the simulated grid through a
   pixel-integrated 1-D kernel applied along x and y (a separable PSF: exact along the axes,
   where the presampled MTF is defined, approximate on the diagonals). When a simulated pixel
   spans several native pixels, its own area is the aperture; when it is smaller, an extra box
   of width sqrt(p^2 - d^2) renders the coarser native pixel p.
4. **Electronic noise**: additive, ``receptor.electronic_noise_e`` rms electrons per native
   pixel, converted with the gain in electrons per keV absorbed (light yield x optical
   coupling x photodiode efficiency); a simulated pixel covering ``n`` native pixels carries
   ``n * sigma_e^2`` (digital binning).
5. **Lag** (:func:`apply_lag`) for fluoroscopy runs: recursive first-frame lag.

The image intensifier (:class:`ImageIntensifier`, ``receptor.kind = "image_intensifier"``)
uses the same CsI absorption model for its 400 um input phosphor behind an aluminium input
window (``receptor.csi_um`` and ``receptor.pixel_um``/``binning``/``electronic_noise_e`` apply
to the flat panel, :class:`FlatPanel`, only), then:
pincushion distortion (a radial remap of the maps *before* the noise, dividing by the local
areal magnification, so the stretched periphery also gets fewer quanta per pixel), a poorer
MTF (electron optics, output phosphor and camera; sharper in magnification modes), veiling
glare (a fraction ``receptor.ii_glare`` of the light spread by a cm-wide exponential PSF),
cos^4 vignetting, and additive camera noise per camera pixel (1024 across the FOV).
Magnification modes: :func:`ii_brightness_gain` falls as FOV^2. The output is square, dark
outside the circular input field (:func:`ii_output_map`; :meth:`Receptor.view_mask`).

Units of the detected image: **keV absorbed in the CsI per simulated pixel** (multiply by
:attr:`Detected.gain_e_per_keV` for flat-panel electrons). The simulated pixel is the image
pixel of ``geometry.DetectorGrid`` (``pixel_mm`` at the receptor plane); it may be larger or
smaller than the native detector pixel ``receptor.pixel_um * receptor.binning``.

Layout: :mod:`~sim.receptor.kinds` (the :class:`Receptor` interface, :class:`FlatPanel`,
:class:`ImageIntensifier`, :func:`of`), :mod:`~sim.receptor.absorption` (CsI QDE, deposition
moments, K escape, Swank, DQE(0), weights), :mod:`~sim.receptor.blur` (kernels, separable blur,
MTF), :mod:`~sim.receptor.intensifier` (gain, pincushion, glare, vignetting, output map),
:mod:`~sim.receptor.detection` (detect, noise model, lag), :mod:`~sim.receptor.noise` (normal
deviates). The open-field image the processing divides by is made by the chain
(:func:`sim.chain.open_field_signal`: grid, table and receptor together).

References
----------
.. [1] R. K. Swank, "Absorption and noise in x-ray phosphors", J. Appl. Phys. 44:4199 (1973).
.. [2] D. R. Dance, G. J. Day, "Escape probabilities for fluorescent x-rays", Phys. Med. Biol.
   30:259-262 (1985); H.-P. Chan, K. Doi, "The validity of Monte Carlo simulation in studies
   of scattered radiation in diagnostic radiology", Phys. Med. Biol. 28:109 (1983).
.. [3] G. Hajdok, J. J. Battista, I. A. Cunningham, "Fundamental x-ray interaction limits in
   diagnostic imaging detectors: spatial resolution", Med. Phys. 35:3180 (2008), and "...:
   frequency-dependent Swank noise", Med. Phys. 35:3194 (2008).
.. [4] W. Zhao, G. Ristic, J. A. Rowlands, "X-ray imaging performance of structured cesium
   iodide scintillators", Med. Phys. 31:2594-2605 (2004): optical Swank factor 0.91-0.93
   below the K edge; MTF falls with thickness L and scales roughly with f*L.
.. [5] E. Samei, M. J. Flynn, "An experimental comparison of detector performance for direct
   and indirect digital radiography systems", Med. Phys. 30:608-622 (2003); R. Granfors,
   R. Aufrichtig, "Performance of a 41x41 cm^2 amorphous silicon flat panel x-ray detector
   for radiographic imaging applications", Med. Phys. 27:1324 (2000): CsI panels at RQA5,
   DQE(0) ~ 0.65-0.75.
.. [6] J. H. Siewerdsen, D. A. Jaffray, "A ghost story: spatio-temporal response
   characteristics of an indirect-detection flat-panel imager", Med. Phys. 26:1624 (1999).
.. [7] J. A. Seibert, O. Nalcioglu, W. Roeck, "Removal of image intensifier veiling glare by
   mathematical deconvolution techniques", Med. Phys. 12:281-288 (1985).
.. [8] J. M. Boone, J. A. Seibert, W. A. Barrett, E. A. Blood, "Analysis and correction of
   imperfections in the image intensifier-TV-digitizer imaging chain", Med. Phys. 18:236
   (1991); S. Rudin, D. R. Bednarek, R. Wong, "Accurate characterization of image intensifier
   distortion", Med. Phys. 18:1145 (1991).
.. [9] J. T. Bushberg, J. A. Seibert, E. M. Leidholdt, J. M. Boone, The Essential Physics of
   Medical Imaging, 3rd ed. (2012), ch. 9 (image intensifier: input phosphor, flux and
   minification gain, magnification modes, vignetting, pincushion).
.. [10] T. Schoonjans et al., "The xraylib library for X-ray-matter interactions. Recent
   developments", Spectrochim. Acta B 66:776 (2011): partial cross sections, K-shell
   fluorescence yields, line energies and radiative rates used here.
.. [11] M. Nikl, "Scintillation detectors for x-rays", Meas. Sci. Technol. 17:R37 (2006):
   CsI:Tl light yield ~54 photons/keV (also the Saint-Gobain CsI(Tl) data sheet).
"""

from __future__ import annotations

from sim.receptor.absorption import (
    CSI_PACKING_FRACTION,
    OPTICAL_SWANK,
    gain_e_per_keV,
)
from sim.receptor.blur import PHOSPHOR_LSF_PER_THICKNESS
from sim.receptor.detection import (
    _REQUIRED_MAPS,
    Detected,
    NoiseModel,
    apply_lag,
    detect,
    draw_signal,
    expected_signal,
    noise_model,
)
from sim.receptor.intensifier import (
    II_CAMERA_NOISE_KEV,
    II_CSI_UM,
    II_FOV_RANGE_CM,
    II_VIGNETTING_EDGE,
    ii_brightness_gain,
    ii_dose_factor,
    ii_output_map,
    pincushion,
    vignetting,
)
from sim.receptor.kinds import (
    KINDS,
    RECEPTORS,
    FlatPanel,
    ImageIntensifier,
    Receptor,
    as_receptor,
    deposition_moments,
    dqe0,
    mtf,
    of,
    quantum_detection_efficiency,
    receptor_figures,
    receptor_weights,
)
from sim.receptor.noise import standard_normal_f32

__all__ = [
    "CSI_PACKING_FRACTION",
    "Detected",
    "FlatPanel",
    "II_CAMERA_NOISE_KEV",
    "II_CSI_UM",
    "II_FOV_RANGE_CM",
    "II_VIGNETTING_EDGE",
    "ImageIntensifier",
    "KINDS",
    "NoiseModel",
    "OPTICAL_SWANK",
    "PHOSPHOR_LSF_PER_THICKNESS",
    "RECEPTORS",
    "Receptor",
    "_REQUIRED_MAPS",
    "apply_lag",
    "as_receptor",
    "deposition_moments",
    "detect",
    "dqe0",
    "draw_signal",
    "expected_signal",
    "gain_e_per_keV",
    "ii_brightness_gain",
    "ii_dose_factor",
    "ii_output_map",
    "mtf",
    "noise_model",
    "of",
    "pincushion",
    "quantum_detection_efficiency",
    "receptor_figures",
    "receptor_weights",
    "standard_normal_f32",
    "vignetting",
]
