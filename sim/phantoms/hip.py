"""Adult right hip for a fluoroscopy-guided joint injection (AP view).

Adult right hip for a fluoroscopy-guided joint injection, AP beam entering
posteriorly (patient supine, source under the table). Body: elliptical cylinder of
adipose tissue (subcutaneous fat) around ICRU soft tissue, AP size ``thickness_cm``,
width 1.9 x that; joint centre on the central ray at 40 % of the thickness below the
anterior skin. Femur: head (radius 24 mm, 1.5 mm subchondral cortex, cancellous core),
elliptic neck (32 x 26 mm, cortex 2.5 mm) at 130 deg neck-shaft angle and 15 deg
anteversion, greater-trochanter/intertrochanteric block, shaft with a fatty medullary
canal, lesser trochanter. Pelvis: acetabulum (hemispherical shell, inclination 45 deg,
anteversion 20 deg, 2.5 mm subchondral plate, 3.5 mm joint space), iliac body and
wing, superior pubic ramus, ischium, inferior ramus. Bodies thinner than 20 cm get the
whole anatomy scaled down (a child). A 22 G spinal needle (hollow steel tube) enters
the anterior skin from inferolateral toward the anterosuperior head-neck junction (the
usual target, superolateral on the AP image); its tip is at entry + progress x
(target - entry); the part of the needle outside the skin is in the beam too.
Contrast (``contrast_ml`` of iodinated contrast at ``contrast_mg_i_per_ml``): a film
over the head and a sleeve around the neck inside the capsule
(:func:`hip_contrast_layers`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from scipy import optimize

from sim import materials
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry
from sim.phantoms.shapes import (
    SPINAL_NEEDLE_LENGTHS_MM,
    Cylinder,
    Ellipsoid,
    Shape,
    Sphere,
    Vec,
    _line_exit,
    _ShapeList,
    _t,
    _unit,
    needle_shapes,
    rotation_y,
)
from sim.units import CM_PER_MM, MM_PER_CM

# ---- hip ---------------------------------------------------------------------------------
HIP_REF_THICKNESS_MM = 200.0
"""Body thickness at and above which the hip anatomy has adult size [mm].

# guess: thinner bodies get the whole anatomy scaled by thickness / 200 mm (a child's hip)."""

HIP_WIDTH_PER_THICKNESS = 1.9
"""Body width / AP thickness at the hips.

# guess: adult bitrochanteric width ~ 32-36 cm plus soft tissue for an AP thickness ~ 22 cm;
# with an elliptical section a ratio ~1.5 would put the greater trochanter outside the skin."""

HIP_ANTERIOR_DEPTH = 0.40
"""Depth of the femoral-head centre below the anterior skin, as a fraction of the thickness.

# guess: ~ 9 cm in a 22 cm adult (hip joint slightly anterior of mid-depth)."""


def _fat_mm(t_mm: float) -> float:
    # guess: subcutaneous fat 8 % of the AP thickness, and 40 % of the excess above 22 cm.
    return 0.08 * t_mm + 0.4 * max(0.0, t_mm - 220.0)


