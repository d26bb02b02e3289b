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
