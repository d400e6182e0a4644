"""Images of each clinical scenario as a student sees it, for the README and for phantom authors.

    python tools/scenario_images.py                       # docs/images/<preset>.png, 512 px
    python tools/scenario_images.py --out /tmp/look --px 768 hip_injection

Each image is the engine's display frame of a preset (``sim.presets``) at its own settings, run
through the same processing as the app, with no noise-free shortcuts; the README shows them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("hip_injection", "lumbar_epidural", "barium_swallow", "cardiac_cath")
"""The presets whose anatomy the README shows."""


def render(name: str, image_px: int, out_dir: Path) -> Path:
    """Simulate one preset and write its display image as PNG; the file's path."""
    from PIL import Image

    import sim
    from sim.presets import preset_params

    p = preset_params(name).replace(**{"run.image_px": image_px})
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
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    for name in args.names:
        print(render(name, args.px, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
