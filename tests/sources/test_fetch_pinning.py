"""The connection goes to the address that passed the check: one resolution per hop, none by requests.

`*.example.test` names do not resolve on any machine, so a download that succeeds from one proves that
the fetcher connected to the address its resolver gave, not to one it looked up again.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from image_assets.sources import fetch, statuses
from image_assets.sources.base import DownloadError
from image_assets.sources.fetch import HostAllowlist, ImageFetcher
from image_assets.sources.pinned import host_header
from image_assets.sources.settings import HttpSettings

HOST = "images.example.test"


class Resolver:
    """Answers from a script, one answer per call, and records each call."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [self.answers[min(len(self.calls), len(self.answers)) - 1]]


def private_fetcher(entry: str, settings: HttpSettings, resolver: Callable[[str, int], list[str]]) -> ImageFetcher:
    """A fetcher for `entry` on loopback, allowed through the explicit private opt-in."""
    return ImageFetcher("test", HostAllowlist.of([entry], private=[entry]), settings, resolver=resolver)


def test_connects_to_the_checked_address_with_the_urls_host(httpserver, settings, jpeg):
    entry = f"{HOST}:{httpserver.port}"
    httpserver.expect_request("/img.jpg", headers={"Host": entry}).respond_with_data(jpeg, content_type="image/jpeg")
    resolver = Resolver("127.0.0.1")
    assert private_fetcher(entry, settings, resolver).fetch(f"http://{entry}/img.jpg").data == jpeg
    assert resolver.calls == [HOST]


def test_a_changed_second_answer_does_not_move_the_connection(httpserver, settings, jpeg):
    """A rebinding DNS answers differently the second time; there is no second time."""
    entry = f"{HOST}:{httpserver.port}"
    httpserver.expect_request("/img.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    resolver = Resolver("127.0.0.1", "127.0.0.2")  # nothing listens on 127.0.0.2
    assert private_fetcher(entry, settings, resolver).fetch(f"http://{entry}/img.jpg").data == jpeg
    assert resolver.calls == [HOST]


def test_rebinding_to_loopback_after_a_public_answer_never_reaches_loopback(httpserver, monkeypatch):
    """Checked as public, then rebound to the loopback server: the connection still goes to the checked address."""
    checked = "127.0.0.3"  # stands in for a public address; nothing listens there
    monkeypatch.setattr(fetch, "_is_public", lambda address: address == checked)
    entry = f"{HOST}:{httpserver.port}"
    resolver = Resolver(checked, "127.0.0.1")
    s = HttpSettings(max_attempts=2, backoff_base=0.001, download_timeout=2.0, sleep=lambda _s: None)
    f = ImageFetcher("test", HostAllowlist.of([entry]), s, resolver=resolver)  # no private opt-in
    with pytest.raises(DownloadError) as info:
        f.fetch(f"http://{entry}/img.jpg")
    assert info.value.status == statuses.DOWNLOAD_FAILED  # connection refused at 127.0.0.3, after a retry
    assert resolver.calls == [HOST]  # the retry reused the checked address
    assert httpserver.log == []


def test_each_redirect_hop_is_resolved_once_and_pinned(httpserver, settings, png):
    entry = f"{HOST}:{httpserver.port}"
    httpserver.expect_request("/r").respond_with_response(Response(status=302, headers={"Location": "/i.png"}))
    httpserver.expect_request("/i.png", headers={"Host": entry}).respond_with_data(png, content_type="image/png")
    resolver = Resolver("127.0.0.1")
    assert private_fetcher(entry, settings, resolver).fetch(f"http://{entry}/r").data == png
    assert resolver.calls == [HOST, HOST]


def test_allowlisted_name_on_loopback_without_the_opt_in_is_refused(httpserver, settings):
    entry = f"{HOST}:{httpserver.port}"
    f = ImageFetcher("test", HostAllowlist.of([entry]), settings, resolver=Resolver("127.0.0.1"))
    with pytest.raises(DownloadError) as info:
        f.fetch(f"http://{entry}/img.jpg")
    assert info.value.status == statuses.REFUSED
    assert httpserver.log == []


def test_private_opt_in_alone_allows_nothing(settings):
    lists = HostAllowlist.of(["cdn.example.test"], private=["mirror.example.test:8080"])
    assert not lists.allows_private("mirror.example.test", 8080, "http")
    f = ImageFetcher("test", lists, settings, resolver=Resolver("127.0.0.1"))
    with pytest.raises(DownloadError) as info:
        f.check_url("http://mirror.example.test:8080/a.jpg")
    assert info.value.status == statuses.REFUSED and "allowlist" in info.value.reason


def test_proxy_variables_cannot_move_the_connection(httpserver, settings, jpeg, monkeypatch):
    """A proxy would resolve the name itself, so image requests never use one."""
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # the discard port: nothing answers there
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    entry = f"{HOST}:{httpserver.port}"
    httpserver.expect_request("/img.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    assert private_fetcher(entry, settings, Resolver("127.0.0.1")).fetch(f"http://{entry}/img.jpg").data == jpeg
    assert httpserver.log[0][0].full_path.startswith("/img.jpg")  # origin form, not a proxy's absolute URL


def test_adapter_refuses_a_request_without_a_checked_address(httpserver, allowlist, settings):
    """Fail closed: the session never falls back to resolving a name itself."""
    f = ImageFetcher("test", allowlist, settings)
    with pytest.raises(requests.exceptions.InvalidURL):
        f.session.get(httpserver.url_for("/a.jpg"))
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("url", "header"),
    [
        ("http://a.test/x", "a.test"),
        ("https://a.test:443/x", "a.test"),
        ("http://a.test:8080/x", "a.test:8080"),
        ("http://[::1]:9000/x", "[::1]:9000"),
    ],
)
def test_host_header(url, header):
    assert host_header(url) == header


# TLS: SNI and certificate verification use the URL's hostname although the socket goes to an IP.


@dataclass
class TlsServer:
    port: int
    ca: Path
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str | None] = field(default_factory=list)