@functools.lru_cache(maxsize=64)
def _hip_anatomy(t_mm: float):
    """Bones, body and the key points of the right hip (independent of needle and contrast)."""
    s = min(1.0, t_mm / HIP_REF_THICKNESS_MM)
    hx = 90.0 * s  # joint centre to body midline, medial = +x  # guess: ~ 9 cm in adults
    a_out, b_out = HIP_WIDTH_PER_THICKNESS * t_mm / 2.0, t_mm / 2.0
    fat = _fat_mm(t_mm)
    zj = t_mm * (1.0 - HIP_ANTERIOR_DEPTH)
    J = np.array([0.0, 0.0, zj])
    R = 24.0 * s  # femoral-head radius [3]
    js = 3.5 * s  # joint space (cartilage of head + acetabulum), 3-4 mm in adults
    # femoral neck axis: neck-shaft angle 130 deg (40 deg below horizontal in AP), anteversion
    # 15 deg (the neck runs anteriorly from the trochanters to the head) [2]
    u_n = _unit([-math.cos(math.radians(40)), -math.sin(math.radians(40)), 0.0])
    u_n = _unit(
        u_n + np.array([0.0, 0.0, -math.tan(math.radians(15)) * math.cos(math.radians(40))])
    )
    v_n = _unit(np.array([0.0, 1.0, 0.0]) - u_n[1] * u_n)  # superior, perpendicular to the neck
    r1, r2 = 16.0 * s, 13.0 * s  # neck semi-axes: superior-inferior, anterior-posterior
    # acetabular opening axis: inclination 45 deg, anteversion 20 deg [2]
    n_ac = _unit(
        [
            -math.sin(math.radians(45)) * math.cos(math.radians(20)),
            -math.cos(math.radians(45)),
            math.sin(math.radians(45)) * math.sin(math.radians(20)),
        ]
    )
    r_ac_out = R + js + 14.0 * s

    # guess: the positions and sizes of the bones below (other than the head radius, the
    # angles and the joint space, sourced above) are approximate adult dimensions chosen to
    # look right on an AP image; cortical thicknesses 1.5-5.5 mm likewise.
    def P(x, y, dz):
        return (x * s, y * s, zj + dz * s)

    shapes = _ShapeList(scale=s)
    add, add_shelled = shapes.add, shapes.add_shelled

    fat_i = add(
        Cylinder(
            material="adipose",
            start_mm=(hx, -1000.0, b_out),
            end_mm=(hx, 1000.0, b_out),
            radius_mm=a_out,
            radius2_mm=b_out,
            ref=(1.0, 0.0, 0.0),
            label="body",
        )
    )
    body = add(
        Cylinder(
            material="soft_tissue",
            start_mm=(hx, -1000.0, b_out),
            end_mm=(hx, 1000.0, b_out),
            radius_mm=a_out - fat,
            radius2_mm=b_out - fat,
            ref=(1.0, 0.0, 0.0),
            parent=fat_i,
            label="body",
        )
    )
    head_sphere = Sphere(material="bone_cortical", center_mm=_t(J), radius_mm=R)
    troch = Ellipsoid(
        material="bone_cortical",
        center_mm=P(-52, -38, -12),
        semi_axes_mm=(20 * s, 36 * s, 22 * s),
        parent=body,
        label="femur",
    )
    neck_prim = Cylinder(
        material="bone_cortical",
        start_mm=_t(J),
        end_mm=_t(J + 60 * s * u_n),
        radius_mm=r1,
        radius2_mm=r2,
        ref=_t(v_n),
    )
    shaft = Cylinder(
        material="bone_cortical",
        start_mm=P(-55, -50, -15),
        end_mm=P(-30, -300, -15),
        radius_mm=14 * s,
        cuts=(troch,),
        parent=body,
        label="femur",
    )
    acet_cut = Sphere(material="bone_cortical", center_mm=_t(J), radius_mm=r_ac_out)
    ilium_body = Ellipsoid(
        material="bone_cortical",
        center_mm=P(12, 48, -10),
        semi_axes_mm=(30 * s, 30 * s, 24 * s),
        cuts=(acet_cut,),
        parent=body,
        label="pelvis",
    )
    sup_ramus = Cylinder(
        material="bone_cortical",
        start_mm=P(20, -22, 8),
        end_mm=P(80, -38, 28),
        radius_mm=9 * s,
        cuts=(acet_cut,),
        parent=body,
        label="pelvis",
    )
    ischium = Cylinder(
        material="bone_cortical",
        start_mm=P(5, -25, -18),
        end_mm=P(15, -100, -28),
        radius_mm=13 * s,
        cuts=(acet_cut,),
        parent=body,
        label="pelvis",
    )
    plane_ac = (*_t(n_ac), float(n_ac @ J))
    # femur: head (subchondral plate 1.5 mm), neck (cortex 2.5 mm), trochanters, shaft
    add_shelled(replace_(head_sphere, parent=body, label="femur"), 1.5, "bone_cancellous")
    add_shelled(
        replace_(neck_prim, parent=body, cuts=(head_sphere, troch), label="femur"),
        2.5,
        "bone_cancellous",
    )
    add_shelled(troch, 2.0, "bone_cancellous")
    add_shelled(shaft, 5.5, "adipose")  # medullary canal with yellow marrow
    add(
        Ellipsoid(
            material="bone_cortical",
            center_mm=P(-33, -78, -24),
            semi_axes_mm=(9 * s, 12 * s, 9 * s),
            cuts=(shaft, troch),
            parent=body,
            label="femur",
        )
    )
    # acetabulum: subchondral plate 2.5 mm then cancellous bone, the half facing the head
    add(
        Sphere(
            material="bone_cortical",
            center_mm=_t(J),
            radius_mm=R + js + 2.5 * s,
            planes=(plane_ac,),
            cuts=(Sphere(material="void", center_mm=_t(J), radius_mm=R + js),),
            parent=body,
            label="pelvis",
        )
    )
    add(
        Sphere(
            material="bone_cancellous",
            center_mm=_t(J),
            radius_mm=r_ac_out,
            planes=(plane_ac,),
            cuts=(Sphere(material="void", center_mm=_t(J), radius_mm=R + js + 2.5 * s),),
            parent=body,
            label="pelvis",
        )
    )
    add_shelled(ilium_body, 2.0, "bone_cancellous")
    wing = Ellipsoid(
        material="bone_cortical",
        center_mm=P(40, 100, -22),
        semi_axes_mm=(58 * s, 55 * s, 8 * s),
        axes=rotation_y(35.0),
        cuts=(ilium_body, acet_cut),
        parent=body,
        label="pelvis",
    )
    add_shelled(wing, 1.5, "bone_cancellous")
    add_shelled(sup_ramus, 1.5, "bone_cancellous")
    add_shelled(ischium, 2.0, "bone_cancellous")
    inf_ramus = Cylinder(
        material="bone_cortical",
        start_mm=P(18, -95, -25),
        end_mm=P(80, -62, 15),
        radius_mm=7 * s,
        cuts=(ischium,),
        parent=body,
        label="pelvis",
    )
    add_shelled(inf_ramus, 1.5, "bone_cancellous")
    key = {
        "s": s,
        "J": J,
        "R": R,
        "js": js,
        "u_n": u_n,
        "v_n": v_n,
        "r1": r1,
        "r2": r2,
        "head_sphere": head_sphere,
        "neck_prim": neck_prim,
        "troch": troch,
        "body": body,
        "fat": fat_i,
        "hx": hx,
        "a_out": a_out,
        "b_out": b_out,
        "fat_mm": fat,
    }
    return tuple(shapes), key


