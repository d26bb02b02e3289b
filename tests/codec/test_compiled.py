"""The codec's hot loops are compiled without reference counting (`compiled.NO_REFCOUNTS`): numba's counts cost
atomic instructions per helper call inside them. Checked on the machine code of a fresh compile of each."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from image_assets.codec import decode, encode, entropy_v5, kernels

HOT_LOOPS = [
    entropy_v5.decode_plane_vectors,
    entropy_v5.record_vectors,
    kernels._tiles_to_plane,
    kernels.quantization_error,
]


@pytest.fixture(scope="module", autouse=True)
def compiled_once() -> None:
    """An encode and a decode, so each kernel has the signature the codec calls it with."""
    rng = np.random.default_rng(0)
    pixels = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    decode(encode(pixels, psnr=30))
    basis = kernels.dct_basis(16)  # the body behind the `tiles_to_plane` wrapper, called as the wrapper calls it
    vectors, scratch = np.zeros((1, 16), np.int32), np.empty(16, np.float32)
    kernels._tiles_to_plane(
        np.ones(1, np.int64), vectors, vectors, 1.0, basis, basis, 1, np.empty((16, 16), np.float32),
        scratch, scratch.copy(), np.empty((16, 16), np.float32),
    )  # fmt: skip


def _machine_code(kernel, **options) -> str:
    inherited = {key: value for key, value in kernel.targetoptions.items() if key != "nopython"}  # njit sets it
    fresh = njit(**{**inherited, "cache": False, **options})(kernel.py_func)
    signature = kernel.signatures[0]
    fresh.compile(signature)
    return fresh.inspect_asm(signature)


@pytest.mark.parametrize("kernel", HOT_LOOPS, ids=lambda k: k.__name__)
def test_hot_loops_have_no_reference_counting(kernel) -> None:
    assert kernel.targetoptions.get("_nrt") is False
    assert "NRT_incref" not in _machine_code(kernel)


def test_the_check_sees_reference_counting_where_it_is_compiled_in() -> None:
    """The same tile renderer with numba's default: its helper calls count references."""
    assert "NRT_incref" in _machine_code(kernels._tiles_to_plane, _nrt=True)
