"""Image-intensifier effects: brightness and minification gain, pincushion, glare, vignetting.

The image intensifier (:class:`sim.receptor.kinds.ImageIntensifier`) absorbs in a 400 um CsI
input phosphor behind an aluminium input window, then: pincushion distortion (a radial remap of
the maps *before* the noise, dividing by the local areal magnification, so the stretched
periphery also gets fewer quanta per pixel), a poorer MTF (electron optics, output phosphor and
camera; sharper in magnification modes), veiling glare (a fraction ``receptor.ii_glare`` of the
light spread by a cm-wide exponential PSF), cos^4 vignetting, and additive camera noise per
camera pixel (1024 across the FOV). Magnification modes: :func:`ii_brightness_gain` falls as
FOV^2. The output is square, dark outside the circular input field (:func:`ii_output_map`).
Sources: the package docstring (:mod:`sim.receptor`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft

from sim.params import II_MAX_FOV_CM
from sim.units import MM_PER_CM
from sim.validate import check_number

II_CSI_UM = 400.0
# [R] image-intensifier CsI input phosphor ~300-450 um (Bushberg et al. 2012, ch. 9); 400 um.
II_WINDOW_LAYERS: tuple[tuple[str, float], ...] = (("Al", 1.0), ("Al", 0.5))
# guess: II input window 1 mm Al plus 0.5 mm Al phosphor substrate [(material, mm)].

II_FOV_RANGE_CM = (15.0, II_MAX_FOV_CM)  # magnification modes of the issue (15-40 cm input field)
II_OUTPUT_DIAMETER_MM = 25.0  # [R] output phosphor diameter (Bushberg et al. 2012)
II_FLUX_GAIN = 50.0  # [R] typical flux gain (Bushberg et al. 2012)
II_OUTPUT_BLUR_MM = 0.012
# guess: Gaussian sigma of electron optics + output phosphor + camera optics at the 25 mm
# output; scaled to the input by FOV / 25 mm (so magnification modes sharpen the image).
II_CAMERA_PX = 1024  # guess: CCD camera lines across the output image
II_CAMERA_NOISE_KEV = 100.0
# guess: rms camera noise per camera pixel, expressed as the energy absorbed in the input
# phosphor that gives the same output (~2 absorbed 50-keV quanta): the II is quantum limited
# at normal doses thanks to its gain.
II_GLARE_RANGE_PER_FOV = 0.1
# guess: veiling-glare PSF exp(-r/rho)/(2 pi rho^2) with rho = 0.1 * FOV (cm scale); the
# exponential form follows Seibert et al. 1985.
II_VIGNETTING_EDGE = 0.12
# guess: optical vignetting, brightness at the edge of the field (r = FOV/2) 12 % below the
# centre, cos^4 model; with the pincushion's areal stretch (below) the edge of a 30 cm field is
# ~23 % darker in all (10-25 % typical of IIs).
II_PINCUSHION_K_MAX = 0.06
# guess: radial distortion r' = r (1 + k (r/R)^2), k = 0.06 at 40 cm FOV scaled as (FOV/40)^2
# (less of the curved input surface is used in magnification modes).

_GLARE_COARSE_PX = 128  # veiling glare is computed on a grid of at most this many pixels


def check_ii_fov(fov_cm: Any) -> float:
    """The image intensifier's input field, validated in :data:`II_FOV_RANGE_CM` [cm]."""
    lo, hi = II_FOV_RANGE_CM
    return check_number("geometry.fov_cm (image intensifier)", fov_cm, lo, hi, "cm")


def camera_pixel_mm(fov_cm: float) -> float:
    """Camera pixel referred to the input plane [mm]."""
    return fov_cm * MM_PER_CM / II_CAMERA_PX


def optics_sigma_mm(fov_cm: float) -> float:
    """Gaussian blur of the II output chain referred to the input plane [mm]."""
    return II_OUTPUT_BLUR_MM * fov_cm * MM_PER_CM / II_OUTPUT_DIAMETER_MM


def pincushion_k(fov_cm: float) -> float:
    """Pincushion coefficient of a magnification mode [-]."""
    return II_PINCUSHION_K_MAX * (fov_cm / II_FOV_RANGE_CM[1]) ** 2


