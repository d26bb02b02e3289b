"""The shared JSON API client: one requests session, bounded retries, quota-aware pacing, redaction.

Keys travel only in headers set here, and every message built here names a URL without its query
string, so neither logs nor errors ever carry a key.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from image_assets.sources.base import SourceError
from image_assets.sources.settings import HttpSettings

log = logging.getLogger(__name__)

THROTTLE_BODY = "rate limit exceeded"  # Unsplash answers 403 with this plain-text body when throttling


class Transient(Exception):
    """A failure worth retrying (429, 5xx, network); `retry_after` is the server's requested wait."""

    def __init__(self, detail: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class ApiError(SourceError):
    """The API answered with a non-retryable error status (401, 404, 422...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class QuotaExhausted(SourceError):
    """The reported quota is (nearly) spent and will not reset within the longest wait we accept."""


def redact_url(url: str) -> str:
    """scheme://host/path only: query strings and user info can hold keys."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace any secret that an error body or exception echoes back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After in seconds, from either delta-seconds or an HTTP date; None when absent or garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def retrying(settings: HttpSettings, what: str) -> Retrying:
    """The one retry policy: bounded attempts, Retry-After when given, else exponential backoff with jitter.

    A Retry-After longer than `settings.max_wait` is not retried: sleeping an hour inside a partition
    run helps nobody, so the caller turns it into a clear failure.
    """
    backoff = wait_exponential_jitter(
        initial=settings.backoff_base, max=settings.backoff_cap, jitter=settings.backoff_base
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return exc.retry_after
        return backoff(state)

    def should_retry(exc: BaseException) -> bool:
        if not isinstance(exc, Transient):
            return False
        return exc.retry_after is None or exc.retry_after <= settings.max_wait

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: %s; retry %d in %.2fs", what, exc, state.attempt_number, state.upcoming_sleep)

    return Retrying(
        stop=stop_after_attempt(max(1, settings.max_attempts)),
        wait=wait,
        retry=retry_if_exception(should_retry),
        sleep=settings.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


class Throttle:
    """Spaces requests and slows down, then stops, as a reported quota runs low.

    Reads X-Ratelimit-Limit/-Remaining/-Reset (Pexels sends all three, Unsplash no reset). When fewer
    than a tenth of the quota is left, the remaining requests are spread over the time left in the
    window; at `reserve` requests left it waits for the reset if that is near, otherwise raises
    QuotaExhausted rather than spend the last requests (or earn a ban).
    """

    LOW_WATER = 0.1

    def __init__(
        self,
        source: str,
        settings: HttpSettings,
        *,
        min_interval: float = 0.0,
        window: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.settings = settings
        self.min_interval = min_interval
        self.window = window  # quota window length when no reset header exists (Unsplash: an hour)
        self.clock = clock
        self.wallclock = wallclock
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self._last: float | None = None

    def observe(self, headers: Mapping[str, str]) -> None:
        """Remember the quota a successful response reported (Pexels sends none on 429, so keep the last)."""
        self.limit = _int_header(headers, "X-Ratelimit-Limit", self.limit)
        self.remaining = _int_header(headers, "X-Ratelimit-Remaining", self.remaining)
        reset = _int_header(headers, "X-Ratelimit-Reset", None)
        if reset is not None:
            self.reset_at = float(reset)

    def _time_left(self) -> float | None:
        if self.reset_at is not None:
            return max(0.0, self.reset_at - self.wallclock())
        return self.window

    def _pace(self) -> float:
        if self.remaining is None or not self.limit or self.remaining > self.limit * self.LOW_WATER:
            return 0.0
        left = self._time_left()
        if left is None:
            return 0.0
        return min(self.settings.max_wait, left / max(1, self.remaining - self.settings.quota_reserve))

    def before_request(self) -> None:
        """Block until the next request may go out; raise QuotaExhausted when it must not."""
        if self.remaining is not None and self.remaining <= self.settings.quota_reserve:
            wait = self._time_left()  # until the reset, or a whole window when no reset is reported
            if wait is None or wait > self.settings.max_wait:
                when = (
                    f"; it resets at {dt.datetime.fromtimestamp(self.reset_at, dt.UTC):%Y-%m-%d %H:%M} UTC"
                    if self.reset_at is not None
                    else f"; try again in {wait or 3600:.0f}s"
                )
                raise QuotaExhausted(
                    f"{self.source} API quota nearly used up ({self.remaining} of {self.limit} requests left){when}"
                )
            log.warning("%s: quota nearly used up, waiting %.1fs for the reset", self.source, wait)
            self.settings.sleep(max(0.0, wait))
            self.remaining = None
        interval = max(self.min_interval, self._pace())
        if self._last is not None and interval > 0:
            wait = self._last + interval - self.clock()
            if wait > 0:
                self.settings.sleep(wait)
        self._last = self.clock()


def _int_header(headers: Mapping[str, str], name: str, default: int | None) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, TypeError, ValueError):
        return default


def error_detail(resp: requests.Response, secrets: Iterable[str] = ()) -> str:
    """A short readable reason from an error body, which may be JSON, plain text or an HTML page."""
    ctype = resp.headers.get("Content-Type", "")
    detail = ""
    if "json" in ctype:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            errors = body.get("errors") or body.get("error") or body.get("message")
            detail = "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors or "")
    elif "html" in ctype:
        detail = "HTML error page"
    else:
        detail = resp.text.strip().splitlines()[0] if resp.text.strip() else ""
    return scrub(detail[:200], secrets)


class ApiClient:
    """GETs JSON from one API base URL with the source's auth headers, retries and throttle."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        settings: HttpSettings,
        throttle: Throttle,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        key_hint: str = "",
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.throttle = throttle
        self.secrets = tuple(s for s in secrets if s)
        self.key_hint = key_hint
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": settings.user_agent, "Accept": "application/json"})
        self.session.headers.update(dict(headers or {}))

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def same_origin(self, url: str) -> bool:
        """Whether `url` points at this API, so that it may receive the key."""
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and not a.username

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[Any, requests.Response]:
        """GET and parse JSON; SourceError (user-facing, key-free) when the API cannot answer properly."""
        resp = self.get(url, params)
        try:
            return resp.json(), resp
        except ValueError:
            raise SourceError(
                f"{self.source} API returned a malformed JSON body at {redact_url(url)} (HTTP {resp.status_code})"
            ) from None

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """GET with retries; returns a 2xx response or raises SourceError."""
        shown = redact_url(url)
        try:
            resp = retrying(self.settings, f"{self.source} GET {shown}")(self._get_once, url, params)
        except Transient as exc:
            status = f"HTTP {exc.status}" if exc.status else exc.detail
            if exc.retry_after is not None and exc.retry_after > self.settings.max_wait:
                raise SourceError(
                    f"{self.source} API rate limit hit ({status}) at {shown}; it asks to wait "
                    f"{exc.retry_after:.0f}s, more than IMGPIPE_MAX_WAIT={self.settings.max_wait:.0f}s"
                ) from None
            raise SourceError(
                f"{self.source} API unreachable at {shown} after {self.settings.max_attempts} attempts: "
                f"{status}" + (f" ({exc.detail})" if exc.status and exc.detail else "")
            ) from None
        return resp

    def _get_once(self, url: str, params: Mapping[str, Any] | None) -> requests.Response:
        self.throttle.before_request()
        try:
            resp = self.session.get(url, params=params, timeout=self.settings.timeout, allow_redirects=False)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Transient(f"{type(exc).__name__}") from None
        log.debug("%s GET %s -> %d", self.source, redact_url(url), resp.status_code)
        status = resp.status_code
        if 200 <= status < 300:
            self.throttle.observe(resp.headers)
            return resp
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        detail = error_detail(resp, self.secrets)
        if status == 429 or (status == 403 and THROTTLE_BODY in resp.text[:200].lower()):
            raise Transient(detail or "rate limited", status=status, retry_after=retry_after)
        if status >= 500:
            raise Transient(detail, status=status, retry_after=retry_after)
        shown = redact_url(url)
        if status == 401:
            hint = f"; check {self.key_hint}" if self.key_hint else ""
            raise ApiError(f"{self.source} API rejected the request as unauthorised (HTTP 401){hint}", status)
        if 300 <= status < 400:
            raise ApiError(f"{self.source} redirected {shown} (HTTP {status}); check the base URL", status)
        raise ApiError(f"{self.source} API error at {shown}: HTTP {status}" + (f": {detail}" if detail else ""), status)

    def close(self) -> None:
        self.session.close()
