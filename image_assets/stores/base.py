"""The blob-store interface every backend implements, and the one check every object key passes."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator

# A key is '/'-separated segments of these characters; no segment is empty, '.' or '..', none starts with '.'
# (temporary files do), and the whole key stays short enough for every backend (GCS allows 1024 bytes).
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*")
MAX_KEY_LENGTH = 512


class InvalidKey(ValueError):
    """An object key that could name something outside its area, or that a backend would mangle."""


def check_key(key: str, *, prefix: bool = False) -> str:
    """Return `key` if it is a safe object key (or, with `prefix`, a safe folder-like prefix ending in '/')."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"object key must be 1–{MAX_KEY_LENGTH} characters, got {key!r:.80}")
    body = key[:-1] if prefix and key.endswith("/") else key
    if not all(_SEGMENT.fullmatch(segment) for segment in body.split("/")):
        raise InvalidKey(f"unsafe object key {key!r:.80}")
    return key


class ObjectStore(ABC):
    """Minimal blob store: whole-object puts are atomic, so a crashed write never leaves a partial object.

    Every public method validates its keys with `check_key` before touching the backend.
    """

    url: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; KeyError when it does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; removing one that is absent is not an error."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Keys under `prefix` (a folder-like prefix ending in '/')."""

    @abstractmethod
    def copy(self, src: str, dst: str) -> None:
        """Copy an object; KeyError when `src` does not exist."""

    def move(self, src: str, dst: str) -> None:
        """Move an object (KeyError when `src` does not exist); copy then delete unless a backend renames."""
        self.copy(src, dst)
        self.delete(src)

    def uri(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{check_key(key, prefix=True)}"

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for key in keys:
            self.delete(key)
        return len(keys)
