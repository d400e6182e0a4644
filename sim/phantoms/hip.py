"""Adult right hip for a fluoroscopy-guided joint injection (AP view).

Adult right hip for a fluoroscopy-guided joint injection, AP beam entering
posteriorly (patient supine, source under the table). Body: elliptical cylinder of
adipose tissue (subcutaneous fat) around muscle, AP size ``thickness_cm``, width 1.9 x
that, with bowel gas (air) over the iliac fossa, sacrum and rectum; joint centre on the
central ray at 40 % of the thickness below the anterior skin. Femur: head (radius 24 mm,
1.5 mm subchondral cortex), elliptic neck (32 x 26 mm, cortex 2.5 mm) at 130 deg
neck-shaft angle and 15 deg anteversion, greater trochanter and intertrochanteric region
(straight lateral cortex), lesser trochanter, shaft with 6.5 mm cortex and a fatty
medullary canal; cancellous cores with a trabecular texture. Pelvis: acetabulum
(hemispherical shell, inclination 45 deg, anteversion 20 deg, 2.5 mm subchondral plate,
5 mm under the roof: the sourcil, 3.5 mm joint space), iliac wing (thin iliac fossa,
thick rims) rising superolaterally to the sacroiliac joint, sacrum, ischium, superior and
inferior pubic rami around an empty obturator foramen, pubic bodies at the symphysis
(:func:`_hip_anatomy`). Bodies thinner than 20 cm get the whole anatomy scaled down (a
child). A 22 G spinal needle (hollow steel tube) enters
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
    shelled,
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


HIP_TEXTURE = 0.22
"""Relative amplitude of the trabecular texture of the cancellous cores [-] (# guess: by eye)."""

HIP_TEXTURE_MM = 1.1
"""Correlation length of the trabecular texture [mm]; trabecular spacing 0.5-1.5 mm (Müller
1998, docs/references.md)."""


def _rot_z(angle_deg: float) -> tuple[Vec, Vec, Vec]:
    """Local axes rotated by ``angle_deg`` about the patient z axis (x toward +y) [deg]."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return ((c, s, 0.0), (-s, c, 0.0), (0.0, 0.0, 1.0))


def _rot_x(angle_deg: float) -> tuple[Vec, Vec, Vec]:
    """Local axes rotated by ``angle_deg`` about the patient x axis (y toward +z) [deg]."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return ((1.0, 0.0, 0.0), (0.0, c, s), (0.0, -s, c))


def _plane(n, point) -> tuple[float, float, float, float]:
    """Half-space ``n . p <= n . point`` as (nx, ny, nz, d)."""
    n = _unit(n)
    return (*_t(n), float(n @ np.asarray(point, dtype=float)))


def _flip(plane) -> tuple[float, float, float, float]:
    """The complementary half-space of a plane (their common boundary kept by both)."""
    return (-plane[0], -plane[1], -plane[2], -plane[3])


@functools.lru_cache(maxsize=64)
def _hip_anatomy(t_mm: float):
    """Bones, body and the key points of the right hip (independent of needle and contrast).

    Body: elliptic cylinder of subcutaneous fat around muscle, bowel gas (air) in the right
    iliac fossa and over the sacrum. Femur: head (subchondral shell over a cancellous core),
    neck, one ellipsoid for the greater trochanter and intertrochanteric region, lesser
    trochanter, shaft with thick cortex and fatty medullary canal. Pelvis: acetabulum (thin
    subchondral plate, thicker roof = sourcil), supra-acetabular ilium, iliac wing rising
    superolaterally (cut at the sacroiliac joint), one pubo-ischial plate holding the
    obturator foramen (a cut: a clear hole with a corticated rim) bounded by the superior and
    inferior pubic rami and the ischium, the left pubis across the symphysis, and the sacrum
    between both sacroiliac joints. Cancellous cores carry a trabecular texture
    (:data:`HIP_TEXTURE`). Pieces of one bone meet at clip planes or cuts, so no sibling
    shapes overlap.
    """
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
    # angles and the joint space, sourced above) are approximate adult dimensions from
    # standard radiographic anatomy, placed to look right on an AP image; cortical
    # thicknesses 1.5-6.5 mm likewise.
    def P(x, y, dz):
        return np.array([x * s, y * s, zj + dz * s])

    def mirror(p):  # the patient's left side: reflected about the midline x = hx
        return np.array([2.0 * hx - p[0], p[1], p[2]])

    shapes = _ShapeList(scale=s)
    add = shapes.add

    def bone(
        outer: Shape,
        shell_mm: float,
        core: str = "bone_cancellous",
        core_cuts=None,
        core_planes=None,
    ):
        """Cortical ``outer`` plus its textured core (cuts, planes of the core: ``core_*``)."""
        i = add(outer)
        c = shelled(outer, shell_mm * s, core, i)
        changes = {"texture": HIP_TEXTURE, "texture_mm": HIP_TEXTURE_MM}
        if core == "adipose":
            changes = {}
        if core_cuts is not None:
            changes["cuts"] = core_cuts
        if core_planes is not None:
            changes["planes"] = core_planes
        add(replace_(c, **changes))
        return i

    # ---- body: subcutaneous fat around muscle ----------------------------------------------
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
            material="muscle",
            start_mm=(hx, -1000.0, b_out),
            end_mm=(hx, 1000.0, b_out),
            radius_mm=a_out - fat,
            radius2_mm=b_out - fat,
            ref=(1.0, 0.0, 0.0),
            parent=fat_i,
            label="body",
        )
    )
    # bowel gas: caecum in the right iliac fossa, small-bowel and sigmoid loops over the
    # sacrum, anterior to the bones  # guess: sizes and places typical of a plain film
    for c, semi, ang in (
        ((48, 96, 28), (32, 22, 16), 20.0),  # caecum
        ((14, 126, 26), (18, 12, 12), -10.0),
        ((84, 58, 26), (20, 12, 13), 10.0),
        ((104, 110, 26), (15, 10, 12), -30.0),
        ((62, 138, 28), (13, 9, 10), 0.0),
        ((90, 22, -32), (13, 17, 11), 0.0),  # rectum, in front of the coccyx
    ):
        add(
            Ellipsoid(
                material="air",
                center_mm=_t(P(*c)),
                semi_axes_mm=_t(np.asarray(semi) * s),
                axes=_rot_z(ang),
                parent=body,
                label="bowel_gas",
            )
        )

    # ---- femur -------------------------------------------------------------------------------
    head_sphere = Sphere(material="bone_cortical", center_mm=_t(J), radius_mm=R)
    # shaft axis: anatomical axis ~ 6 deg from vertical in AP, knee medial  # guess
    d_s = _unit([0.1, -1.0, 0.0])
    a_t = _unit([-math.sin(math.radians(12)), math.cos(math.radians(12)), 0.0])
    c_t = P(-46, -46, -12)
    shaft0 = c_t - 44.0 * s * a_t  # where the trochanteric region narrows to the shaft
    shaft_plane = _plane(d_s, shaft0)  # keeps the part above
    # the lateral femoral cortex runs straight from the greater trochanter into the shaft
    n_lat = _unit([-1.0, -0.1, 0.0])
    lateral = _plane(n_lat, shaft0 + 17.0 * s * n_lat)
    troch = Ellipsoid(
        material="bone_cortical",
        center_mm=_t(c_t),
        semi_axes_mm=(24 * s, 55 * s, 22 * s),
        axes=_rot_z(12.0),
        planes=(shaft_plane, lateral),
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
        start_mm=_t(shaft0),
        end_mm=_t(shaft0 + 260 * s * d_s),
        radius_mm=14.5 * s,
        parent=body,
        label="femur",
    )
    bone(replace_(head_sphere, parent=body, label="femur"), 1.5)
    bone(replace_(neck_prim, parent=body, cuts=(head_sphere, troch), label="femur"), 2.5)
    bone(troch, 2.0, core_planes=(shaft_plane, (*lateral[:3], lateral[3] - 3.0 * s)))
    bone(shaft, 6.5, "adipose")  # medullary canal with yellow marrow
    lesser = Ellipsoid(
        material="bone_cortical",
        center_mm=_t(P(-23, -80, -20)),
        semi_axes_mm=(10 * s, 12 * s, 9 * s),
        axes=_rot_z(-30.0),
        cuts=(shaft, troch),
        parent=body,
        label="femur",
    )
    bone(lesser, 2.0)

    # ---- pelvis ------------------------------------------------------------------------------
    plane_ac = (*_t(n_ac), float(n_ac @ J))
    acet_cut = Sphere(material="bone_cortical", center_mm=_t(J), radius_mm=r_ac_out)
    # acetabulum: subchondral plate 2.5 mm, 5 mm under the weight-bearing roof (the sourcil),
    # then cancellous bone, the half facing the head
    roof_dir = _unit([-0.3, 1.0, 0.0])
    roof_plane = _plane(-roof_dir, J + 0.55 * (R + js) * roof_dir)  # keeps the dome
    joint_void = Sphere(material="void", center_mm=_t(J), radius_mm=R + js)
    add(
        Sphere(
            material="bone_cortical",
            center_mm=_t(J),
            radius_mm=R + js + 2.5 * s,
            planes=(plane_ac,),
            cuts=(joint_void,),
            parent=body,
            label="pelvis",
        )
    )
    plate_void = Sphere(material="void", center_mm=_t(J), radius_mm=R + js + 2.5 * s)
    acet_i = add(
        Sphere(
            material="bone_cancellous",
            center_mm=_t(J),
            radius_mm=r_ac_out,
            planes=(plane_ac,),
            cuts=(plate_void,),
            parent=body,
            label="pelvis",
            texture=0.3 * HIP_TEXTURE,  # a shell seen edge-on: long chords, weaker pattern
            texture_mm=HIP_TEXTURE_MM,
        )
    )
    add(  # the sourcil: the plate doubled under the roof, inside the cancellous layer
        Sphere(
            material="bone_cortical",
            center_mm=_t(J),
            radius_mm=R + js + 5.0 * s,
            planes=(plane_ac, roof_plane),
            cuts=(plate_void,),
            parent=acet_i,
            label="pelvis",
        )
    )
    # sacroiliac joints: oblique lines from superolateral to inferomedial, 3 mm apart
    si_n = _unit([-95.0, -30.0, 0.0])  # lateral normal of the right joint
    si_p = P(44, 130, 0)
    si_right = _plane(si_n, si_p)  # keeps the sacral side
    si_left = _plane(si_n * [-1, 1, 1], mirror(si_p))
    # ilium: from the acetabular roof up to the crest, one plate 14 mm thick (an ellipsoid cut
    # to a slab: steep margins), facing anteromedially (SI joint posterior, ASIS anterior)
    wc = P(4, 80, -20)
    ax_w = rotation_y(-40.0)
    n_w = np.asarray(ax_w[2])
    wing = Ellipsoid(
        material="bone_cortical",
        center_mm=_t(wc),
        semi_axes_mm=(62 * s, 78 * s, 14 * s),
        axes=ax_w,
        planes=(
            _plane(-si_n, si_p + 3.0 * s * si_n),
            _plane(n_w, wc + 7.0 * s * n_w),
            _plane(-n_w, wc - 7.0 * s * n_w),
            # lateral border (AIIS - ASIS) and greater sciatic notch: the wing narrows to
            # the acetabulum like a fan
            _plane([-55.0, -20.0, 0.0], P(-28, 30, 0)),
            _plane([40.0, -31.0, 0.0], P(58, 40, 0)),
        ),
        cuts=(acet_cut,),
        parent=body,
        label="pelvis",
    )
    bone(wing, 1.5)
    sacrum = Ellipsoid(
        material="bone_cortical",
        center_mm=_t(np.array([hx, 85 * s, zj - 62 * s])),
        semi_axes_mm=(50 * s, 55 * s, 12 * s),
        axes=_rot_x(35.0),  # sacral base anterior, apex posterior  # guess
        planes=(si_right, si_left),
        parent=body,
        label="pelvis",
    )
    bone(sacrum, 1.5)

    # ischium, superior and inferior pubic rami and the pubic body: a ring of bone around the
    # obturator foramen (~ 32 x 40 mm in projection), which is simply left empty
    def ell(c, semi, ang=0.0, cuts=(), mirrored=False):
        c = P(*c)
        if mirrored:
            c, ang = mirror(c), 180.0 - ang
        return Ellipsoid(
            material="bone_cortical",
            center_mm=_t(c),
            semi_axes_mm=_t(np.asarray(semi) * s),
            axes=_rot_z(ang),
            cuts=cuts,
            parent=body,
            label="pelvis",
        )

    l_acet = replace_(acet_cut, center_mm=_t(mirror(J)))
    # below and in front of the head (the open side of the acetabular shells) the ischium and
    # the superior ramus reach up to the joint space
    acet_hemi = (replace_(acet_cut, planes=(plane_ac,)), joint_void)
    for side in (False, True):
        acet = (l_acet,) if side else acet_hemi
        ischium = ell((12, -54, -16), (14, 44, 18), -6.0, acet, side)
        sup_ramus = ell((50, -26, 8), (38, 10, 11), -12.0, (*acet, ischium), side)
        pubic_body = ell((73, -45, 14), (14, 22, 12), 0.0, (sup_ramus,), side)
        inf_ramus = ell((44, -82, -4), (34, 7.5, 8), 28.0, (ischium, pubic_body), side)
        if not side:
            bone(ischium, 2.0)
            bone(sup_ramus, 1.5)
        bone(pubic_body, 1.5)  # the left one only: its rami are off the image
        if not side:
            bone(inf_ramus, 1.5)

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
    # trochanter: the line J + s u + w1 v + w2 e2 meets the ellipsoid in [s_a, s_b] (its clip
    # plane, at the shaft, lies beyond the sleeve)
    tr = anat_key["troch"]
    axes = np.eye(3) if tr.axes is None else np.asarray(tr.axes)
    m = axes.T / np.asarray(tr.semi_axes_mm)[None, :]  # patient -> unit-sphere coordinates
    base = J[None, :] + w1[:, None] * v[None, :] + w2[:, None] * e2[None, :]
    q = (base - np.asarray(tr.center_mm)) @ m
    d = u @ m
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
    # The joint has adult size at and above the reference thickness and only its depth
    # changes, which the volumes do not see: one solve serves every adult thickness.
    return _contrast_layers(min(t_mm, HIP_REF_THICKNESS_MM), contrast_ml)


@functools.lru_cache(maxsize=64)
def _contrast_layers(t_mm: float, contrast_ml: float) -> tuple[float, float, float]:
    """:func:`hip_contrast_layers` for a body thickness up to the adult reference [mm]."""
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
    # regions of interest: the contrast over the head and the upper neck, within a disc near
    # the joint (on the central ray) small enough to stay in a 10 cm field, so collimating
    # changes the scatter in them, not which anatomy they hold
    roi_c, roi_r = J + 6.0 * s * u_n, 29.0 * s
    if t_f + t_s > 0:
        rois = (
            Roi("signal", _t(roi_c), roi_r, labels=("contrast",)),
            Roi(
                "background",
                _t(roi_c),
                roi_r,
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


ENTRY = PhantomEntry(
    name="hip_injection",
    label="Adult hip (joint injection)",
    build=_hip,
    needle=True,
    contrast="iodine",
    order=1,
)
