"""Argument checks shared by the engine's public functions.

Every bad input becomes a ``ValueError`` that names the argument, shows the value and the
valid range with its unit, so the API, the CLI (exit code 2) and the app report it alike.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from typing import Any

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlong = 40
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


def short_repr(value: Any) -> str:
    """repr() cut to a short line: long strings and deep or long containers are shortened, and
    a value whose repr fails (an integer of thousands of digits) shows its type."""
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > _REPR.maxstring:
        return f"<{type(value).__name__} of {len(value)} bytes>"  # reprlib would repr it whole
    try:
        return _REPR.repr(value)
    except Exception:  # a repr that fails still gets a name
        return f"<{type(value).__name__}>"


def show(value: Any) -> str:
    """A value as it appears in an error message (numpy scalars as plain numbers, anything
    else as a :func:`short_repr`)."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return short_repr(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return short_repr(value)


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
    dtype = getattr(value, "dtype", None)
    text = isinstance(value, (bool, str, bytes, bytearray))  # float("90") would accept text
    if text or (dtype is not None and getattr(dtype, "kind", "") not in "iuf"):
        raise ValueError(f"{name}={show(value)} is not a number: expected {valid}")
    try:
        x = float(value)
    except OverflowError:  # an integer beyond the float range
        x = math.inf
    except (TypeError, ValueError):
        raise ValueError(f"{name}={show(value)} is not a number: expected {valid}") from None
    if not math.isfinite(x) or x > hi or x < lo or (lo_open and x == lo):
        raise ValueError(f"{name}={show(value)} is out of range {valid}")
    return x
