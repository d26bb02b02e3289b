from threadpoolctl import threadpool_info

from image_assets.codec import blas_threads


def _blas_threads() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_blas_threads_limits_and_restores():
    before = _blas_threads()
    with blas_threads(1):
        assert _blas_threads() == {1}
    assert _blas_threads() == before
    with blas_threads(None):
        assert _blas_threads() == before