def _certificates(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf certificate for `name` signed by it: (ca.pem, leaf.pem, leaf key)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(subject: str, key, issuer: str, signer, *, ca: bool, san: str | None = None):
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert("imgpipe test CA", ca_key, "imgpipe test CA", ca_key, ca=True)
    leaf = cert(name, leaf_key, "imgpipe test CA", ca_key, ca=False, san=name)
    paths = tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, jpeg) -> Iterator[TlsServer]:
    ca, leaf, key = _certificates(tmp_path_factory.mktemp("tls"), HOST)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf, key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hosts.append(self.headers.get("Host"))
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = TlsServer(port=server.server_address[1], ca=ca)
    context.sni_callback = lambda sock, name, ctx: state.server_names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def trust_test_ca(tls_server, monkeypatch) -> None:
    """Trust the test CA the way an operator trusts a private one (it also wins over session.verify)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def tls_fetcher(server: TlsServer, host: str, settings: HttpSettings) -> ImageFetcher:
    entry = f"{host}:{server.port}"
    return private_fetcher(entry, settings, Resolver("127.0.0.1"))


@pytest.mark.usefixtures("trust_test_ca")
def test_https_to_the_pinned_address_sends_sni_and_verifies_the_hostname(tls_server, settings, jpeg):
    tls_server.server_names.clear()
    tls_server.hosts.clear()
    f = tls_fetcher(tls_server, HOST, settings)
    assert f.fetch(f"https://{HOST}:{tls_server.port}/img.jpg").data == jpeg
    assert tls_server.server_names == [HOST]
    assert tls_server.hosts == [f"{HOST}:{tls_server.port}"]


@pytest.mark.usefixtures("trust_test_ca")
def test_https_certificate_for_another_name_is_rejected(tls_server, sleeps):
    """The certificate is checked against the URL's hostname, not waved through for the pinned IP."""
    s = HttpSettings(max_attempts=1, download_timeout=2.0, sleep=sleeps.append)
    f = tls_fetcher(tls_server, "other.example.test", s)
    with pytest.raises(DownloadError) as info:
        f.fetch(f"https://other.example.test:{tls_server.port}/img.jpg")
    assert info.value.status == statuses.DOWNLOAD_FAILED
    assert "SSLError" in info.value.reason


def test_server_fixture_binds_loopback_only(httpserver: HTTPServer):
    """The rebinding tests rely on nothing listening on 127.0.0.2 or 127.0.0.3."""
    assert httpserver.host == "127.0.0.1"
