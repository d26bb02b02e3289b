"""Real servers on 127.0.0.1 for the tests: the GCS emulator, mongoeco's MongoDB wire-protocol server, MLflow."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


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
def mongo_wire_server(sqlite_path: Path, users: dict[str, str] | None = None, port: int = 0) -> Iterator[str]:
    """mongoeco's wire-protocol server over SQLite, in a background event loop; yields a mongodb:// URI (without
        credentials). With `users` ({name: password}) the server demands SCRAM authentication, as a real one would; a
    fixed `port` lets a test stop the server and start it again where clients expect it."""
    from mongoeco.engines.sqlite import SQLiteEngine
    from mongoeco.wire.auth import WireAuthUser
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    auth_users = tuple(
        WireAuthUser(name, password, roles=({"role": "root", "db": "admin"},))
        for name, password in (users or {}).items()
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mongo-wire", daemon=True)
    thread.start()
    server = AsyncMongoEcoProxyServer(
        engine=SQLiteEngine(str(sqlite_path)), host="127.0.0.1", port=port, auth_users=auth_users
    )
    address = asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    try:
        yield f"mongodb://127.0.0.1:{address.port}/?directConnection=true"
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@contextmanager
def mlflow_server(root: Path, timeout: float = 180.0) -> Iterator[str]:
    """`mlflow server` over a SQLite backend in `root`; yields its http://127.0.0.1:PORT once /health answers.

    Start-up takes 10-40 s here (it imports a web stack), so start it before other slow fixtures and `wait()`."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log_path = root / "mlflow-server.log"
    argv = [
        str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--default-artifact-root", (root / "art").as_uri(),
    ]  # fmt: skip
    with serving(argv, f"http://127.0.0.1:{port}", "/health", log_path, "mlflow server", timeout, cwd=root) as url:
        yield url


@contextmanager
def serving(
    argv: list[str],
    url: str,
    probe: str,
    log_path: Path,
    name: str,
    timeout: float,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    poll: float = 0.5,
) -> Iterator[str]:
    """Start `argv` in its own process group, logging to `log_path`; yield `url` once `url + probe` answers OK.
    On exit the group gets SIGTERM, then SIGKILL after 30 s."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}{probe}", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(poll)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


class FaultPlan:
    """Which requests a `faulty_proxy` spoils, cycling through `pattern`: "503" answers 503, "stall" holds the
    request `stall` seconds (past the client's timeout) before forwarding it anyway, "drop" closes the connection
    without an answer, "pass" forwards it. Counts what it did."""

    def __init__(self, pattern: tuple[str, ...] = ("503", "pass", "stall", "pass", "drop", "pass"), stall: float = 1.0):
        self.pattern, self.stall = pattern, stall
        self.requests = 0
        self.done: dict[str, int] = dict.fromkeys(("503", "stall", "drop", "pass"), 0)
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            fault = self.pattern[self.requests % len(self.pattern)]
            self.requests += 1
            self.done[fault] += 1
            return fault


@contextmanager
def faulty_proxy(target: str, plan: FaultPlan) -> Iterator[str]:
    """An HTTP reverse proxy on 127.0.0.1 in front of `target` (e.g. the GCS emulator) that injects the plan's
    faults: 503s, stalls and dropped connections, as a flaky network or an overloaded service would."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = plan.next()
            if fault == "503":
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "stall":
                time.sleep(plan.stall)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
            upstream = session.request(
                self.command, target + self.path, data=body, headers=headers, allow_redirects=False, timeout=60
            )
            payload = upstream.content
            self.send_response(upstream.status_code)
            for key, value in upstream.headers.items():
                if key.lower() not in {"content-length", "transfer-encoding", "connection", "content-encoding"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="faulty-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        session.close()
