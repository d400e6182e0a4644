"""Argument checks shared by the engine's public functions.

Every bad input becomes a ``ValueError`` that names the argument, shows the value and the
valid range with its unit, so the API, the CLI (exit code 2) and the app report it alike.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def show(value: Any) -> str:
    """A value as it appears in an error message (numpy scalars as plain numbers)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return repr(value)


def check_number(
    name: str, value: Any, lo: float, hi: float, unit: str = "", *, lo_open: bool = False
) -> float:
    """``value`` as a finite float in [lo, hi] (or (lo, hi]), else ``ValueError``.

    Parameters
    ----------
    name
        Argument or knob name shown in the message.
    value
        The value to check.
    lo, hi
        Valid range, in the unit of the value.
    unit
        Unit shown after the range.
    lo_open
        Exclude ``lo`` itself.
    """
    valid = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]" + (f" {unit}" if unit else "")
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not a number: expected {valid}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number: expected {valid}") from None
    if not math.isfinite(x) or x > hi or x < lo or (lo_open and x == lo):
        raise ValueError(f"{name}={show(value)} is out of range {valid}")
    return x