def replace_(shape: Shape, **changes) -> Shape:
    """Copy of a shape with fields changed (:func:`dataclasses.replace`)."""
    return dataclasses.replace(shape, **changes)


CONTRAST_FILM_FRACTION = 0.3
"""Share of the joint contrast spread as a film over the femoral head (rest: neck recess).

# guess: injected contrast outlines the head and pools in the recesses around the neck."""


def _ellipse_annulus_quadrature(r1: float, r2: float, t: float, n_phi=96, n_tau=12):
    """Points (w1, w2) and area weights of the elliptic annulus (r1, r2) .. (r1+t, r2+t)."""
    phi = (np.arange(n_phi) + 0.5) * 2 * math.pi / n_phi
    tau = (np.arange(n_tau) + 0.5) * t / n_tau
    P, T = np.meshgrid(phi, tau)
    w1 = (r1 + T) * np.cos(P)
    w2 = (r2 + T) * np.sin(P)
    jac = (r2 + T) * np.cos(P) ** 2 + (r1 + T) * np.sin(P) ** 2
    return w1.ravel(), w2.ravel(), (jac * (2 * math.pi / n_phi) * (t / n_tau)).ravel()


def _film_volume(R: float, r1: float, r2: float, t: float) -> float:
    """Volume of the shell R..R+t around the head minus the part inside the neck [mm^3]."""
    shell = 4.0 / 3.0 * math.pi * ((R + t) ** 3 - R**3)
    # inside the neck (elliptic r1 x r2 section, axis through the centre): per section point
    # the shell spans sqrt(R^2 - rho^2) .. sqrt((R+t)^2 - rho^2) along the axis
    n = 64
    u = (np.arange(n) + 0.5) / n
    rr, pp = np.meshgrid(np.sqrt(u), (np.arange(n) + 0.5) * 2 * math.pi / n)
    w1, w2 = r1 * rr * np.cos(pp), r2 * rr * np.sin(pp)
    rho2 = w1**2 + w2**2
    span = np.sqrt((R + t) ** 2 - rho2) - np.sqrt(np.maximum(R**2 - rho2, 0.0))
    return shell - float(span.mean()) * math.pi * r1 * r2


