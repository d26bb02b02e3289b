"""Connections for image downloads: made to the address that passed the check, and cut at a deadline.

`ImageFetcher` resolves and checks a host itself, then sends each request inside `pinned(address)`. The
adapter connects to exactly that address, so there is no second DNS lookup that a rebinding answer could
steer, while the Host header, TLS SNI and the certificate check still use the URL's hostname.

Inside `Deadline(seconds)`, every socket a connection opens or reuses is shut down when time is up. A read
blocked on a server that drips a byte at a time then returns at once, instead of after one read timeout
per recv call.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import ConnectionPool, HTTPConnectionPool, HTTPSConnectionPool

DEFAULT_PORTS = {"http": 80, "https": 443}

# Context variables, not adapter attributes: one fetcher (and adapter) serves several download threads.
_PIN: ContextVar[str | None] = ContextVar("imgpipe_pinned_address", default=None)
_DEADLINE: ContextVar[Deadline | None] = ContextVar("imgpipe_download_deadline", default=None)


class Deadline:
    """A wall-clock limit: when it passes, shut down every socket used under it (single use, a context manager).

    Socket timeouts cannot do this alone: each recv gets a fresh timeout, so a byte every few seconds keeps a
    read alive for ever. Shutting the connection down from a timer thread makes the blocked recv return.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._fired = False
        self._closed = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._token: Any = None

    def __enter__(self) -> Deadline:
        self._end = time.monotonic() + self.seconds
        self._token = _DEADLINE.set(self)
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()
        _DEADLINE.reset(self._token)
        with self._lock:
            self._closed = True
            socks, self._socks = self._socks, []
        for sock in socks:
            sock.close()

    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock`'s connection down at the deadline (at once if it has passed).

        Keeps a duplicate descriptor: wrapping a socket in TLS detaches the original object, but a shutdown
        through any descriptor of a connection ends it for all of them.
        """
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except OSError:  # already closed: nothing left to cut
            return
        with self._lock:
            if not (self._fired or self._closed):
                self._socks.append(dup)
                return
            if self._fired:
                _shutdown(dup)
        dup.close()

    def _expire(self) -> None:
        with self._lock:
            self._fired = True
            for sock in self._socks:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with suppress(OSError):  # the peer or the reader closed it first
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket) -> None:
    deadline = _DEADLINE.get()
    if deadline is not None:
        deadline.watch(sock)


@contextmanager
def pinned(address: str) -> Iterator[None]:
    """Send the requests made inside this block to `address`, whatever their URL's host resolves to."""
    token = _PIN.set(address)
    try:
        yield
    finally:
        _PIN.reset(token)


class _WatchedHTTPConnection(HTTPConnection):
    """Registers its socket with the current Deadline: when opened, and when a kept-alive one is reused."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # before any TLS handshake, which a slow server could drip too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # reused from the pool: opened under an earlier deadline, if any
            _watch(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """Connects every request to the address set by `pinned()`, and refuses to send one without it.

    The pool is keyed by that address, with the URL's hostname as `server_hostname` (SNI and certificate
    check) and in the Host header. Proxies are never used: a proxy would resolve the name again.
    """

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def get_connection_with_tls_context(
        self,
        request: PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> ConnectionPool:
        address = _PIN.get()
        if address is None:
            raise requests.exceptions.InvalidURL(f"no checked address to connect to for {request.url}")
        host_params, key_attributes = self.build_connection_pool_key_attributes(
            request, True if verify is None else verify, cert
        )
        pool_kwargs: dict[str, Any] = dict(key_attributes)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host_params["host"]
        return self.poolmanager.connection_from_host(
            host=address, port=host_params["port"], scheme=host_params["scheme"], pool_kwargs=pool_kwargs
        )

    def request_url(self, request: PreparedRequest, proxies: Mapping[str, str] | None) -> str:
        return request.path_url  # origin form: the connection is never to a proxy

    def add_headers(self, request: PreparedRequest, **kwargs: Any) -> None:
        request.headers["Host"] = host_header(request.url or "")


def host_header(url: str) -> str:
    """The Host header http.client would send for `url`: hostname (bracketed if IPv6), port unless default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host
