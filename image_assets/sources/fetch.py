"""Safe image downloads: allowlisted hosts only, streamed under a size cap and a deadline, content checked.

An API response is untrusted input: the URL it names is fetched only if its scheme is http(s), its
host:port is on the source's allowlist, and (unless an operator listed that host explicitly) it does
not resolve to a private, loopback or link-local address. Redirects are followed by hand so every hop
passes the same check. Nothing here sends an API key.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from image_assets.sources import statuses
from image_assets.sources.base import Download, DownloadError, SourceError
from image_assets.sources.http import Throttle, Transient, parse_retry_after, redact_url, retrying
from image_assets.sources.settings import HttpSettings

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
Resolver = Callable[[str, int], Iterable[str]]


def _resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


@dataclass(frozen=True)
class HostAllowlist:
    """`host` entries allow the scheme's default port; `host:port` entries allow exactly that port.

    `explicit` marks a list the operator configured (IMGPIPE_ALLOWED_IMAGE_HOSTS): its hosts are
    trusted even on private or loopback addresses, e.g. a local mirror or a test server.
    """

    entries: frozenset[tuple[str, int | None]]
    explicit: bool = False

    @classmethod
    def of(cls, hosts: Iterable[str], *, explicit: bool = False) -> HostAllowlist:
        return cls(frozenset(parse_host_entry(h) for h in hosts), explicit)

    def allows(self, host: str, port: int, scheme: str) -> bool:
        host = host.lower()
        return (host, port) in self.entries or (port == DEFAULT_PORTS.get(scheme) and (host, None) in self.entries)


def parse_host_entry(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port` or `[v6]:port`, lower-cased; SourceError on garbage."""
    text = entry.strip().lower()
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        port = None
        text = ""
    if not text or not parts.hostname or parts.username or parts.path:
        raise SourceError(f"bad image host {entry!r} in IMGPIPE_ALLOWED_IMAGE_HOSTS: use host or host:port")
    return parts.hostname, port


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_global and not ip.is_multicast


MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


