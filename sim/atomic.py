"""Output files written whole or not at all.

:func:`check_writable` tells, before any work is done, whether a file can be created at a path
(its folder exists and accepts a new file); :func:`write_atomic` writes the content to a
temporary name in the same folder and renames it onto the path only once it is complete, so
an error or an interrupt half-way leaves no partial file (a rename within one folder is atomic
on POSIX file systems and on Windows' NTFS).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sim.validate import short_repr

_MAX_PATH_CHARS = 4096
"""Longest path accepted [characters] (Linux PATH_MAX)."""


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _create(path: Path) -> int:
    """Create a new file (never an existing one) with the permissions open() would give."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """The path of an output file, checked up front: its folder exists and takes a new file.

    A file is created in the folder and removed again (permissions, read-only file systems and
    the like all show), without touching an existing file at ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Where the file is to go (symbolic links are followed).
    what : str
        What the path is, for the message (``"--png"``).

    Returns
    -------
    pathlib.Path
        The resolved path.

    Raises
    ------
    ValueError
        Empty or not a path, the folder missing or not a folder, the path a folder, or no
        file can be created there (the message says which, with the system's reason).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{what} {short_repr(path)}: expected a file path")
    text = os.fspath(path)
    if not isinstance(text, str) or not text or len(text) > _MAX_PATH_CHARS or "\0" in text:
        raise ValueError(f"{what} {short_repr(text)}: expected a file path")
    target = Path(os.path.realpath(text))
    folder = target.parent
    if target.is_dir():
        raise ValueError(f"{what} {short_repr(text)}: is a folder; name a file in it")
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"{what} {short_repr(text)}: {short_repr(str(folder))} {state}")
    probe = _temp_name(target)
    try:
        os.close(_create(probe))
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(
            f"{what} {short_repr(text)}: cannot write in {short_repr(str(folder))} "
            f"({exc.strerror or exc})"
        ) from None
    return target


def write_atomic(
    path: str | os.PathLike, content: bytes | Callable[[BinaryIO], object], what: str = "output"
) -> Path:
    """Write a file whole: to a temporary name in its folder, renamed onto ``path`` at the end.

    Parameters
    ----------
    path : str or os.PathLike
        The file (checked with :func:`check_writable`; an existing file is replaced).
    content : bytes or callable
        The bytes, or a function writing them to the binary file object it is given.
    what : str
        What the path is, for messages.

    Returns
    -------
    pathlib.Path
        The resolved path written.

    Raises
    ------
    ValueError
        The path cannot be written (see :func:`check_writable`) or ``content`` is neither.
    OSError
        Writing failed part-way (disk full, ...); the temporary file is removed and ``path``
        is untouched.
    """
    if not (isinstance(content, (bytes, bytearray, memoryview)) or callable(content)):
        raise ValueError(f"content must be bytes or a function, got {type(content).__name__}")
    target = check_writable(path, what)
    temp = _temp_name(target)
    fd = _create(temp)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:  # an error or an interrupt: no partial file, under any name
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target
