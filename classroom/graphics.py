"""Small SVG graphics for the app: the dose-rate gauge, the skin-dose band bar, the chain diagram.

Pure functions returning SVG text built only from numbers and the project's own words (nothing a
user typed), shown with ``st.image``. Colours follow the usual traffic-light reading.

References
----------
21 CFR 1020.32(e): 88 mGy/min air-kerma-rate limit, 176 mGy/min with high-level control.
NCRP Report 168 (2010) and Balter et al., Radiology 254 (2010) 326: skin-dose bands at 2, 3 and
5 Gy (and the 15 Gy sentinel event), the ones ``sim.dose.skin_reaction`` uses.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sim.materials import asset_path

GREEN, AMBER, RED, GREY = "#2e8540", "#e39d14", "#c0392b", "#9aa0a6"
SKIN_BANDS_GY = (2.0, 3.0, 5.0, 15.0)
"""NCRP 168 skin-dose thresholds marked on the bar [Gy]."""


def _svg(width: int, height: int, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">{body}</svg>'
    )


def rate_gauge_svg(rate_mGy_per_min: float, limit_mGy_per_min: float, width: int = 360) -> str:
    """A horizontal bar of the Ka,r rate against the 88 and 176 mGy/min limits.

    Parameters
    ----------
    rate_mGy_per_min
        Reference air kerma rate [mGy/min].
    limit_mGy_per_min
        The limit in force (88, or 176 with high-level control) [mGy/min].
    width
        Drawing width [px].
    """
    top = 200.0
    x0, x1, y, h = 8, width - 8, 22, 18

    def xs(v: float) -> float:
        return x0 + (x1 - x0) * min(max(v, 0.0), top) / top

    colour = GREEN if rate_mGy_per_min < 0.5 * limit_mGy_per_min else AMBER
    if rate_mGy_per_min > limit_mGy_per_min:
        colour = RED
    body = [
        f'<rect x="{x0}" y="{y}" width="{x1 - x0}" height="{h}" fill="#eceff1" rx="3"/>',
        f'<rect x="{x0}" y="{y}" width="{xs(rate_mGy_per_min) - x0:.1f}" height="{h}" '
        f'fill="{colour}" rx="3"/>',
    ]
    for value, name in ((88.0, "88 limit"), (176.0, "176 high-level")):
        in_force = abs(value - limit_mGy_per_min) < 1e-6
        c = RED if in_force else GREY
        body.append(
            f'<line x1="{xs(value):.1f}" x2="{xs(value):.1f}" y1="{y - 4}" y2="{y + h + 4}" '
            f'stroke="{c}" stroke-width="{2 if in_force else 1}"/>'
            f'<text x="{xs(value):.1f}" y="{y + h + 16}" font-size="11" fill="{c}" '
            f'text-anchor="middle">{name}</text>'
        )
    body.append(
        f'<text x="{x0}" y="14" font-size="13" font-weight="bold" fill="{colour}">'
        f"{rate_mGy_per_min:.3g} mGy/min</text>"
        f'<text x="{x1}" y="14" font-size="11" fill="#555" text-anchor="end">'
        f"Ka,r rate (0-{top:g})</text>"
    )
    return _svg(width, 60, "".join(body))


def skin_bar_svg(peak_skin_mGy: float, width: int = 360) -> str:
    """Peak skin dose on a log bar with the NCRP 168 thresholds (2, 3, 5, 15 Gy).

    Parameters
    ----------
    peak_skin_mGy
        Peak skin dose [mGy].
    width
        Drawing width [px].
    """
    import math

    lo, hi = 10.0, 20000.0  # mGy, log scale
    x0, x1, y, h = 8, width - 8, 22, 18

    def xs(v_mGy: float) -> float:
        v = min(max(v_mGy, lo), hi)
        return x0 + (x1 - x0) * math.log(v / lo) / math.log(hi / lo)

    gy = peak_skin_mGy / 1000.0
    colour = GREEN if gy < 2 else AMBER if gy < 5 else RED
    body = [
        f'<rect x="{x0}" y="{y}" width="{x1 - x0}" height="{h}" fill="#eceff1" rx="3"/>',
        f'<rect x="{x0}" y="{y}" width="{max(xs(peak_skin_mGy) - x0, 0):.1f}" height="{h}" '
        f'fill="{colour}" rx="3"/>',
    ]
    for g in SKIN_BANDS_GY:
        x = xs(g * 1000.0)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 4}" y2="{y + h + 4}" stroke="{GREY}"/>'
            f'<text x="{x:.1f}" y="{y + h + 16}" font-size="11" fill="#555" '
            f'text-anchor="middle">{g:g}{" Gy" if g == SKIN_BANDS_GY[-1] else ""}</text>'
        )
    body.append(
        f'<text x="{x0}" y="14" font-size="13" font-weight="bold" fill="{colour}">'
        f"{peak_skin_mGy:.3g} mGy</text>"
        f'<text x="{x1}" y="14" font-size="11" fill="#555" text-anchor="end">'
        "peak skin dose (log scale)</text>"
    )
    return _svg(width, 60, "".join(body))


@lru_cache(maxsize=1)
def _chain_template() -> str:
    return asset_path("chain", "chain.svg").read_text(encoding="utf-8")


def chain_svg(stage: str) -> str:
    """The chain diagram (``assets/chain/chain.svg``) with one stage marked.

    Parameters
    ----------
    stage
        Id of a stage group in the SVG (``tube``, ``filter``, ``patient``, ``scatter``,
        ``grid``, ``receptor``, ``processing``, ``display``).
    """
    svg = _chain_template()
    stage = re.sub(r"[^a-z_]", "", stage)
    return svg.replace(f'class="stage" id="{stage}"', f'class="stage on" id="{stage}"')
