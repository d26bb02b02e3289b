"""`threads=N` runs one encode's kernels on a thread pool and must not change a single byte of the file."""

import threading

import numpy as np

from image_assets.codec import RankPolicy, encode_pixels
from image_assets.codec import threads as codec_threads_module


def test_two_threads_give_the_same_file_and_really_use_a_pool(coffee_crop, monkeypatch):
    seen: set[str] = set()
    original = codec_threads_module.parallel_map

    def spy(fn, items):
        def wrapped(item):
            seen.add(threading.current_thread().name)
            return fn(item)

        return original(wrapped, items)

    monkeypatch.setattr("image_assets.codec.analysis.parallel_map", spy)
    monkeypatch.setattr("image_assets.codec.encoder.parallel_map", spy)
    big = np.ascontiguousarray(np.tile(coffee_crop, (4, 4, 1)))  # 576 x 768: several bands to share out
    for policy in (RankPolicy("psnr", 35.0), RankPolicy("psnr", 42.0)):
        seen.clear()
        one = encode_pixels(big, policy, threads=1)
        assert not any(name.startswith("svdz") for name in seen)
        two = encode_pixels(big, policy, threads=2)
        assert two.data == one.data and two.psnr == one.psnr
        assert any(name.startswith("svdz") for name in seen)  # the bands and planes did go to the pool


def test_parallel_map_keeps_order_shares_the_work_and_stops_on_an_error():
    """Runs of items go to the caller and the pool; results come back in order; an error is raised to the caller
    only once no thread is still running items (nothing of the map may outlive the call)."""
    import time

    import pytest

    from image_assets.codec.threads import codec_threads, parallel_map

    seen: set[str] = set()

    def square(x: int) -> int:
        seen.add(threading.current_thread().name)
        time.sleep(0.001)  # long enough for the pool's thread to claim runs too
        return x * x

    with codec_threads(2):
        assert parallel_map(square, list(range(37))) == [x * x for x in range(37)]
    assert "MainThread" in seen and any(name.startswith("svdz") for name in seen)

    calls: list[int] = []

    def fails_at_5(x: int) -> int:
        calls.append(x)
        time.sleep(0.002)
        if x == 5:
            raise ValueError("item 5")
        return x

    with codec_threads(2):
        with pytest.raises(ValueError, match="item 5"):
            parallel_map(fails_at_5, list(range(40)))
        done = len(calls)
        time.sleep(0.05)
        assert len(calls) == done  # nothing ran on after the error reached the caller
    assert done <= 15  # the failing run's thread stopped, and the other finished no more than the run it was in
