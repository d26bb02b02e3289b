"""BLAS thread control: one thread per encode by default, because Spark parallelises across images."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    # Building the controller scans loaded libraries (slow); numpy and scipy each bundle their own OpenBLAS.
    import scipy.linalg  # noqa: F401  (load scipy's BLAS so it is limited too)

    return ThreadpoolController()


@contextmanager
def blas_threads(n: int | None = 1) -> Iterator[None]:
    """Limit every loaded BLAS (numpy's and scipy's) to `n` threads inside the block; None leaves them."""
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    with _controller().limit(limits=int(n), user_api="blas"):
        yield
