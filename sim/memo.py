"""Caches of the engine: least-recently-used caches bounded by the bytes they hold, and a
memo of what was worked out from a read-only array.

A count-bounded cache (``functools.lru_cache``) of images holds its entries whatever their
size: a noise-free frame is 0.3 MB at 96 px, 44 MB at 1024 px. :class:`ByteCache` holds a
fixed budget of memory instead, so a server process stays bounded and a full cache reuses the
memory it frees (new memory costs page faults on first use). :func:`per_array` remembers
checks and derived arrays of the masks and images that stay the same frame after frame.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_ENTRY_BYTES = 64  # what an entry costs besides its arrays (a guess; it only orders tiny ones)


class ByteCache:
    """Thread-safe least-recently-used cache bounded by ``size_of(value)`` bytes in all.

    Parameters
    ----------
    max_bytes : int
        Budget [bytes]; the newest entry is kept even when it alone exceeds it.
    size_of : callable
        Bytes held by a value [bytes].
    """

    def __init__(self, max_bytes: int, size_of: Callable[[Any], int]) -> None:
        self.max_bytes = int(max_bytes)
        self.size_of = size_of
        self.data: OrderedDict = OrderedDict()
        self.nbytes = 0
        self.lock = threading.Lock()

    def _size(self, value: Any) -> int:
        return int(self.size_of(value)) + _ENTRY_BYTES

    def get(self, key: Hashable) -> tuple[Any, bool]:
        """``(value, True)``, or ``(None, False)`` when ``key`` is not held."""
        with self.lock:
            try:
                value = self.data.pop(key)
            except KeyError:
                return None, False
            self.data[key] = value
            return value, True

    def put(self, key: Hashable, value: Any) -> None:
        """Hold ``value`` under ``key``, dropping the least recently used beyond the budget."""
        with self.lock:
            if key in self.data:
                self.nbytes -= self._size(self.data.pop(key))
            self.data[key] = value
            self.nbytes += self._size(value)
            while self.nbytes > self.max_bytes and len(self.data) > 1:
                _, old = self.data.popitem(last=False)
                self.nbytes -= self._size(old)

    def clear(self) -> None:
        """Drop every entry."""
        with self.lock:
            self.data.clear()
            self.nbytes = 0


def byte_cached(max_bytes: int, size_of: Callable[[Any], int]):
    """Decorator: a function of hashable arguments, its results kept in a :class:`ByteCache`
    (``wrapper.cache`` the cache, ``wrapper.cache_clear()`` empties it)."""

    def decorate(fn: Callable) -> Callable:
        cache = ByteCache(max_bytes, size_of)

        @functools.wraps(fn)
        def wrapper(*args: Hashable) -> Any:
            value, hit = cache.get(args)
            if not hit:
                value = fn(*args)  # outside the lock: two threads may both make it once
                cache.put(args, value)
            return value

        wrapper.cache = cache
        wrapper.cache_clear = cache.clear
        return wrapper

    return decorate


_PER_ARRAY: OrderedDict = OrderedDict()
_PER_ARRAY_SIZE = 64
_PER_ARRAY_LOCK = threading.Lock()


def per_array(a: Any, what: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered for a read-only numpy array ``a`` under ``what``.

    The scene's field mask, its regions of interest and a frame's open-field image are the
    same arrays frame after frame, so their checks, boxes, blurs and indices are worked out
    once. Only read-only arrays are remembered, by identity through a weak reference: a
    writeable array, or a new one at a reused address, is worked out again. A ``compute``
    that raises stores nothing.
    """
    if a.flags.writeable:
        return compute()
    key = (id(a), what)
    with _PER_ARRAY_LOCK:
        hit = _PER_ARRAY.get(key)
        if hit is not None and hit[0]() is a:
            _PER_ARRAY.move_to_end(key)
            return hit[1]
    value = compute()
    with _PER_ARRAY_LOCK:
        _PER_ARRAY[key] = (weakref.ref(a), value)
        while len(_PER_ARRAY) > _PER_ARRAY_SIZE:
            _PER_ARRAY.popitem(last=False)
    return value