def _sleeve_volume(anat_key, t_film: float, t: float, length: float) -> float:
    """Volume of the neck sleeve of thickness t (minus head+film sphere, trochanter) [mm^3]."""
    J, u, v = anat_key["J"], anat_key["u_n"], anat_key["v_n"]
    e2 = np.cross(u, v)
    w1, w2, dA = _ellipse_annulus_quadrature(anat_key["r1"], anat_key["r2"], t)
    rho2 = w1**2 + w2**2
    start = np.sqrt(np.maximum((anat_key["R"] + t_film) ** 2 - rho2, 0.0))
    seg0, seg1 = np.minimum(start, length), np.full_like(start, length)
    # trochanter: the line J + s u + w1 v + w2 e2 meets the ellipsoid in [s_a, s_b]
    tr = anat_key["troch"]
    m = np.diag(1.0 / np.asarray(tr.semi_axes_mm))
    base = J[None, :] + w1[:, None] * v[None, :] + w2[:, None] * e2[None, :]
    q = (base - np.asarray(tr.center_mm)) @ m
    d = m @ u
    a = float(d @ d)
    b = q @ d
    c0 = np.sum(q * q, axis=1) - 1.0
    disc = b * b - a * c0
    ok = disc > 0
    sq = np.sqrt(np.where(ok, disc, 0.0))
    sa = np.where(ok, (-b - sq) / a, 0.0)
    sb = np.where(ok, (-b + sq) / a, 0.0)
    overlap = np.maximum(np.minimum(seg1, sb) - np.maximum(seg0, sa), 0.0)
    return float(np.sum((seg1 - seg0 - overlap) * dA))


def _solve_thickness(volume_fn, target: float, t_max: float) -> float:
    """Thickness in [0, t_max] whose volume is ``target`` (t_max if it holds less) [mm]."""
    if target <= 0:
        return 0.0
    if volume_fn(t_max) <= target:
        return t_max
    return float(optimize.brentq(lambda t: volume_fn(t) - target, 0.0, t_max, xtol=1e-7))


@functools.lru_cache(maxsize=64)
def hip_contrast_layers(t_mm: float, contrast_ml: float) -> tuple[float, float, float]:
    """Film and neck-sleeve thicknesses [mm] and the volume represented [ml] for the hip.

    ``CONTRAST_FILM_FRACTION`` of the volume forms a film over the femoral head, at most the
    joint space minus 0.5 mm thick; the rest a sleeve around the neck inside the capsule, at
    most 8 mm thick (capsule distension limit, a guess). Volume beyond both caps is not
    represented (extravasation is not modelled). The volumes of the cut shapes are integrated
    numerically (elliptic-annulus quadrature) and the thicknesses found by bisection, so the
    represented volume equals ``contrast_ml`` to 0.1 %.

    References
    ----------
    # guess: distribution of injected contrast in the hip capsule (film over the head,
    # recesses around the neck) after the appearance of hip arthrograms; no quantitative source.
    """
    _, k = _hip_anatomy(t_mm)
    s, R, r1, r2, js = k["s"], k["R"], k["r1"], k["r2"], k["js"]
    v_mm3 = contrast_ml * MM_PER_CM**3
    t_f_max = js - 0.5 * s
    t_f = _solve_thickness(
        lambda t: _film_volume(R, r1, r2, t), CONTRAST_FILM_FRACTION * v_mm3, t_f_max
    )
    v_film = _film_volume(R, r1, r2, t_f) if t_f > 0 else 0.0
    length = 45.0 * s  # guess: capsule insertion on the neck, ~ 45 mm from the head centre
    t_s_max = 8.0 * s  # guess
    t_s = _solve_thickness(lambda t: _sleeve_volume(k, t_f, t, length), v_mm3 - v_film, t_s_max)
    v_sleeve = _sleeve_volume(k, t_f, t_s, length) if t_s > 0 else 0.0
    return t_f, t_s, (v_film + v_sleeve) / MM_PER_CM**3


