"""How many singular triplets to keep: by target PSNR, fixed rank, energy fraction or byte budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from image_assets.codec.errors import CodecError

KINDS = ("psnr", "rank", "energy", "max_bytes")
DEFAULT_PSNR = 35.0


@dataclass(frozen=True)
class RankPolicy:
    """One rule for choosing ranks; `value` is dB, a rank, a fraction in (0, 1] or a byte count."""

    kind: str = "psnr"
    value: float = DEFAULT_PSNR

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CodecError(f"unknown rank policy {self.kind!r}; expected one of {', '.join(KINDS)}")
        value = float(self.value)
        if value != value or value in (float("inf"), float("-inf")):
            raise CodecError(f"{self.kind} must be a finite number, got {self.value!r}")
        if self.kind == "psnr" and not 1.0 <= value <= 99.0:
            raise CodecError(f"psnr must be between 1 and 99 dB, got {value:g}")
        if self.kind == "rank" and (value < 1 or value != int(value)):
            raise CodecError(f"rank must be a positive integer, got {value:g}")
        if self.kind == "energy" and not 0.0 < value <= 1.0:
            raise CodecError(f"energy must be a fraction in (0, 1], got {value:g}")
        if self.kind == "max_bytes" and (value < 1 or value != int(value)):
            raise CodecError(f"max_bytes must be a positive integer, got {value:g}")
        object.__setattr__(self, "value", value)

    @classmethod
    def from_options(
        cls,
        psnr: float | None = None,
        rank: int | None = None,
        energy: float | None = None,
        max_bytes: int | None = None,
    ) -> RankPolicy:
        """Build from mutually exclusive options (as CLI flags or keyword arguments give them)."""
        given = {k: v for k, v in zip(KINDS, (psnr, rank, energy, max_bytes), strict=True) if v is not None}
        if len(given) > 1:
            raise CodecError(f"give at most one of psnr, rank, energy, max_bytes (got {', '.join(given)})")
        if not given:
            return cls()
        ((kind, value),) = given.items()
        try:
            return cls(kind, float(value))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CodecError):
                raise
            raise CodecError(f"{kind} must be a number, got {value!r}") from None

    def describe(self) -> str:
        """Short label such as "psnr=35" or "rank=50" (used in file headers and logs)."""
        return f"{self.kind}={self.value:g}"

    def as_params(self) -> dict[str, Any]:
        """Flat parameters for experiment tracking."""
        value: float | int = int(self.value) if self.kind in ("rank", "max_bytes") else self.value
        return {"policy": self.kind, "policy_value": value}

    @classmethod
    def parse(cls, text: str) -> RankPolicy:
        """Inverse of `describe`."""
        kind, sep, value = text.partition("=")
        if not sep:
            raise CodecError(f"bad policy {text!r}; expected KIND=VALUE")
        try:
            return cls(kind, float(value))
        except ValueError as exc:
            if isinstance(exc, CodecError):
                raise
            raise CodecError(f"bad policy value in {text!r}") from None