# --------------------------------------------------------------------------------------------
# gain
# --------------------------------------------------------------------------------------------
def ii_brightness_gain(fov_cm: float) -> float:
    """Brightness gain of the image intensifier: flux gain x minification gain.

    Minification gain = (input field diameter / output diameter)^2, so a magnification mode
    (smaller FOV) lowers the brightness per unit input air kerma as FOV^2 and automatic
    brightness control raises the input dose as (FOV_max / FOV)^2.

    Parameters
    ----------
    fov_cm : float
        Input field of view (magnification mode), in [15, 40] [cm].

    Returns
    -------
    float
        Brightness gain [-] (about 5000-13000 for 25-40 cm).

    References
    ----------
    Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed. (2012), ch. 9.
    """
    fov = check_ii_fov(fov_cm)
    return II_FLUX_GAIN * (fov * MM_PER_CM / II_OUTPUT_DIAMETER_MM) ** 2


def ii_dose_factor(fov_cm: float) -> float:
    """Input-dose factor of a magnification mode, (FOV_max / FOV)^2 [-].

    Parameters
    ----------
    fov_cm : float
        Input field of view, in [15, 40] [cm].

    Returns
    -------
    float
        Ratio of the input air kerma ABC needs at ``fov_cm`` to that at 40 cm [-].

    References
    ----------
    Bushberg et al. (2012), ch. 9 (magnification modes).
    """
    return ii_brightness_gain(II_FOV_RANGE_CM[1]) / ii_brightness_gain(fov_cm)


# --------------------------------------------------------------------------------------------
# output field: vignetting and the circular input
# --------------------------------------------------------------------------------------------
def _centred_radius_mm(shape: tuple[int, int], pixel_mm: float) -> np.ndarray:
    ny, nx = shape
    y = (np.arange(ny) - 0.5 * (ny - 1)) * pixel_mm
    x = (np.arange(nx) - 0.5 * (nx - 1)) * pixel_mm
    return np.hypot(y[:, None], x[None, :])


@lru_cache(maxsize=16)
def _vignetting_map(shape: tuple[int, int], pixel_mm: float, fov_mm: float) -> np.ndarray:
    r = _centred_radius_mm(shape, pixel_mm)
    radius = 0.5 * fov_mm
    # cos^4 law: V = 1/(1 + (r/L)^2)^2, L chosen so V(FOV/2) = 1 - II_VIGNETTING_EDGE
    r_over_l = math.sqrt((1.0 - II_VIGNETTING_EDGE) ** -0.5 - 1.0)
    v = (1.0 / (1.0 + (r * r_over_l / radius) ** 2) ** 2).astype(np.float32)
    v.flags.writeable = False
    return v


@lru_cache(maxsize=16)
def _output_map(shape: tuple[int, int], pixel_mm: float, fov_mm: float) -> np.ndarray:
    r = _centred_radius_mm(shape, pixel_mm)
    inside = np.clip((0.5 * fov_mm - r) / pixel_mm + 0.5, 0.0, 1.0)  # anti-aliased circle
    out = (_vignetting_map(shape, pixel_mm, fov_mm) * inside).astype(np.float32)
    out.flags.writeable = False
    return out


def ii_output_map(shape: tuple[int, int], pixel_mm: float, fov_cm: float) -> np.ndarray:
    """Relative brightness of the image-intensifier output over the image: vignetting inside
    the circular input field, nothing outside it (no input phosphor there) [-].

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx) [px].
    pixel_mm : float
        Image pixel at the receptor [mm].
    fov_cm : float
        Input field of view (diameter of the input phosphor in use) [cm].

    Returns
    -------
    numpy.ndarray
        float32 map in [0, 1] [-].

    References
    ----------
    Bushberg et al. (2012), ch. 9 (circular input phosphor, vignetting).
    """
    px = check_number("pixel_mm", pixel_mm, 1e-4, 100.0, "mm")
    fov = check_ii_fov(fov_cm)
    return _output_map(tuple(int(s) for s in shape), px, fov * MM_PER_CM)


