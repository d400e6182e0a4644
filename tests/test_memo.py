"""Byte-bounded caches (sim.memo)."""

import numpy as np

from sim import chain, memo


def _nbytes(a: np.ndarray) -> int:
    return a.nbytes


def test_byte_cache_keeps_its_budget_and_drops_the_least_recently_used():
    cache = memo.ByteCache(3000, _nbytes)
    for k in "abc":
        cache.put(k, np.zeros(100, np.float64))  # 800 bytes each (+ 64 per entry)
    assert cache.get("a")[1]  # "a" is now the most recently used
    cache.put("d", np.zeros(100, np.float64))  # 4 x 864 > 3000: the oldest, "b", goes
    assert not cache.get("b")[1]
    assert all(cache.get(k)[1] for k in "acd")
    assert cache.nbytes == 3 * 864 <= cache.max_bytes
    cache.put("big", np.zeros(1000, np.float64))  # alone over the budget: kept, the rest go
    assert cache.get("big")[1] and not any(cache.get(k)[1] for k in "acd")
    cache.clear()
    assert cache.nbytes == 0 and not cache.get("big")[1]


def test_noise_free_frames_are_kept_within_their_memory_budget():
    """expected_frame keeps frames by bytes: many small ones, few large ones, never more
    than FRAME_CACHE_BYTES beyond the newest."""
    import sim

    chain._expected.cache_clear()
    p = sim.Params().replace(**{"run.image_px": 64, "abc.enabled": False})
    for kvp in (60.0, 70.0, 80.0):
        q = p.replace(**{"tube.kvp": kvp})
        e = chain.expected_frame(q, sim.params.technique_from(q))
        assert chain.expected_frame(q, sim.params.technique_from(q)) is e  # kept
    cache = chain._expected.cache
    assert len(cache.data) == 3
    assert 10 * 64 * 64 * 4 <= cache.nbytes <= chain.FRAME_CACHE_BYTES
    chain._expected.cache_clear()
