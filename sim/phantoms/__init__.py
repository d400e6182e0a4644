"""Analytic phantoms and their divergent-beam path-length maps.

A phantom is data: a tuple of convex analytic shapes (slab, box, ellipsoid, sphere, finite
elliptic cylinder, needle), each of a named material, plus regions of interest. Rays from the
point focal spot to every receptor pixel are intersected with each shape analytically, giving
per-material path-length maps [mm] on the receptor grid (:func:`path_lengths`).

Coordinates (patient, [mm])
---------------------------
``x`` lateral (``+x`` = the patient's left = image right), ``y`` cranio-caudal (``+y``
cranial = image up), ``z`` depth along the central ray from the patient's ENTRANCE surface
(``z = 0``) to the exit surface (``z = thickness``). The patient lies supine on the table with
the C-arm source below it (the table, between source and patient, is in the beam), so the
entrance surface is posterior and the anterior skin is at ``z = thickness``. The focal spot is
at ``(0, 0, -source_skin)``; the receptor plane at ``z = sid - source_skin``. A ``Phantom``
therefore does not depend on distances, and its shapes are cached by value.

Composition rules
-----------------
* ``parent``: index of the shape a shape sits inside (listed before it). The child's net path
  is added to its own material and subtracted from its parent's material. The child must lie
  inside the parent (nesting: cancellous core inside a cortical shell inside soft tissue).
* ``cuts``: convex shapes whose volume is removed from this shape (e.g. the femoral neck minus
  the femoral head). The removed path is computed exactly by inclusion-exclusion over the cut
  intervals (each convex shape meets a ray in one interval), so cuts may overlap each other;
  the cuts' own cuts are ignored.
* ``planes``: half-spaces ``n . p <= d`` intersected with the shape (a hemispherical
  acetabulum is a sphere and a plane).
* Sibling shapes (same parent, not cut by each other) must not overlap:
  :func:`overlap_report` checks a phantom by sampling.
* Material ``"void"`` (:data:`VOID`) is a hole: its path is removed from the parent and not
  recorded (the lumen of a hollow needle).

Thin objects (needle, bar patterns, contrast films, disc edges) carry ``feature_mm``: their
pixels are supersampled with up to 16 x 16 sub-rays so that path lengths are pixel averages
(partial volume) instead of aliased point samples.

References
----------
.. [1] Ray-quadric and ray-box intersection: P. Shirley, *Fundamentals of Computer Graphics*,
   2nd ed., A K Peters, 2005, sec. 10.3; T. L. Kay, J. T. Kajiya, "Ray tracing complex
   scenes", SIGGRAPH 1986 (slab method); segment distance: C. Ericson, *Real-Time Collision
   Detection*, Morgan Kaufmann, 2005, sec. 5.1.9.
.. [2] H. Gray, *Anatomy of the Human Body*, 20th ed., 1918, sec. II.6.c (femur: neck-shaft
   angle ~125-130 deg, anteversion ~12-15 deg). D. W. Murray, "The definition and
   measurement of acetabular orientation", J Bone Joint Surg Br 75:228 (1993) (acetabular
   inclination ~45 deg, anteversion ~15-20 deg).
.. [3] Adult femoral head diameter ~ 43-56 mm, mean ~ 48 mm; hip joint space 3-5 mm [R]
   (textbook values, e.g. Gray 1918 and standard radiographic anatomy).
.. [4] Leeds Test Objects TOR 18FG: resolution limit 0.5-5.0 lp/mm, 18 low-contrast details
   of 8 mm diameter, lead circle for circular geometry (product description,
   https://hnamedical.com/product/tor-18fg/) [S].
.. [5] C. D. Murray, "The physiological principle of minimum work", PNAS 12:207 (1926)
   (r_parent^3 = sum r_child^3 at vessel bifurcations).
.. [6] 22-gauge needle: outer diameter 0.718 mm, regular-wall inner diameter 0.413 mm, as
   tabulated from ISO 9626:2016 [R].
.. [7] Lumbar vertebrae: C. G. Hinck, W. M. Clark, C. E. Hopkins, "Normal interpediculate
   distances (minimum and maximum) in children and adults", AJR 97:141 (1966); M. M. Panjabi
   et al., "Human lumbar vertebrae: quantitative three-dimensional anatomy", Spine 17:299
   (1992); skin-to-epidural depth ~ 5 cm: G. R. Harrison, N. W. B. Clowes, Anaesthesia 40:685
   (1985) [R].
.. [8] Trachea: J. F. Breatnach, G. C. Abbott, R. G. Fraser, "Dimensions of the normal human
   trachea", AJR 142:903 (1984) [R]. Barium sulfate suspensions: see
   :func:`sim.materials.barium_material`.

The package: :mod:`~sim.phantoms.shapes` (shape primitives and their ray chords),
:mod:`~sim.phantoms.model` (:class:`Phantom`, :class:`Roi`), :mod:`~sim.phantoms.trace`
(path-length maps, region masks), :mod:`~sim.phantoms.registry` (one entry per phantom),
:mod:`~sim.phantoms.data` (phantoms written as TOML data files), and one module per anatomy or
test object, each ending with its registry ``ENTRY``.
"""

from sim.phantoms.data import discover_assets, load_phantom_file
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import (
    PhantomEntry,
    build_phantom,
    discover,
    entries,
    entry,
    make_phantom,
    register,
)
from sim.phantoms.shapes import (
    NEEDLE_22G_ID_MM,
    NEEDLE_22G_OD_MM,
    SPINAL_NEEDLE_LENGTHS_MM,
    VOID,
    Box,
    Cylinder,
    Ellipsoid,
    Needle,
    Shape,
    Slab,
    Sphere,
    needle_shapes,
    rotation_y,
    shelled,
)
from sim.phantoms.trace import (
    clear_caches,
    overlap_report,
    path_lengths,
    roi_masks,
    shape_path,
)

discover()
discover_assets()

__all__ = [
    "NEEDLE_22G_ID_MM",
    "NEEDLE_22G_OD_MM",
    "SPINAL_NEEDLE_LENGTHS_MM",
    "VOID",
    "Box",
    "Cylinder",
    "Ellipsoid",
    "Needle",
    "Phantom",
    "PhantomEntry",
    "Roi",
    "Shape",
    "Slab",
    "Sphere",
    "build_phantom",
    "clear_caches",
    "discover",
    "entries",
    "entry",
    "load_phantom_file",
    "make_phantom",
    "needle_shapes",
    "overlap_report",
    "path_lengths",
    "register",
    "roi_masks",
    "rotation_y",
    "shape_path",
    "shelled",
]
