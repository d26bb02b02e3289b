"""Safe image downloads: allowlisted hosts only, streamed under a size cap and a deadline, content checked.

An API response is untrusted input: the URL it names is fetched only if its scheme is http(s), its
host:port is on the source's allowlist, and (unless an operator also listed it as allowed to be private)
its host resolves to public addresses only, the connection then going to the checked address itself
(see pinned.py). Redirects are followed by hand so every hop passes the same check. Nothing here sends an
API key.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from tenacity import RetryCallState, Retrying

from image_assets.sources import statuses
from image_assets.sources.base import Download, DownloadError, SourceError
from image_assets.sources.http import Throttle, Transient, parse_retry_after, redact_url, retrying
from image_assets.sources.pinned import DEFAULT_PORTS, Deadline, PinnedAdapter, pinned
from image_assets.sources.settings import HttpSettings

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Iterable[str]]


def _resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


HostEntry = tuple[str, int | None]


@dataclass(frozen=True)
class HostAllowlist:
    """`host` entries allow the scheme's default port; `host:port` entries allow exactly that port.

    Allowed hosts must still resolve to public addresses only; `private` names the entries that may resolve
    to private or loopback ones (IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS: a local mirror, a test server). Being on
    the allowlist is what a URL needs to be fetched at all, so a `private` entry alone allows nothing.
    """

    entries: frozenset[HostEntry]
    private: frozenset[HostEntry] = frozenset()

    @classmethod
    def of(cls, hosts: Iterable[str], *, private: Iterable[str] = ()) -> HostAllowlist:
        return cls(frozenset(map(parse_host_entry, hosts)), frozenset(map(parse_host_entry, private)))

    def allows(self, host: str, port: int, scheme: str) -> bool:
        return _matches(self.entries, host, port, scheme)

    def allows_private(self, host: str, port: int, scheme: str) -> bool:
        return self.allows(host, port, scheme) and _matches(self.private, host, port, scheme)


def _matches(entries: frozenset[HostEntry], host: str, port: int, scheme: str) -> bool:
    host = host.lower()
    return (host, port) in entries or (port == DEFAULT_PORTS.get(scheme) and (host, None) in entries)


def parse_host_entry(entry: str, variable: str = "IMGPIPE_ALLOWED_IMAGE_HOSTS") -> HostEntry:
    """`host`, `host:port` or `[v6]:port`, lower-cased; SourceError naming `variable` on garbage."""
    text = entry.strip().lower()
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        port = None
        text = ""
    if not text or not parts.hostname or parts.username or parts.path:
        raise SourceError(f"bad image host {entry!r} in {variable}: use host or host:port")
    return parts.hostname, port


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes whose last 32 bits are an IPv4 address that the traffic ends up at: NAT64 (well-known and
# local-use prefixes), IPv4-compatible (deprecated) and IPv4-translated (SIIT) addresses.
_IPV4_IN_LOW_BITS = tuple(
    ipaddress.IPv6Network(net) for net in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)


def _ip(address: str) -> IPAddress:
    return ipaddress.ip_address(address.split("%", 1)[0])


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (NAT64, IPv4-compatible, 6to4, Teredo), which a NAT64
    gateway or tunnel relay would deliver to: `64:ff9b::7f00:1` reaches 127.0.0.1."""
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client)
    if any(ip in net for net in _IPV4_IN_LOW_BITS):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def _is_public(address: str) -> bool:
    """Whether `address`, and any IPv4 address embedded in it, is globally routable unicast."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # an IPv4 address in IPv6 notation: judge the IPv4 address
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else ()
    return all(a.is_global and not a.is_multicast for a in (ip, *embedded))


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
    """Downloads image bytes for one source, enforcing its allowlist and the size/time limits.

    `settings.download_timeout` is one wall-clock budget for the whole of `fetch()`: pacing waits,
    connecting, redirects, reading the body, and retries with their backoff. A socket read still blocked
    when it runs out is cut (pinned.Deadline), no retry starts whose wait would outlast it, and running
    out is DownloadError(download_failed, "took longer than Ns"), never retried: a user who sets two
    minutes expects an answer in two minutes, not two minutes per attempt.
    """

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
        adapter = PinnedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def check_url(self, url: str) -> str:
        """Raise DownloadError(refused) unless `url` may be requested; return the address to connect to.

        The host is resolved here and only here: the request goes to exactly the address returned, so a
        DNS answer that changes between this check and the connection (rebinding) cannot redirect it.
        """
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
        addresses = self._addresses(host, port)
        if not self.allowlist.allows_private(host, port, scheme) and not all(map(_is_public, addresses)):
            raise DownloadError(statuses.REFUSED, f"host {host} resolves to a private or local address")
        return addresses[0]

    def _addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses: a literal as it is, a name through `self.resolver`, called once."""
        try:
            return [str(_ip(host))]
        except ValueError:
            pass
        try:
            addresses = list(self.resolver(host, port))
            for address in addresses:
                _ip(address)  # an answer we could not connect to without resolving it again
        except OSError as exc:
            raise DownloadError(statuses.DOWNLOAD_FAILED, f"cannot resolve {host}: {exc.strerror}") from None
        except ValueError:
            raise DownloadError(statuses.DOWNLOAD_FAILED, f"cannot resolve {host}: not an IP address") from None
        if not addresses:
            raise DownloadError(statuses.DOWNLOAD_FAILED, f"cannot resolve {host}: no address")
        return addresses

    def fetch(self, url: str, *, expected_size: int | None = None) -> Download:
        """Download, check and return one image; every failure is a DownloadError with a status."""
        address = self.check_url(url)
        if expected_size is not None and expected_size > self.settings.max_image_bytes:
            raise DownloadError(statuses.TOO_LARGE, f"listed size {expected_size} bytes is over the limit")
        with Deadline(self.settings.download_timeout) as deadline:
            try:
                data, declared = self._retrying(url, deadline)(self._attempt, url, address, deadline)
            except Transient as exc:
                where = redact_url(url)
                if exc.status:
                    raise DownloadError(statuses.HTTP_ERROR, f"HTTP {exc.status} from {where}") from None
                raise DownloadError(statuses.DOWNLOAD_FAILED, f"{exc.detail} from {where}") from None
        return Download(data=data, content_type=check_content(data, declared))

    def _retrying(self, url: str, deadline: Deadline) -> Retrying:
        """The shared retry policy, stopped early where the wait before the next try would outlast the deadline."""
        policy = retrying(self.settings, f"{self.source} image {redact_url(url)}")
        give_up = policy.stop

        def stop(state: RetryCallState) -> bool:
            return give_up(state) or state.upcoming_sleep >= deadline.remaining()

        return policy.copy(stop=stop)

    def _too_slow(self) -> DownloadError:
        return DownloadError(statuses.DOWNLOAD_FAILED, f"took longer than {self.settings.download_timeout:g}s")

    def _attempt(self, url: str, address: str, deadline: Deadline) -> tuple[bytes, str | None]:
        """One try. Past the deadline its outcome is the deadline: a cut socket reads as a network error or,
        without a Content-Length, as a short but successful body."""
        try:
            result = self._fetch_once(url, address, deadline)
        except Transient:
            if deadline.expired:
                raise self._too_slow() from None
            raise
        if deadline.expired:
            raise self._too_slow()
        return result

    def _fetch_once(self, url: str, address: str, deadline: Deadline) -> tuple[bytes, str | None]:
        for _hop in range(self.max_redirects + 1):
            if self.throttle:
                try:
                    self.throttle.before_request()
                except SourceError as exc:  # a spent quota fails this image, not the partition
                    raise DownloadError(statuses.DOWNLOAD_FAILED, f"not requested: {exc}") from None
            with self._request(url, address, deadline) as resp:
                if resp.is_redirect:
                    url = urljoin(url, resp.headers["Location"])
                    address = self.check_url(url)
                    continue
                return self._read(resp, url)
        raise DownloadError(statuses.HTTP_ERROR, f"more than {self.max_redirects} redirects")

    def _request(self, url: str, address: str, deadline: Deadline) -> requests.Response:
        """GET `url` from `address`, each socket wait capped by the time left (the Deadline cuts drips)."""
        left = deadline.remaining()
        if left <= 0:
            raise self._too_slow()
        timeout = (min(self.settings.connect_timeout, left), min(self.settings.read_timeout, left))
        try:
            with pinned(address):
                return self.session.get(url, stream=True, timeout=timeout, allow_redirects=False)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Transient(type(exc).__name__) from None

    def _read(self, resp: requests.Response, url: str) -> tuple[bytes, str | None]:
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
                chunks.append(chunk)
        except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError) as exc:
            raise Transient(f"transfer truncated ({type(exc).__name__})") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Transient(type(exc).__name__) from None
        return b"".join(chunks), resp.headers.get("Content-Type")

    def close(self) -> None:
        self.session.close()
