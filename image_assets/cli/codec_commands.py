"""`imgpipe compress | decompress | inspect`: the SVD codec on local files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from image_assets.cli.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def register(subparsers: argparse._SubParsersAction) -> None:
    compress = subparsers.add_parser("compress", help="compress images (files or folders) to .svdz")
    compress.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    compress.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="output folder")
    policy = compress.add_mutually_exclusive_group()
    policy.add_argument("--psnr", type=float, metavar="DB", help="target PSNR in dB (default 35)")
    policy.add_argument("--rank", type=int, metavar="K", help="fixed rank per colour channel")
    policy.add_argument("--energy", type=float, metavar="F", help="keep this fraction of each channel's energy")
    policy.add_argument("--max-bytes", type=int, metavar="N", help="best quality within N bytes per file")
    compress.add_argument("--jobs", type=int, default=1, metavar="N", help="images encoded in parallel")
    compress.add_argument(
        "--threads", type=int, default=1, metavar="N", help="threads for each image's encode (for a few large images)"
    )
    compress.add_argument(
        "--max-pixels", type=int, default=89_478_485, metavar="N", help="refuse larger images (default 89478485)"
    )
    compress.add_argument("--drop-alpha", action="store_true", help="discard transparency")
    compress.set_defaults(handler=compress_command)

    decompress = subparsers.add_parser("decompress", help="decode one .svdz file to an image")
    decompress.add_argument("file", type=Path, metavar="FILE.svdz")
    decompress.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.png")
    decompress.set_defaults(handler=decompress_command)

    inspect = subparsers.add_parser("inspect", help="show the header of a .svdz file")
    inspect.add_argument("file", type=Path, metavar="FILE.svdz")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=inspect_command)


@dataclass
class Outcome:
    """One input's result; `error` is set instead of the figures when it failed."""

    source: Path
    target: Path | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    psnr: float = 0.0
    ssim: float = 0.0
    error: str | None = None


def _collect(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(path)  # missing files are reported per file, not fatal
    return files


def _targets(files: list[Path], out_dir: Path) -> list[Path]:
    from image_assets.codec import SVDZ_SUFFIX

    taken: set[str] = set()
    targets = []
    for f in files:
        name, n = f.stem + SVDZ_SUFFIX, 1
        while name in taken:
            name, n = f"{f.stem}-{n}{SVDZ_SUFFIX}", n + 1
        taken.add(name)
        targets.append(out_dir / name)
    return targets


def _compress_one(
    source: Path, target: Path, policy, max_pixels: int | None, keep_alpha: bool, threads: int = 1
) -> Outcome:
    from image_assets.codec import CodecError, compress_image

    try:
        data = source.read_bytes()
    except OSError as exc:
        return Outcome(source, error=f"cannot read: {exc.strerror or exc}")
    try:
        result = compress_image(data, policy, max_pixels=max_pixels, keep_alpha=keep_alpha, threads=threads)
    except CodecError as exc:
        return Outcome(source, bytes_in=len(data), error=str(exc))
    target.write_bytes(result.data)
    return Outcome(source, target, len(data), len(result.data), result.psnr, result.ssim)


def compress_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from image_assets.codec import CodecError, RankPolicy

    try:
        policy = RankPolicy.from_options(psnr=args.psnr, rank=args.rank, energy=args.energy, max_bytes=args.max_bytes)
    except CodecError as exc:
        raise UserError(str(exc)) from None
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.threads < 1:
        raise UserError("--threads must be at least 1")
    files = _collect(args.inputs)
    if not files:
        raise UserError("no image files found in the inputs")
    args.output.mkdir(parents=True, exist_ok=True)
    targets = _targets(files, args.output)
    console = Console(stderr=True)
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    job_args = [
        (f, t, policy, args.max_pixels, not args.drop_alpha, args.threads) for f, t in zip(files, targets, strict=True)
    ]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("compressing", total=len(files))
        if args.jobs == 1:
            for job in job_args:
                outcomes.append(_compress_one(*job))
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                for outcome in pool.map(_compress_one, *zip(*job_args, strict=True)):
                    outcomes.append(outcome)
                    progress.advance(task)
    _summary(outcomes, time.perf_counter() - start)
    return 1 if any(o.error for o in outcomes) else 0


def _summary(outcomes: list[Outcome], seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, width=120)
    failed = [o for o in outcomes if o.error]
    done = [o for o in outcomes if not o.error]
    for o in failed:
        console.print(f"[red]failed[/red] {o.source}: {o.error}", highlight=False)
    bytes_in = sum(o.bytes_in for o in done)
    bytes_out = sum(o.bytes_out for o in done)
    table = Table(title="compression summary")
    for column in ("files", "failed", "bytes in", "bytes out", "ratio", "mean PSNR", "mean SSIM", "time"):
        table.add_column(column, justify="right")
    finite = [o.psnr for o in done if o.psnr != float("inf")]
    table.add_row(
        str(len(outcomes)),
        str(len(failed)),
        f"{bytes_in:,}",
        f"{bytes_out:,}",
        f"{bytes_in / bytes_out:.2f}" if bytes_out else "-",
        f"{sum(finite) / len(finite):.2f} dB" if finite else "-",
        f"{sum(o.ssim for o in done) / len(done):.4f}" if done else "-",
        f"{seconds:.2f} s",
    )
    console.print(table)


def _read_svdz(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


def decompress_command(args: argparse.Namespace) -> int:
    from PIL import Image

    from image_assets.codec import CodecError, decode

    try:
        pixels = decode(_read_svdz(args.file))
    except CodecError as exc:
        raise UserError(f"{args.file}: {exc}") from None
    try:
        Image.fromarray(pixels).save(args.output)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot write {args.output}: {exc}") from None
    print(f"{args.file} -> {args.output} ({pixels.shape[1]}x{pixels.shape[0]})")
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    from image_assets.codec import CodecError, inspect

    try:
        info = inspect(_read_svdz(args.file))
    except CodecError as exc:
        raise UserError(f"{args.file}: {exc}") from None
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        for key, value in info.items():
            if key != "planes":
                print(f"{key:>14}: {value}")
        for i, plane in enumerate(info.get("planes", [])):
            print(f"{'plane ' + str(i):>14}: {plane}")
    return 0
