"""Thread control: one BLAS thread and one codec thread per encode by default, because Spark parallelises across
images; `codec_threads(n)` lets one large encode (the CLI's `--threads`) use n cores."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from threadpoolctl import ThreadpoolController

from image_assets.codec import heap


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
_pool: ContextVar[ThreadPoolExecutor | None] = ContextVar("codec_pool", default=None)


@contextmanager
def codec_threads(n: int | None = 1) -> Iterator[None]:
    """Run one encode's compiled kernels on `n` threads inside the block (they release the GIL): the calling thread
    and a pool of n - 1 share out bands of tiles, trial renders, deblocking strips and plane streams. 1 (the
    default, and what the pipeline uses: Spark already runs one task per core) keeps everything on the calling
    thread.

    The pool lives as long as the block: an encode hands it work ~20 times (each trial, each refine), and starting
    and joining threads for each cost ~0.2 ms a time. Its threads do not see this block's setting, so work they
    run that calls `parallel_map` again runs inline there (no task waits on a queue its own pool must drain)."""
    if n is not None and n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    workers = n or 1
    pool = None
    if workers > 1:
        heap.share_one_arena()
        pool = ThreadPoolExecutor(workers - 1, thread_name_prefix="svdz")
    tokens = _workers.set(workers), _pool.set(pool)
    try:
        yield
    finally:
        _pool.reset(tokens[1])
        _workers.reset(tokens[0])
        if pool is not None:
            pool.shutdown(wait=True)


def worker_count() -> int:
    """How many threads `codec_threads` allows the current encode."""
    return _workers.get()


CHUNKS_PER_WORKER = 4  # runs of consecutive items per thread: enough to even out their sizes


def parallel_map[T, R](fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[fn(x) for x in items]`, on the threads `codec_threads` allows (results in order).

    Items go out in runs of consecutive ones, and the calling thread takes runs too rather than waiting: a 12 MP
    encode maps ~140 bands of ~50 us each several times, and handing a task to a sleeping thread (queue, future,
    wake-up) costs about as much again on a VM."""
    pool = _pool.get()
    if pool is None or len(items) <= 1:
        return [fn(x) for x in items]
    workers = _workers.get()
    count = min(len(items), workers * CHUNKS_PER_WORKER)
    bounds = [len(items) * i // count for i in range(count + 1)]
    results: list[list[R]] = [[] for _ in range(count)]
    claims = itertools.count()  # (next() on it is atomic: one C call under the GIL)
    stop = threading.Event()

    def drain(chunk: int) -> None:
        """Run `chunk`, then the next unclaimed run until none is left (or a run failed: then no thread starts
        another)."""
        try:
            while chunk < count and not stop.is_set():
                results[chunk] = [fn(x) for x in items[bounds[chunk] : bounds[chunk + 1]]]
                chunk = next(claims)
        except BaseException:
            stop.set()
            raise

    first = next(claims)  # the first run is the caller's (the write's luma plane: its finished blocks go to the pool)
    helpers = [pool.submit(lambda: drain(next(claims))) for _ in range(min(workers, count) - 1)]
    try:
        drain(first)
    finally:
        for helper in helpers:
            helper.exception()  # wait: no helper may still be writing when this returns or raises
    for helper in helpers:
        helper.result()  # a helper's error
    return [result for part in results for result in part]


def submitter() -> Callable[..., Future]:
    """`submit(fn, *args) -> Future` on this encode's pool, to hand to objects whose work is used later (a plane
    stream's finished blocks, coded while the stream models the next); with one thread the work runs at once."""
    pool = _pool.get()
    return pool.submit if pool is not None else _run_now


def _run_now[R](fn: Callable[..., R], *args: object) -> Future[R]:
    done: Future[R] = Future()
    done.set_result(fn(*args))  # (an error raises here and now: there is no later to keep it for)
    return done