def vignetting(shape: tuple[int, int], pixel_mm: float, fov_cm: float) -> np.ndarray:
    """Relative brightness of the image-intensifier output, 1 at the centre.

    cos^4 fall-off ``1/(1 + (r/L)^2)^2`` with L set so that the edge of the field (r = FOV/2)
    is :data:`II_VIGNETTING_EDGE` darker (guess within the 10-25 % typical of IIs).

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx) [px].
    pixel_mm : float
        Image pixel at the receptor [mm].
    fov_cm : float
        Input field of view [cm].

    Returns
    -------
    numpy.ndarray
        float32 map in (0, 1] [-].

    References
    ----------
    Boone et al., Med. Phys. 18:236 (1991); Bushberg et al. (2012), ch. 9.
    """
    px = check_number("pixel_mm", pixel_mm, 1e-4, 100.0, "mm")
    fov = check_ii_fov(fov_cm)
    return _vignetting_map(tuple(int(s) for s in shape), px, fov * MM_PER_CM)


# --------------------------------------------------------------------------------------------
# pincushion distortion
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Remap:
    """Bilinear gather of a radial remap: flat indices, weights and areal magnification."""

    idx: np.ndarray  # (4, ny*nx) int32 flat indices of the four neighbours
    wts: np.ndarray  # (4, ny*nx) float32 bilinear weights
    nearest: np.ndarray  # (ny*nx,) int32 flat index of the nearest neighbour
    inv_jacobian: np.ndarray  # (ny, nx) float32, 1 / local areal magnification

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Bilinear resampling."""
        flat = image.reshape(-1)
        out = np.take(flat, self.idx[0]) * self.wts[0]
        for i in range(1, 4):
            out += np.take(flat, self.idx[i]) * self.wts[i]
        return out.reshape(image.shape)

    def apply_nearest(self, image: np.ndarray) -> np.ndarray:
        """Nearest-neighbour resampling (for smooth maps such as a noise variance)."""
        return np.take(image.reshape(-1), self.nearest).reshape(image.shape)


@lru_cache(maxsize=16)
def pincushion_remap(shape: tuple[int, int], k: float) -> Remap:
    """The (cached) remap of :func:`pincushion` for an image shape and coefficient ``k``."""
    ny, nx = shape
    cy, cx = 0.5 * (ny - 1), 0.5 * (nx - 1)
    radius = 0.5 * min(ny, nx)  # half the image side [px]
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    dy, dx = y - cy, x - cx
    r_out = np.hypot(dy, dx) / radius
    # invert r_out = r (1 + k r^2) by Newton's method (monotone for k >= 0)
    r = r_out.copy()
    for _ in range(8):
        r -= (r * (1.0 + k * r * r) - r_out) / (1.0 + 3.0 * k * r * r)
    scale = np.divide(r, r_out, out=np.ones_like(r), where=r_out > 0)
    ys = np.clip(cy + dy * scale, 0.0, ny - 1.0)
    xs = np.clip(cx + dx * scale, 0.0, nx - 1.0)
    y0 = np.minimum(np.floor(ys).astype(np.int64), ny - 2 if ny > 1 else 0)
    x0 = np.minimum(np.floor(xs).astype(np.int64), nx - 2 if nx > 1 else 0)
    fy, fx = ys - y0, xs - x0
    y1, x1 = np.minimum(y0 + 1, ny - 1), np.minimum(x0 + 1, nx - 1)
    idx = np.stack([y0 * nx + x0, y0 * nx + x1, y1 * nx + x0, y1 * nx + x1]).reshape(4, -1)
    wts = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]).reshape(4, -1)
    # areal magnification of the radial map: (r'/r) (dr'/dr)
    jac = (1.0 + k * r * r) * (1.0 + 3.0 * k * r * r)
    nearest = idx[np.argmax(wts, axis=0), np.arange(idx.shape[1])]
    remap = Remap(
        idx.astype(np.int32),
        wts.astype(np.float32),
        nearest.astype(np.int32),
        (1.0 / jac).astype(np.float32),
    )
    for a in (remap.idx, remap.wts, remap.nearest, remap.inv_jacobian):
        a.flags.writeable = False
    return remap


def pincushion(image: Any, k: float) -> np.ndarray:
    """Pincushion distortion: the point at radius r appears at r (1 + k (r/R)^2).

    R is half the image side; the centre is unchanged and the periphery is stretched outward
    (magnified), as the curved input phosphor of an image intensifier does. Pure geometric
    remap (bilinear); the chain also divides intensities by the local areal magnification.

    Parameters
    ----------
    image : array_like
        2-D image [any units].
    k : float
        Distortion coefficient at r = R, in [0, 0.5] [-].

    Returns
    -------
    numpy.ndarray
        Distorted image, float32 [same units].

    References
    ----------
    Boone et al., Med. Phys. 18:236 (1991); Rudin, Bednarek & Wong, Med. Phys. 18:1145
    (1991) (radial third-order model of II distortion).
    """
    kk = check_number("k", k, 0.0, 0.5)
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 2:
        raise ValueError(f"image must be 2-D with at least 2x2 pixels, got shape {img.shape}")
    if kk == 0.0:
        return img.copy()
    return pincushion_remap(img.shape, kk).apply(img)


# --------------------------------------------------------------------------------------------
# veiling glare
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _glare_operators(
    shape: tuple[int, int], pixel_mm: float, rho_mm: float
) -> tuple[int, np.ndarray, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Block factor, kernel rfft2 on the zero-padded coarse grid, bilinear upsampling taps."""
    ny, nx = shape
    f = max(1, int(math.ceil(max(ny, nx) / _GLARE_COARSE_PX)))
    my, mx = -(-ny // f), -(-nx // f)
    py, px = 2 * my, 2 * mx  # zero padding: no wrap-around of the kernel
    cpix = pixel_mm * f
    yy = np.minimum(np.arange(py), py - np.arange(py)) * cpix
    xx = np.minimum(np.arange(px), px - np.arange(px)) * cpix
    r = np.hypot(yy[:, None], xx[None, :])
    kern = np.exp(-r / rho_mm) / (2.0 * np.pi * rho_mm**2) * cpix**2  # exp PSF, unit integral
    kft = scipy.fft.rfft2(kern).astype(np.complex64)

    def taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # bilinear interpolation from m coarse cell centres to n fine pixel centres
        pos = np.clip((np.arange(n) + 0.5) / f - 0.5, 0.0, m - 1.0)
        i0 = np.minimum(np.floor(pos).astype(np.intp), max(m - 2, 0))
        i1 = np.minimum(i0 + 1, m - 1)
        return i0, i1, (pos - i0).astype(np.float32)

    out = (f, kft, taps(ny, my), taps(nx, mx))
    kft.flags.writeable = False
    return out


def _block_mean(image: np.ndarray, f: int, my: int, mx: int) -> np.ndarray:
    ny, nx = image.shape
    a = np.pad(image, ((0, my * f - ny), (0, mx * f - nx)), mode="edge")
    a = a.reshape(my, f, mx * f).sum(axis=1)
    return a.reshape(my, mx, f).sum(axis=2) * np.float32(1.0 / (f * f))


def glare_spread(image: np.ndarray, pixel_mm: float, fov_cm: float) -> np.ndarray:
    """The image convolved with the veiling-glare PSF (exponential, range 0.1 FOV).

    The cm-wide convolution runs on a block-averaged grid (<= 128 px) with zero padding (no
    light from outside the image) and is upsampled bilinearly.
    """
    rho = II_GLARE_RANGE_PER_FOV * fov_cm * MM_PER_CM
    f, kft, (y0, y1, ty), (x0, x1, tx) = _glare_operators(image.shape, float(pixel_mm), rho)
    my, mx = kft.shape[0] // 2, kft.shape[1] - 1  # rfft2 of the (2 my, 2 mx) padded grid
    coarse = _block_mean(image, f, my, mx)
    s = (2 * my, 2 * mx)
    spread = scipy.fft.irfft2(scipy.fft.rfft2(coarse, s=s) * kft, s=s)[:my, :mx]
    spread = spread.astype(np.float32)
    a = spread[y0, :] * (1.0 - ty)[:, None] + spread[y1, :] * ty[:, None]
    return a[:, x0] * (1.0 - tx) + a[:, x1] * tx
