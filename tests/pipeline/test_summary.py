"""Aggregates over compressed rows: status counts, the compression summary and the PSNR quality check."""

from __future__ import annotations

import pytest

from image_assets.codec import RankPolicy
from image_assets.pipeline.summary import QUALITY_SHARE, compression_summary, quality_check, status_counts


def ok(psnr: float, *, bytes_in: int = 1000, bytes_out: int = 250, ssim: float = 0.9, bpp: float = 2.0) -> dict:
    return {
        "status": "ok",
        "psnr": psnr,
        "ssim": ssim,
        "bits_per_pixel": bpp,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
    }


def failed(status: str = "codec_error") -> dict:
    return {"status": status, "psnr": None, "ssim": None, "bits_per_pixel": None, "bytes_in": 10, "bytes_out": None}


def test_status_counts_sorted_by_status() -> None:
    rows = [ok(40), failed("missing_raw"), ok(41), failed(), failed()]
    counts = status_counts(rows)
    assert counts == {"codec_error": 2, "missing_raw": 1, "ok": 2}
    assert list(counts) == ["codec_error", "missing_raw", "ok"]
    assert status_counts([]) == {}


def test_compression_summary_totals_and_distributions() -> None:
    rows = [
        ok(30, bytes_in=1000, bytes_out=200, ssim=0.8, bpp=1.0),
        ok(40, bytes_in=3000, bytes_out=800, ssim=1.0, bpp=3.0),
        failed(),
    ]
    summary = compression_summary(rows, seconds=4.0)
    assert summary["images_ok"] == 2
    assert summary["images_failed"] == 1
    assert summary["bytes_in"] == 4000  # failed rows' bytes are not counted
    assert summary["bytes_out"] == 1000
    assert summary["compression_ratio"] == pytest.approx(4.0)
    assert summary["images_per_second"] == pytest.approx(0.5)
    assert summary["psnr_mean"] == pytest.approx(35.0)
    assert summary["psnr_p50"] == pytest.approx(35.0)
    assert summary["psnr_p05"] == pytest.approx(30.5)
    assert summary["psnr_p95"] == pytest.approx(39.5)
    assert summary["ssim_mean"] == pytest.approx(0.9)
    assert summary["ssim_p05"] == pytest.approx(0.81)
    assert summary["bits_per_pixel_mean"] == pytest.approx(2.0)


def test_compression_summary_without_ok_rows_or_time() -> None:
    summary = compression_summary([failed(), failed("missing_raw")], seconds=0.0)
    assert summary == {
        "images_ok": 0,
        "images_failed": 2,
        "bytes_in": 0,
        "bytes_out": 0,
        "compression_ratio": 0.0,
        "images_per_second": 0.0,
    }
    assert compression_summary([ok(35)], seconds=0.0)["images_per_second"] == 0.0


def test_quality_check_passes_when_all_meet_the_target() -> None:
    passed, meta = quality_check([ok(35.0), ok(41.2), failed()], RankPolicy.parse("psnr=35"))
    assert passed is True
    assert meta == {"share_meeting_target": 1.0, "target_db": 35.0, "images": 2}


def test_quality_check_fails_below_the_share() -> None:
    rows = [ok(36.0)] * 98 + [ok(34.0)] * 2  # 98% < 99%
    passed, meta = quality_check(rows, RankPolicy.parse("psnr=35"))
    assert passed is False
    assert meta["share_meeting_target"] == pytest.approx(0.98)
    assert meta["images"] == 100
    # At exactly the share (99 of 100) it passes; a PSNR a hair under the target still counts as met.
    rows = [ok(36.0)] * 98 + [ok(35.0 - 1e-9), ok(20.0)]
    passed, meta = quality_check(rows, RankPolicy.parse("psnr=35"))
    assert meta["share_meeting_target"] == pytest.approx(QUALITY_SHARE)
    assert passed is True


def test_quality_check_other_policies_set_no_target() -> None:
    passed, meta = quality_check([ok(10.0)], RankPolicy.parse("rank=8"))
    assert passed is True
    assert meta == {"note": "policy rank=8 sets no PSNR target"}
