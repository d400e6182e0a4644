"""Images of each clinical scenario as a student sees it, for the README and for phantom authors.

    python tools/scenario_images.py                       # docs/images/<preset>.png, 512 px
    python tools/scenario_images.py --out /tmp/look --px 768 --as-preset hip_injection

Each image is the engine's display frame of a preset (``sim.presets``), run through the same
processing as the app, with no noise-free shortcuts; the README shows them. By default the
collimator is opened to the whole field of view (the anatomy around the target shows; the ABC
and the dose follow); ``--as-preset`` keeps the preset's own collimation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("hip_injection", "lumbar_epidural", "barium_swallow", "cardiac_cath")
"""The presets whose anatomy the README shows."""


def render(name: str, image_px: int, out_dir: Path, open_field: bool = True) -> Path:
    """Simulate one preset and write its display image as PNG; the file's path."""
    from PIL import Image

    import sim
    from sim.presets import preset_params

    p = preset_params(name).replace(**{"run.image_px": image_px})
    if open_field:
        p = p.replace(**{"geometry.field_cm": p.geometry.fov_cm})
    r = sim.simulate(p)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    Image.fromarray(r.image).save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=list(SCENARIOS), help="presets to draw")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder")
    ap.add_argument("--px", type=int, default=512, help="image side [px]")
    ap.add_argument("--as-preset", action="store_true", help="keep the preset's collimation")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    for name in args.names:
        print(render(name, args.px, args.out, open_field=not args.as_preset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
