"""Thread control: one BLAS thread and one codec thread per encode by default, because Spark parallelises across
images; `codec_threads(n)` lets one large encode (the CLI's `--threads`) use n cores."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
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


_workers: ContextVar[int] = ContextVar("codec_workers", default=1)


@contextmanager
def codec_threads(n: int | None = 1) -> Iterator[None]:
    """Run one encode's compiled kernels on `n` threads inside the block (they release the GIL): bands of tiles,
    trial renders and plane streams go to a thread pool. 1 (the default, and what the pipeline uses: Spark already
    runs one task per core) keeps everything on the calling thread."""
    if n is not None and n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    token = _workers.set(n or 1)
    try:
        yield
    finally:
        _workers.reset(token)


def worker_count() -> int:
    """How many threads `codec_threads` allows the current encode."""
    return _workers.get()


def parallel_map[T, R](fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[fn(x) for x in items]`, on the threads `codec_threads` allows (results in order)."""
    workers = min(_workers.get(), len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="svdz") as pool:
        return list(pool.map(fn, items))