def sniff(data: bytes) -> str | None:
    """The image type named by the magic bytes, or None for anything we do not ingest."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in MAGIC if data.startswith(magic)), None)


def looks_complete(data: bytes, mime: str) -> bool:
    """Whether the file carries its format's end marker: catches bodies cut short without a length header.

    Searches the tail rather than the last bytes, since some cameras append data after the end marker.
    """
    tail = data[-4096:]
    if mime == "image/jpeg":
        return b"\xff\xd9" in tail
    if mime == "image/png":
        return b"IEND\xaeB`\x82" in tail
    if mime == "image/gif":
        return b";" in tail[-16:]
    if mime == "image/webp":
        return len(data) >= int.from_bytes(data[4:8], "little") + 8
    return False


def check_content(data: bytes, declared: str | None) -> str:
    """Return the sniffed MIME type or raise DownloadError(bad_content)."""
    declared_type = (declared or "").split(";", 1)[0].strip().lower()
    declared_type = TYPE_ALIASES.get(declared_type, declared_type)
    mime = sniff(data)
    if mime is None:
        raise DownloadError(
            statuses.BAD_CONTENT, f"not a supported image (declared {declared_type or 'no content type'})"
        )
    if declared_type not in GENERIC_TYPES and declared_type != mime:
        raise DownloadError(statuses.BAD_CONTENT, f"declared {declared_type} but the bytes are {mime}")
    if not looks_complete(data, mime):
        raise DownloadError(statuses.BAD_CONTENT, f"truncated {mime} (no end-of-image marker)")
    return mime


class ImageFetcher:
    """Downloads image bytes for one source, enforcing its allowlist and the size/time limits."""

    def __init__(
        self,
        source: str,
        allowlist: HostAllowlist,
        settings: HttpSettings,
        *,
        throttle: Throttle | None = None,
        resolver: Resolver = _resolve,
        max_redirects: int = 3,
    ) -> None:
        self.source = source
        self.allowlist = allowlist
        self.settings = settings
        self.throttle = throttle
        self.resolver = resolver
        self.max_redirects = max_redirects
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": settings.user_agent, "Accept": "image/*"})

    def check_url(self, url: str) -> None:
        """Raise DownloadError(refused) unless `url` may be requested at all."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise DownloadError(statuses.REFUSED, f"scheme {scheme or 'none'!r} is not http(s)")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            raise DownloadError(statuses.REFUSED, "malformed port in image URL") from None
        host = (parts.hostname or "").lower()
        if not host or parts.username or parts.password:
            raise DownloadError(statuses.REFUSED, "image URL has no host or carries credentials")
        if not self.allowlist.allows(host, port, scheme):
            raise DownloadError(statuses.REFUSED, f"host {host}:{port} is not on the {self.source} image allowlist")
        if self.allowlist.explicit:
            return  # the operator named this host; trust it even on a private address
        try:
            addresses = list(self.resolver(host, port))
        except OSError as exc:
            raise DownloadError(statuses.DOWNLOAD_FAILED, f"cannot resolve {host}: {exc.strerror}") from None
        if not addresses or not all(_is_public(a) for a in addresses):
            raise DownloadError(statuses.REFUSED, f"host {host} resolves to a private or local address")

    def fetch(self, url: str, *, expected_size: int | None = None) -> Download:
        """Download, check and return one image; every failure is a DownloadError with a status."""
        self.check_url(url)
        if expected_size is not None and expected_size > self.settings.max_image_bytes:
            raise DownloadError(statuses.TOO_LARGE, f"listed size {expected_size} bytes is over the limit")
        try:
            data, declared = retrying(self.settings, f"{self.source} image {redact_url(url)}")(self._fetch_once, url)
        except Transient as exc:
            where = redact_url(url)
            if exc.status:
                raise DownloadError(statuses.HTTP_ERROR, f"HTTP {exc.status} from {where}") from None
            raise DownloadError(statuses.DOWNLOAD_FAILED, f"{exc.detail} from {where}") from None
        return Download(data=data, content_type=check_content(data, declared))

    def _fetch_once(self, url: str) -> tuple[bytes, str | None]:
        deadline = time.monotonic() + self.settings.download_timeout
        for _hop in range(self.max_redirects + 1):
            if self.throttle:
                try:
                    self.throttle.before_request()
                except SourceError as exc:  # a spent quota fails this image, not the partition
                    raise DownloadError(statuses.DOWNLOAD_FAILED, f"not requested: {exc}") from None
            try:
                resp = self.session.get(url, stream=True, timeout=self.settings.timeout, allow_redirects=False)
            except (requests.Timeout, requests.ConnectionError) as exc:
                raise Transient(type(exc).__name__) from None
            with resp:
                if resp.is_redirect:
                    url = urljoin(url, resp.headers["Location"])
                    self.check_url(url)
                    continue
                return self._read(resp, url, deadline)
        raise DownloadError(statuses.HTTP_ERROR, f"more than {self.max_redirects} redirects")

    def _read(self, resp: requests.Response, url: str, deadline: float) -> tuple[bytes, str | None]:
        status = resp.status_code
        if status == 429 or status >= 500:
            raise Transient(
                "rate limited" if status == 429 else "server error",
                status=status,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        if not 200 <= status < 300:
            raise DownloadError(statuses.HTTP_ERROR, f"HTTP {status} from {redact_url(url)}")
        limit = self.settings.max_image_bytes
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise DownloadError(statuses.TOO_LARGE, f"Content-Length {length} is over the {limit}-byte limit")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise DownloadError(statuses.TOO_LARGE, f"body is over the {limit}-byte limit")
                if time.monotonic() > deadline:
                    raise DownloadError(
                        statuses.DOWNLOAD_FAILED, f"took longer than {self.settings.download_timeout:.0f}s"
                    )
                chunks.append(chunk)
        except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError) as exc:
            raise Transient(f"transfer truncated ({type(exc).__name__})") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Transient(type(exc).__name__) from None
        return b"".join(chunks), resp.headers.get("Content-Type")

    def close(self) -> None:
        self.session.close()
