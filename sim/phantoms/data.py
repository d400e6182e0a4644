"""Phantoms written as data: a TOML file of shapes and regions, validated field by field.

A data phantom is a body slab of the patient's thickness (``patient.thickness_cm``) holding
fixed shapes, with regions of interest for the metrics; it has no needle and no contrast (those
move, and are written in code: :mod:`sim.phantoms.hip`). The files of ``assets/phantoms`` are
registered at start; a user's own file is loaded with :func:`load_phantom_file` (the CLI's
``--phantom-file``). The schema, every key in millimetres and patient coordinates (``x``
lateral, ``y`` cranial, ``z`` depth from the entrance surface; :mod:`sim.phantoms`)::

    name = "my_phantom"            # the value of patient.phantom (letters, digits, _)
    label = "My phantom"           # what the app shows
    description = "..."            # optional
    order = 50                     # optional: position in the app's list
    [body]
    material = "water"             # a slab of the patient thickness
    [[shape]]
    type = "box"                   # slab | box | ellipsoid | sphere | cylinder
    material = "Al"
    center_mm = [0, 0, 5]          # box, ellipsoid, sphere
    size_mm = [10, 60, 10]         # box: full sides; ellipsoid: semi_axes_mm; sphere: radius_mm
    # slab: z0_mm, z1_mm; cylinder: start_mm, end_mm, radius_mm (radius2_mm)
    label = "step0"                # optional, for regions
    parent = "body"                # optional: label of an earlier shape it sits inside
    feature_mm = 2.0               # optional: smallest feature (turns on supersampling)
    [[roi]]
    name = "signal"                # signal and background feed contrast, SNR and CNR
    center_mm = [0, 0, 5]
    radius_mm = 3.0
    # optional: inner_mm, labels, exclude_labels, fraction, near_labels, near_mm

A shape that reaches deeper than a thin body is clipped at the exit surface. Any other problem
(a missing or unknown key, a wrong type, a bad number, an unknown material or parent) is a
``ValueError`` that names the file and the field.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.materials import asset_path
from sim.phantoms.model import Phantom, Roi
from sim.phantoms.registry import PhantomEntry, register
from sim.phantoms.shapes import Box, Cylinder, Ellipsoid, Shape, Slab, Sphere
from sim.units import CM_PER_MM

ASSET_DIR = asset_path("phantoms")
"""The data phantoms shipped with fluorosim (``assets/phantoms``)."""

MAX_FILE_BYTES = 1_000_000
"""Largest phantom file read [bytes]."""

MAX_SHAPES = 500
"""Most shapes in a data phantom [-] (each costs a ray trace)."""

_SHAPE_FIELDS = {
    "slab": {"z0_mm": "number", "z1_mm": "number"},
    "box": {"center_mm": "vec", "size_mm": "vec"},
    "ellipsoid": {"center_mm": "vec", "semi_axes_mm": "vec"},
    "sphere": {"center_mm": "vec", "radius_mm": "number"},
    "cylinder": {"start_mm": "vec", "end_mm": "vec", "radius_mm": "number"},
}
_SHAPE_OPTIONAL = {"label": "text", "parent": "text", "feature_mm": "number"}
_CYLINDER_OPTIONAL = {"radius2_mm": "number"}
_SHAPE_CLASSES = {"slab": Slab, "box": Box, "ellipsoid": Ellipsoid, "sphere": Sphere}
_ROI_REQUIRED = {"name": "text", "center_mm": "vec", "radius_mm": "number"}
_ROI_OPTIONAL = {
    "inner_mm": "number",
    "labels": "texts",
    "exclude_labels": "texts",
    "fraction": "number",
    "near_labels": "texts",
    "near_mm": "number",
}
_TOP = {"name", "label", "description", "order", "body", "shape", "roi"}


@dataclass(frozen=True)
class DataPhantom:
    """A validated data phantom: its shapes (body excluded) and regions, as in the file."""

    name: str
    label: str
    description: str
    body_material: str
    shapes: tuple[tuple[Shape, int | None], ...]  # shape (parent unset) and its parent index
    rois: tuple[Roi, ...]
    source: str
    text: str = ""  # the file's content, to register it again elsewhere (a worker process)
    order: int | None = None  # position in the app's list, when the file gives one

    def build(self, t_mm: float, progress: float, contrast_ml: float, mg_i_per_ml: float):
        """The phantom at a body thickness [mm] (the other arguments do not apply)."""
        shapes: list[Shape] = [Slab(material=self.body_material, z0_mm=0.0, z1_mm=t_mm)]
        for shape, parent in self.shapes:
            changes: dict[str, Any] = {"parent": 0 if parent is None else parent + 1}
            box = shape.aabb()
            if box is not None and box[1][2] > t_mm:  # clip at the exit surface
                changes["planes"] = (*shape.planes, (0.0, 0.0, 1.0, t_mm))
            shapes.append(dataclasses.replace(shape, **changes))
        desc = self.description or self.label
        return Phantom(
            self.name,
            tuple(shapes),
            self.rois,
            f"{desc}, {t_mm * CM_PER_MM:g} cm {self.body_material}",
        )


class _Reader:
    """Field checks that name the file and the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def bad(self, field: str, message: str) -> ValueError:
        return ValueError(f"{self.where}: {field}: {message}")

    def value(self, table: dict, field: str, kind: str, at: str, required: bool = True) -> Any:
        name = f"{at}{field}"
        if field not in table:
            if required:
                raise self.bad(name, "missing")
            return None
        v = table[field]
        if kind == "text":
            if not isinstance(v, str) or not v.strip() or len(v) > 200:
                raise self.bad(name, f"expected a text of 1-200 characters, got {v!r:.60}")
            return v
        if kind == "texts":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise self.bad(name, f"expected a list of texts, got {v!r:.60}")
            return tuple(v)
        if kind == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise self.bad(name, f"expected a finite number, got {v!r:.60}")
            if abs(v) > 1e4:
                raise self.bad(name, f"{v!r} is out of range [-10000, 10000] mm")
            return float(v)
        if kind == "vec":
            ok = isinstance(v, list) and len(v) == 3
            ok = ok and all(not isinstance(x, bool) and isinstance(x, (int, float)) for x in v)
            if not ok or not all(math.isfinite(x) and abs(x) <= 1e4 for x in v):
                raise self.bad(
                    name, f"expected 3 finite numbers [mm] (|x| <= 10000), got {v!r:.60}"
                )
            return tuple(float(x) for x in v)
        raise AssertionError(kind)

    def unknown(self, table: dict, allowed: set[str], at: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self.bad(
                f"{at}{extra[0]}", f"unknown key (expected one of {', '.join(sorted(allowed))})"
            )


def parse_phantom(text: str, where: str = "<phantom>") -> DataPhantom:
    """A data phantom from the text of a TOML file.

    Parameters
    ----------
    text : str
        The file's content.
    where : str
        The file's name, for the messages.

    Returns
    -------
    DataPhantom
        Validated.

    Raises
    ------
    ValueError
        Naming the file and the bad field.
    """
    r = _Reader(where)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML ({exc})") from None
    r.unknown(doc, _TOP, "")
    name = r.value(doc, "name", "text", "")
    if not name.isidentifier():
        raise r.bad("name", f"{name!r} must be a word (letters, digits, _)")
    label = r.value(doc, "label", "text", "")
    description = r.value(doc, "description", "text", "", required=False) or ""
    order = doc.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
        raise r.bad("order", f"expected a whole number, got {order!r:.40}")
    body = doc.get("body")
    if not isinstance(body, dict):
        raise r.bad("body", "missing: a [body] table with its material")
    r.unknown(body, {"material"}, "body.")
    body_material = _material(r, r.value(body, "material", "text", "body."), "body.material")
    raw_shapes = doc.get("shape", [])
    if not isinstance(raw_shapes, list) or not all(isinstance(s, dict) for s in raw_shapes):
        raise r.bad("shape", "expected [[shape]] tables")
    if len(raw_shapes) > MAX_SHAPES:
        raise r.bad("shape", f"{len(raw_shapes)} shapes: at most {MAX_SHAPES}")
    labels: dict[str, int] = {}
    shapes = []
    for i, s in enumerate(raw_shapes):
        at = f"shape[{i}]."
        kind = r.value(s, "type", "text", at)
        if kind not in _SHAPE_FIELDS:
            raise r.bad(f"{at}type", f"{kind!r}: expected one of {', '.join(_SHAPE_FIELDS)}")
        fields = _SHAPE_FIELDS[kind]
        optional = {**_SHAPE_OPTIONAL, **(_CYLINDER_OPTIONAL if kind == "cylinder" else {})}
        r.unknown(s, {"type", "material", *fields, *optional}, at)
        material = _material(r, r.value(s, "material", "text", at), f"{at}material")
        args = {f: r.value(s, f, k, at) for f, k in fields.items()}
        args.update(
            {f: v for f, k in optional.items() if (v := r.value(s, f, k, at, False)) is not None}
        )
        parent_label = args.pop("parent", "body")
        if parent_label == "body":
            parent = None
        elif parent_label in labels:
            parent = labels[parent_label]
        else:
            raise r.bad(f"{at}parent", f"{parent_label!r} is not the label of an earlier shape")
        try:
            shape = _make_shape(kind, material, args)
        except ValueError as exc:
            raise r.bad(f"{at}{kind}", str(exc)) from None
        if "label" in args:
            labels.setdefault(args["label"], i)
        shapes.append((shape, parent))
    raw_rois = doc.get("roi", [])
    if not isinstance(raw_rois, list) or not all(isinstance(x, dict) for x in raw_rois):
        raise r.bad("roi", "expected [[roi]] tables")
    rois = []
    for i, x in enumerate(raw_rois):
        at = f"roi[{i}]."
        r.unknown(x, set(_ROI_REQUIRED) | set(_ROI_OPTIONAL), at)
        args = {f: r.value(x, f, k, at) for f, k in _ROI_REQUIRED.items()}
        args.update(
            {
                f: v
                for f, k in _ROI_OPTIONAL.items()
                if (v := r.value(x, f, k, at, False)) is not None
            }
        )
        if args["radius_mm"] <= 0 or args.get("inner_mm", 0.0) < 0:
            raise r.bad(f"{at}radius_mm", "radius_mm must be > 0 and inner_mm >= 0")
        for key in ("labels", "exclude_labels", "near_labels"):
            for lab in args.get(key, ()):
                if lab not in labels:
                    raise r.bad(f"{at}{key}", f"{lab!r} is not the label of a shape")
        rois.append(Roi(**args))
    return DataPhantom(
        name, label, description, body_material, tuple(shapes), tuple(rois), where, text, order
    )


def _material(r: _Reader, name: str, field: str) -> str:
    from sim import materials

    try:
        materials.check_material(name)
    except ValueError as exc:
        raise r.bad(field, str(exc)) from None
    return name


def _make_shape(kind: str, material: str, args: dict[str, Any]) -> Shape:
    if kind == "cylinder":
        return Cylinder(material=material, **args)
    return _SHAPE_CLASSES[kind](material=material, **args)


def load_phantom_file(path: str | Path, order: int = 100, replace: bool = True) -> PhantomEntry:
    """Read, validate and register a phantom file; ``patient.phantom`` can then name it.

    Parameters
    ----------
    path : str or Path
        A TOML file (schema in the module docstring).
    order : int
        Position in the app's list when the file does not say [-].
    replace : bool
        Replace a registered phantom of the same name (a file loaded again).

    Returns
    -------
    PhantomEntry
        The registered entry.

    Raises
    ------
    ValueError
        An unreadable file, or a field that fails its check (named).
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{p}: larger than {MAX_FILE_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: cannot read the phantom file ({exc})") from None
    return register_text(text, str(p), order=order, replace=replace)


def register_text(text: str, where: str, order: int = 100, replace: bool = True) -> PhantomEntry:
    """Validate and register a phantom from the text of a TOML file (see
    :func:`load_phantom_file`)."""
    data = parse_phantom(text, where)
    from sim.phantoms.registry import entry as registered

    try:
        old = registered(data.name)
    except ValueError:
        old = None
    if old is not None and old.source != where:
        raise ValueError(
            f"{where}: name: {data.name!r} is taken by {old.source}; choose another name"
        )
    e = PhantomEntry(
        name=data.name,
        label=data.label,
        build=data.build,
        order=order if data.order is None else data.order,
        source=where,
    )
    return register(e, replace=replace)


def file_of(name: str) -> tuple[str, str] | None:
    """``(where, text)`` of a registered data phantom read from outside ``assets/phantoms``
    (None for the shipped ones and those in code): what another process needs to register it
    (:func:`register_text`)."""
    from sim.phantoms.registry import entry

    data = getattr(entry(name).build, "__self__", None)
    if not isinstance(data, DataPhantom) or Path(data.source).parent == ASSET_DIR:
        return None
    return data.source, data.text


def discover_assets() -> None:
    """Register the data phantoms shipped in ``assets/phantoms``."""
    if ASSET_DIR.is_dir():
        for path in sorted(ASSET_DIR.glob("*.toml")):
            load_phantom_file(path, replace=False)
