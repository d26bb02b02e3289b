"""Source names and the one factory that builds a Source from the environment.

Every setting has an environment variable (documented in docs/sources.md); keys are
read here and nowhere else, and never appear in an error message.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Any

from image_assets.sources import pexels, unsplash, wallhaven
from image_assets.sources.base import Source, SourceError
from image_assets.sources.fetch import HostAllowlist, parse_host_entry
from image_assets.sources.local import LocalFolderSource
from image_assets.sources.settings import HttpSettings, PartitionLimits

SOURCE_NAMES: tuple[str, ...] = ("local", "pexels", "unsplash", "wallhaven")
ALLOWED_HOSTS = "IMGPIPE_ALLOWED_IMAGE_HOSTS"
PRIVATE_HOSTS = "IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS"


def _number[T: (int, float)](
    env: Mapping[str, str], name: str, kind: Callable[[str], T], default: T, minimum: T | int = 0
) -> T:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise SourceError(f"{name} must be a {kind.__name__} of at least {minimum}, not {text!r}")
    return value


def http_settings_from_env(env: Mapping[str, str]) -> HttpSettings:
    d = HttpSettings()
    interval = (env.get("IMGPIPE_REQUEST_INTERVAL") or "").strip()
    return HttpSettings(
        connect_timeout=_number(env, "IMGPIPE_CONNECT_TIMEOUT", float, d.connect_timeout),
        read_timeout=_number(env, "IMGPIPE_READ_TIMEOUT", float, d.read_timeout),
        download_timeout=_number(env, "IMGPIPE_DOWNLOAD_TIMEOUT", float, d.download_timeout),
        max_attempts=_number(env, "IMGPIPE_HTTP_ATTEMPTS", int, d.max_attempts, 1),
        backoff_base=_number(env, "IMGPIPE_BACKOFF_BASE", float, d.backoff_base),
        backoff_cap=_number(env, "IMGPIPE_BACKOFF_CAP", float, d.backoff_cap),
        max_wait=_number(env, "IMGPIPE_MAX_WAIT", float, d.max_wait),
        max_image_bytes=_number(env, "IMGPIPE_MAX_IMAGE_BYTES", int, d.max_image_bytes, 1),
        request_interval=_number(env, "IMGPIPE_REQUEST_INTERVAL", float, 0.0) if interval else None,
        quota_reserve=_number(env, "IMGPIPE_QUOTA_RESERVE", int, d.quota_reserve),
    )


def limits_from_env(env: Mapping[str, str]) -> PartitionLimits:
    d = PartitionLimits()
    minutes = _number(env, "IMGPIPE_DATE_TOLERANCE_MINUTES", float, d.tolerance.total_seconds() / 60)
    return PartitionLimits(
        max_images=_number(env, "IMGPIPE_MAX_IMAGES", int, d.max_images, 1),
        max_pages=_number(env, "IMGPIPE_MAX_PAGES", int, d.max_pages, 1),
        tolerance=dt.timedelta(minutes=minutes),
    )


def allowlist_from_env(env: Mapping[str, str]) -> HostAllowlist | None:
    """IMGPIPE_ALLOWED_IMAGE_HOSTS replaces every source's default CDN allowlist when set.

    Its hosts must still resolve to public addresses, unless IMGPIPE_ALLOW_PRIVATE_IMAGE_HOSTS lists them too
    (a local mirror, a test server). A private entry missing from the allowlist would allow nothing, so it is
    refused as the typo it most likely is.
    """
    hosts = {parse_host_entry(h, ALLOWED_HOSTS): h for h in _split(env.get(ALLOWED_HOSTS))}
    private = {parse_host_entry(h, PRIVATE_HOSTS): h for h in _split(env.get(PRIVATE_HOSTS))}
    for entry, text in private.items():
        if entry not in hosts:
            raise SourceError(f"{PRIVATE_HOSTS} entry {text!r} is not on {ALLOWED_HOSTS}: list it there too")
    return HostAllowlist(frozenset(hosts), frozenset(private)) if hosts else None


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def make_source(name: str, env: Mapping[str, str] | None = None) -> Source:
    """Build the named source, reading its settings (keys, endpoints, folders) from `env`."""
    env = os.environ if env is None else env
    if name == "local":
        return LocalFolderSource(env.get("IMGPIPE_LOCAL_SOURCE") or None)
    if name not in SOURCE_NAMES:
        raise SourceError(f"unknown source {name!r}; choose one of {', '.join(SOURCE_NAMES)}")
    common: dict[str, Any] = {
        "settings": http_settings_from_env(env),
        "limits": limits_from_env(env),
        "allowlist": allowlist_from_env(env),
    }
    if name == "pexels":
        return pexels.PexelsSource(
            (env.get("PEXELS_API_KEY") or "").strip(),
            base_url=env.get("PEXELS_API_URL") or pexels.DEFAULT_API_URL,
            feeds=_split(env.get("PEXELS_QUERIES")) or [pexels.CURATED],
            **common,
        )
    if name == "unsplash":
        return unsplash.UnsplashSource(
            (env.get("UNSPLASH_ACCESS_KEY") or "").strip(),
            base_url=env.get("UNSPLASH_API_URL") or unsplash.DEFAULT_API_URL,
            app_name=(env.get("UNSPLASH_APP_NAME") or "imgpipe").strip(),
            **common,
        )
    return wallhaven.WallhavenSource(
        (env.get("WALLHAVEN_API_KEY") or "").strip() or None,
        base_url=env.get("WALLHAVEN_API_URL") or wallhaven.DEFAULT_API_URL,
        query=(env.get("WALLHAVEN_QUERY") or "").strip() or None,
        purity=(env.get("WALLHAVEN_PURITY") or "100").strip(),
        categories=(env.get("WALLHAVEN_CATEGORIES") or "111").strip(),
        timezone=(env.get("WALLHAVEN_TIMEZONE") or "UTC").strip(),
        fetch_details=(env.get("WALLHAVEN_DETAILS") or "1").strip().lower() not in {"0", "false", "no"},
        **common,
    )
