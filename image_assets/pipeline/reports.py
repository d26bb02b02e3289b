"""Pictures of a compression run: a rate–distortion scatter, a before/after grid and a small Markdown preview.

Pure matplotlib (Agg canvas, no pyplot state, so safe in threads) and Pillow; nothing here knows about Dagster.
The PNG files are meant as MLflow artifacts, the Markdown as `MetadataValue.md` asset metadata.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from image_assets.stores import ObjectStore

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, so executors importing pipeline never load it
    from matplotlib.figure import Figure

DPI = 100


def ok_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of successfully compressed images that carry the figures a plot needs."""
    return [
        row
        for row in rows
        if row.get("status") == "ok" and row.get("psnr") is not None and row.get("bits_per_pixel") is not None
    ]


def warm_up() -> None:
    """Import matplotlib ahead of time (about a second), e.g. in a thread while Spark encodes."""
    _figure(figsize=(1, 1))


def _figure(**kwargs: Any) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


def rate_distortion_plot(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    target: float | None = None,
    group_by: str | None = None,
    title: str | None = None,
) -> Path:
    """Bits per pixel (x) against PSNR (y), one point per ok image; a dashed line at `target` dB if given.

    `group_by` names a row field (e.g. "policy") whose values get their own colour and legend entry.
    An input with no ok rows still produces a (labelled, empty) plot, so callers can always attach it.
    """
    good = ok_rows(rows)
    fig = _figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in good:
        groups.setdefault(str(row.get(group_by)) if group_by else "images", []).append(row)
    for label, members in groups.items():
        ax.scatter(
            [row["bits_per_pixel"] for row in members],
            [row["psnr"] for row in members],
            label=label if group_by else None,
            s=28,
            alpha=0.85,
        )
    if target is not None:
        ax.axhline(target, color="tab:red", linestyle="--", linewidth=1, label=f"target {target:g} dB")
    if not good:
        ax.text(0.5, 0.5, "no compressed images", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title or f"rate–distortion ({len(good)} image{'s' if len(good) != 1 else ''})")
    ax.grid(True, alpha=0.3)
    if group_by or target is not None:
        ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def _thumbnail(pixels: np.ndarray, size: int) -> Image.Image:
    """An RGB image no larger than `size` on its long side (never enlarged); alpha composited on white."""
    img = Image.fromarray(np.ascontiguousarray(pixels))
    if img.mode in ("LA", "RGBA"):
        background = Image.new("RGB", img.size, "white")
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        img = background
    else:
        img = img.convert("RGB")
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    return img


def _pair(store: ObjectStore, row: dict[str, Any], key_field: str, size: int):
    """(original, compressed, original bytes, compressed bytes) thumbnails, or None when either is unusable."""
    from image_assets.codec import CodecError, decode, load_image

    raw_key, svdz_key = row.get("raw_key"), row.get(key_field)
    if not raw_key or not svdz_key:
        return None
    try:
        raw = store.get(raw_key)
        compressed = store.get(svdz_key)
        before, after = load_image(raw), decode(compressed)
    except (KeyError, CodecError):
        return None
    return _thumbnail(before, size), _thumbnail(after, size), len(raw), len(compressed)


def before_after_grid(
    store: ObjectStore,
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    count: int = 4,
    thumb: int = 256,
    key_field: str = "staged_key",
) -> Path | None:
    """Up to `count` ok images as original | compressed pairs in one PNG, each labelled with PSNR and bytes.

    The compressed object is `row[key_field]` (the staged `.svdz` by default). Rows whose raw or compressed
    object is missing or unreadable are skipped; None when no pair could be drawn (no file is written).
    """
    pairs: list[tuple[Any, ...]] = []
    for row in ok_rows(rows):
        if len(pairs) >= count:
            break
        pair = _pair(store, row, key_field, thumb)
        if pair is not None:
            pairs.append((row, *pair))
    if not pairs:
        return None
    cell = thumb / DPI
    fig = _figure(figsize=(2 * cell + 0.3, len(pairs) * (cell + 0.45)), layout="constrained")
    axes = fig.subplots(len(pairs), 2, squeeze=False)
    for (row, before, after, bytes_in, bytes_out), (left, right) in zip(pairs, axes, strict=True):
        left.imshow(before)
        left.set_title(f"{row.get('source_id', '')}\noriginal · {bytes_in:,} B", fontsize=8)
        right.imshow(after)
        right.set_title(f"PSNR {row['psnr']:.2f} dB\ncompressed · {bytes_out:,} B", fontsize=8)
        for ax in (left, right):
            ax.set_axis_off()
    return _save(fig, path)


def _png_data_uri(img: Image.Image) -> str:
    buffer = io.BytesIO()
    # A 128-colour palette keeps a 160 px photo to a few kilobytes, so the Markdown stays small.
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def preview_markdown(
    store: ObjectStore, row: dict[str, Any], *, thumb: int = 160, key_field: str = "staged_key"
) -> str:
    """A before/after thumbnail pair as Markdown with inline base64 PNGs (a few tens of KB at most).

    When either object is missing or unreadable, a one-line note says so instead.
    """
    name = row.get("source_id") or row.get("raw_key") or "image"
    pair = _pair(store, row, key_field, thumb) if row.get("status") == "ok" else None
    if pair is None:
        return f"_No preview for `{name}`: its original or compressed object is missing or unreadable._"
    before, after, bytes_in, bytes_out = pair
    ratio = f" ({bytes_in / bytes_out:.1f}×)" if bytes_out else ""
    psnr = f"PSNR {row['psnr']:.2f} dB · " if row.get("psnr") is not None else ""
    return (
        f"**{name}** — {psnr}{bytes_in:,} → {bytes_out:,} bytes{ratio}\n\n"
        f"| before | after |\n|---|---|\n"
        f"| ![before]({_png_data_uri(before)}) | ![after]({_png_data_uri(after)}) |\n"
    )