def _hip(t_mm: float, progress: float, vol_ml: float, conc: float) -> Phantom:
    bones, k = _hip_anatomy(t_mm)
    s, J, R, u_n, v_n = k["s"], k["J"], k["R"], k["u_n"], k["v_n"]
    shapes = _ShapeList(bones, scale=s)
    add = shapes.add
    body, fat_i = k["body"], k["fat"]

    # contrast pocket in the capsule: film over the head + sleeve around the neck
    t_f = t_s = 0.0
    if vol_ml > 0 and conc > 0:
        contrast = materials.contrast_material(conc, base="water")
        t_f, t_s, _ = hip_contrast_layers(t_mm, vol_ml)
        film_sphere = Sphere(material=contrast, center_mm=_t(J), radius_mm=R + t_f)
        if t_f > 0:
            add(
                replace_(
                    film_sphere,
                    cuts=(k["head_sphere"], k["neck_prim"]),
                    parent=body,
                    feature_mm=max(t_f, 0.02),
                    label="contrast",
                )
            )
        if t_s > 0:
            add(
                Cylinder(
                    material=contrast,
                    start_mm=_t(J),
                    end_mm=_t(J + 45.0 * s * u_n),
                    radius_mm=k["r1"] + t_s,
                    radius2_mm=k["r2"] + t_s,
                    ref=_t(v_n),
                    cuts=(film_sphere, k["neck_prim"], k["troch"]),
                    parent=body,
                    feature_mm=max(t_s, 0.02),
                    label="contrast",
                )
            )
    # 22 G spinal needle, anterior approach from inferolateral, aimed at the head-neck
    # junction: the point of the anterosuperior neck surface that projects superolaterally
    # on the AP image (the usual target); the tip stops 1.5 mm off the bone
    w_ant = -np.cross(u_n, v_n)  # anterior, perpendicular to the neck
    phi = math.radians(50.0)
    gap = max(1.5 * s, 1.0)
    target = (
        J
        + 21.0 * s * u_n
        + (k["r1"] + gap) * math.cos(phi) * v_n
        + (k["r2"] + gap) * math.sin(phi) * w_ant
    )
    d = _unit([0.15, 0.42, -0.90])  # entry -> target: medial, cranial, posterior  # guess
    back = -d
    lam_skin = _line_exit(target, back, k["hx"], k["b_out"], k["a_out"], k["b_out"])
    lam_fat = _line_exit(
        target, back, k["hx"], k["b_out"], k["a_out"] - k["fat_mm"], k["b_out"] - k["fat_mm"]
    )
    length = next(
        (L for L in SPINAL_NEEDLE_LENGTHS_MM if L >= lam_skin + 15.0), SPINAL_NEEDLE_LENGTHS_MM[-1]
    )
    lam_tip = (1.0 - progress) * lam_skin
    lam_tail = lam_tip + length

    def pt(lam: float) -> Vec:
        return _t(target + lam * back)

    # split where the needle crosses the skin and the fat/muscle boundary (parents differ)
    for lo, hi, parent in (
        (max(lam_skin, lam_tip), lam_tail, None),
        (max(lam_fat, lam_tip), min(lam_skin, lam_tail), fat_i),
        (lam_tip, min(lam_fat, lam_tail), body),
    ):
        if hi - lo > 1e-6:
            tube, lumen = needle_shapes(pt(hi), pt(lo), parent, len(shapes))
            add(tube)
            add(lumen)
    # regions of interest
    neck_mid = J + 30.0 * s * u_n
    if t_f + t_s > 0:
        rois = (
            Roi("signal", _t(neck_mid), 45.0 * s, labels=("contrast",)),
            Roi(
                "background",
                _t(neck_mid),
                45.0 * s,
                exclude_labels=("contrast",),
                near_labels=("contrast",),
                near_mm=4.0 * s,
            ),
        )
    else:
        rois = (
            Roi("signal", _t(J), 0.5 * R),
            Roi("background", _t(J), R + 16.0 * s, inner_mm=R + 6.0 * s),
        )
    rois = rois + (Roi("needle_tip", pt(lam_tip), max(2.0 * s, 1.5)),)
    desc = (
        f"right hip, AP thickness {t_mm * CM_PER_MM:g} cm, needle {progress:.0%} of the way"
        f" ({length:g} mm 22 G), contrast {vol_ml:g} ml at {conc:g} mg I/ml"
        f" (film {t_f:.2f} mm, neck sleeve {t_s:.2f} mm)"
    )
    return Phantom("hip_injection", tuple(shapes), rois, desc, static_shapes=len(bones))


def build(t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float) -> Phantom:
    """The phantom at a body thickness [mm], needle progress [-] and contrast [ml, mg I/ml]."""
    return _hip(t_mm, progress, contrast_ml, mg_i_per_ml)


ENTRY = PhantomEntry(
    name="hip_injection",
    label="Adult hip (joint injection)",
    build=build,
    needle=True,
    contrast="iodine",
    order=1,
    source=__name__,
)
