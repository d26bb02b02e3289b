"""Aggregate numbers for asset metadata, MLflow metrics and the demo's printout."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def status_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(row["status"] for row in rows).items()))


def compression_summary(rows: Sequence[dict[str, Any]], seconds: float) -> dict[str, float]:
    """Totals and distributions over the successfully compressed rows."""
    ok = [row for row in rows if row["status"] == "ok"]
    bytes_in = sum(row["bytes_in"] for row in ok)
    bytes_out = sum(row["bytes_out"] for row in ok)
    psnr = np.array([row["psnr"] for row in ok], dtype=float)
    ssim = np.array([row["ssim"] for row in ok], dtype=float)
    bpp = np.array([row["bits_per_pixel"] for row in ok], dtype=float)
    summary: dict[str, float] = {
        "images_ok": len(ok),
        "images_failed": len(rows) - len(ok),
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "compression_ratio": bytes_in / bytes_out if bytes_out else 0.0,
        "images_per_second": len(ok) / seconds if seconds > 0 else 0.0,
    }
    if ok:
        summary |= {
            "psnr_mean": float(psnr.mean()),
            "psnr_p05": float(np.percentile(psnr, 5)),
            "psnr_p50": float(np.median(psnr)),
            "psnr_p95": float(np.percentile(psnr, 95)),
            "ssim_mean": float(ssim.mean()),
            "ssim_p05": float(np.percentile(ssim, 5)),
            "bits_per_pixel_mean": float(bpp.mean()),
        }
    return summary


QUALITY_SHARE = 0.99


def quality_check(rows: Sequence[dict[str, Any]], policy: Any) -> tuple[bool, dict[str, float | str]]:
    """At least 99% of compressed images reach the PSNR target (trivially true for other policies)."""
    ok = [row for row in rows if row["status"] == "ok"]
    if policy.kind != "psnr":
        return True, {"note": f"policy {policy.describe()} sets no PSNR target"}
    met = sum(1 for row in ok if row["psnr"] >= policy.value - 1e-6)
    share = met / len(ok) if ok else 1.0
    return share >= QUALITY_SHARE, {"share_meeting_target": share, "target_db": policy.value, "images": len(ok)}
