"""Real servers on 127.0.0.1 for the tests: the GCS emulator and mongoeco's MongoDB wire-protocol server."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gcs_emulator(bucket: str) -> Iterator[str]:
    """An in-memory gcp-storage-emulator with `bucket`; yields its http://127.0.0.1:PORT address."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def mongo_wire_server(sqlite_path: Path) -> Iterator[str]:
    """mongoeco's wire-protocol server over SQLite, in a background event loop; yields a mongodb:// URI."""
    from mongoeco.engines.sqlite import SQLiteEngine
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mongo-wire", daemon=True)
    thread.start()
    server = AsyncMongoEcoProxyServer(engine=SQLiteEngine(str(sqlite_path)), host="127.0.0.1", port=0)
    address = asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    try:
        yield f"mongodb://127.0.0.1:{address.port}/?directConnection=true"
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
