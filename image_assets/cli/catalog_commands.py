"""`imgpipe catalog list` and `imgpipe get`: find images in the catalog and decode them back."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from image_assets.catalog.order import DEFAULT_ORDER, ORDERS, combine
from image_assets.cli.errors import UserError
from image_assets.cli.options import number_option, parse_day
from image_assets.settings import Settings

# Output formats `imgpipe get` writes, the Pillow format name, and the extensions that imply each.
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF"}
EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".tif": "tiff", ".tiff": "tiff"}
# Pixel modes each format cannot hold, and what to convert them to.
MODE_FALLBACKS = {"jpeg": {"LA": "L", "RGBA": "RGB"}, "webp": {"L": "RGB", "LA": "RGBA"}}


def register(subparsers: argparse._SubParsersAction) -> None:
    catalog = subparsers.add_parser("catalog", help="query the image catalog")
    actions = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list cataloged images, newest partition first")
    add_filters(listing)
    listing.add_argument("--limit", type=int, default=0, help="at most N documents (default: all)")
    listing.add_argument(
        "--sort",
        default=DEFAULT_ORDER.name,
        choices=list(ORDERS),
        help="newest partition first (the default), oldest first, or by PSNR; ties by id",
    )
    listing.add_argument(
        "--after", metavar="ID", help="continue after this id (the last one of the previous page, same --sort)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON document per line")
    listing.set_defaults(handler=list_command)
    stats = actions.add_parser("stats", help="images, bytes and mean PSNR/SSIM per source and day")
    add_filters(stats)
    stats.add_argument("--json", action="store_true", help="one JSON object per source and day")
    stats.set_defaults(handler=stats_command, limit=0)
    migrate = actions.add_parser(
        "migrate", help="copy an old embedded catalog (mongoeco, catalog.sqlite) into the SQLite catalog"
    )
    migrate.add_argument(
        "--from", dest="old", type=Path, metavar="PATH", help="the old file (default $IMGPIPE_HOME/catalog.sqlite)"
    )
    migrate.set_defaults(handler=migrate_command)

    get = subparsers.add_parser("get", help="fetch a stored image by catalog id and decode it")
    get.add_argument("id", help="the `id` that `imgpipe catalog list` prints")
    get.add_argument("-o", "--output", required=True, type=Path, help="output image")
    get.add_argument(
        "--format",
        dest="image_format",
        metavar="FORMAT",
        help=f"one of {', '.join(FORMATS)} (default: from the output's extension)",
    )
    get.add_argument(
        "--original-size",
        action="store_true",
        help="write at the original photo's width x height, as the catalog records them",
    )
    get.add_argument("--max-size", metavar="N", help="shrink so the long side is at most N pixels")
    get.set_defaults(handler=get_command)


def open_catalog_from_env():
    from image_assets.catalog import open_catalog

    settings = Settings.from_env()
    try:
        return open_catalog(settings.mongodb_uri, settings.mongodb_database, settings.catalog_sqlite_path)
    except Exception as exc:  # connection problems are the user's environment, not a bug
        raise UserError(f"cannot open the catalog: {exc}") from None


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    out = {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    return json.loads(json.dumps(out, default=str))


def build_query(args: argparse.Namespace) -> dict[str, Any]:
    """The catalog filter for `catalog list`'s options; the same query runs on MongoDB and mongoeco."""
    query: dict[str, Any] = {}
    if args.source:
        query["source"] = args.source
    if args.date and (args.date_from or args.date_to):
        raise UserError("give --date or --from/--to, not both")
    if args.date:
        query["date"] = parse_day(args.date, "--date").isoformat()
    elif args.date_from or args.date_to:
        start = parse_day(args.date_from, "--from") if args.date_from else None
        end = parse_day(args.date_to, "--to") if args.date_to else None
        if start and end and start > end:
            raise UserError(f"--from {start} is after --to {end}")
        # Partition days are stored as ISO strings, so string order is date order.
        query["date"] = {**({"$gte": start.isoformat()} if start else {}), **({"$lte": end.isoformat()} if end else {})}
    if args.min_psnr is not None:
        query["psnr"] = {"$gte": number_option("--min-psnr", args.min_psnr, float)}
    if args.photographer is not None:
        if not args.photographer.strip():
            raise UserError("--photographer needs a name")
        query["attribution.photographer"] = {"$regex": re.escape(args.photographer.strip()), "$options": "i"}
    if args.limit < 0:
        raise UserError(f"--limit must be 0 (all) or more, got {args.limit}")
    return query


def add_filters(parser: argparse.ArgumentParser) -> None:
    """The filters `catalog list` and `catalog stats` share (see `build_query`)."""
    parser.add_argument("--source")
    parser.add_argument("--date", type=str, help="partition day YYYY-MM-DD")
    parser.add_argument("--from", dest="date_from", metavar="D1", help="partition days from D1 (inclusive)")
    parser.add_argument("--to", dest="date_to", metavar="D2", help="partition days up to D2 (inclusive)")
    parser.add_argument("--min-psnr", metavar="DB", help="only images with PSNR >= DB")
    parser.add_argument("--photographer", metavar="NAME", help="photographer contains NAME (case-insensitive)")


def stats_command(args: argparse.Namespace) -> int:
    """Totals per source and day, computed by the catalog itself (an indexed GROUP BY / an aggregation)."""
    query = build_query(args)
    catalog = open_catalog_from_env()
    try:
        rows = catalog.stats(query)
    finally:
        catalog.close()
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True, allow_nan=False))
        return 0
    columns = ("date", "source", "images", "bytes in", "bytes out", "ratio", "PSNR", "SSIM")
    widths = (-10, -10, 8, 15, 14, 6, 6, 7)  # negative: left-aligned
    print(" ".join(f"{name:<{-w}}" if w < 0 else f"{name:>{w}}" for name, w in zip(columns, widths, strict=True)))
    for r in rows:
        ratio = f"{r['bytes_in'] / r['bytes_out']:.2f}" if r["bytes_out"] else "-"
        psnr = f"{r['psnr_mean']:.2f}" if r["psnr_mean"] is not None else "-"
        ssim = f"{r['ssim_mean']:.4f}" if r["ssim_mean"] is not None else "-"
        print(
            f"{r['date']:<10} {r['source']:<10} {r['images']:>8,} {r['bytes_in']:>15,} {r['bytes_out']:>14,} "
            f"{ratio:>6} {psnr:>6} {ssim:>7}"
        )
    total = sum(r["images"] for r in rows)
    print(f"{total:,} image(s) in {len(rows)} partition(s)")
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Stream matching documents as they come from the catalog's cursor: memory stays flat on any catalog size."""
    from image_assets.tracking.links import run_url

    query = build_query(args)
    order = ORDERS[args.sort]
    tracking_uri = Settings.from_env().mlflow_tracking_uri
    catalog = open_catalog_from_env()
    count, linked, last_id = 0, False, None
    try:
        if args.after is not None:
            query = combine(query, page_start(catalog, args.after, order))
        if not args.json:
            print(f"{'id':<40} {'date':<10} {'size':>11} {'bytes in':>10} {'bytes out':>10} {'PSNR':>6}  MLflow run")
        for raw in catalog.find(query, limit=args.limit, order=order):
            doc = public_view(raw)
            if doc.get("mlflow_run_id") and doc.get("mlflow_experiment_id"):
                doc["mlflow_run_url"] = run_url(tracking_uri, doc["mlflow_experiment_id"], doc["mlflow_run_id"])
                linked = True
            count += 1
            last_id = doc["id"]
            if args.json:
                print(json.dumps(doc, sort_keys=True, allow_nan=False))
                continue
            size = f"{doc['width']}x{doc['height']}"
            print(
                f"{doc['id']:<40} {doc['date']:<10} {size:>11} {doc['bytes_in']:>10,} {doc['bytes_out']:>10,} "
                f"{doc['psnr']:>6.2f}  {doc.get('mlflow_run_url') or '-'}"
            )
    finally:
        catalog.close()
    if not args.json:
        local_ui = linked and not tracking_uri.startswith(("http://", "https://"))
        print(f"{count} image(s)" + ("; the MLflow links open once `make mlflow` runs" if local_ui else ""))
        if args.limit and count == args.limit and last_id is not None:
            sort = "" if order is DEFAULT_ORDER else f" --sort {order.name}"
            print(f"next page: --limit {args.limit}{sort} --after {last_id}")
    return 0


def page_start(catalog: Any, after: str, order: Any) -> dict[str, Any]:
    """The filter for documents after `after` in `order`; the id must exist (a typo would otherwise list all)."""
    doc = catalog.get(after)
    if doc is None:
        raise UserError(f"--after {after!r}: no image with that id; use an id the previous page printed")
    try:
        return order.after_filter(doc)
    except ValueError as exc:
        raise UserError(f"--after {after!r}: {exc}") from None


def output_format(output: Path, requested: str | None) -> str:
    """The format to write: --format if given (it must agree with a known extension), else the extension's."""
    implied = EXTENSIONS.get(output.suffix.lower())
    if requested is None:
        if implied is None:
            raise UserError(
                f"cannot tell the image format from {output.name!r}; use a {', '.join(EXTENSIONS)} extension "
                f"or --format {{{','.join(FORMATS)}}}"
            )
        return implied
    fmt = requested.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    elif fmt == "tif":
        fmt = "tiff"
    if fmt not in FORMATS:
        raise UserError(f"unknown format {requested!r}; choose one of {', '.join(FORMATS)}")
    if output.suffix and implied != fmt:
        raise UserError(f"--format {fmt} does not match the extension of {output.name!r}")
    return fmt


def max_size_option(args: argparse.Namespace) -> int | None:
    if args.max_size is None:
        return None
    if args.original_size:
        raise UserError("give --original-size or --max-size, not both")
    value = number_option("--max-size", args.max_size, int)
    if value < 1:
        raise UserError(f"--max-size must be at least 1, got {value}")
    return value


def target_size(
    doc: dict[str, Any], pixels_size: tuple[int, int], *, doc_id: str, original_size: bool, max_size: int | None
) -> tuple[int, int]:
    """(width, height) to write: the catalog's original size, the decoded size capped by max_size, or as is."""
    width, height = pixels_size
    if original_size:
        try:
            original = int(doc["width"]), int(doc["height"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"the catalog has no original width/height for {doc_id!r}") from None
        if min(original) < 1:
            raise UserError(f"the catalog's original size for {doc_id!r} is invalid: {original[0]}x{original[1]}")
        return original
    if max_size is not None and max(width, height) > max_size:
        scale = max_size / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))
    return width, height


def get_command(args: argparse.Namespace) -> int:
    from PIL import Image

    from image_assets.codec import CodecError, decode
    from image_assets.stores import open_store

    fmt = output_format(args.output, args.image_format)
    max_size = max_size_option(args)
    catalog = open_catalog_from_env()
    try:
        doc = catalog.get(args.id)
    finally:
        catalog.close()
    if doc is None:
        raise UserError(f"no image with id {args.id!r}; `imgpipe catalog list` shows the ids")
    key = doc["storage"]["key"]
    try:
        data = open_store(Settings.from_env().storage_url).get(key)
    except KeyError:
        raise UserError(f"object {key} for {args.id!r} is missing from storage; rematerialize its partition") from None
    try:
        pixels = decode(data)
    except CodecError as exc:
        raise UserError(f"cannot decode {key}: {exc}") from None
    image = Image.fromarray(pixels)
    size = target_size(doc, image.size, doc_id=args.id, original_size=args.original_size, max_size=max_size)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    fallback = MODE_FALLBACKS.get(fmt, {}).get(image.mode)
    if fallback:
        image = image.convert(fallback)
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        image.save(args.output, format=FORMATS[fmt])
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot write {args.output}: {exc}") from None
    print(f"wrote {args.output} ({size[0]}x{size[1]}, {fmt})")
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    """The embedded catalog moved from mongoeco (`catalog.sqlite`) to plain SQLite (`catalog.db`); this copies an
    existing one over, leaving the old file untouched. Run it again after an interruption: upserts by id."""
    from image_assets.catalog import open_catalog
    from image_assets.catalog.migrate import migrate_mongoeco

    settings = Settings.from_env()
    if settings.mongodb_uri:
        raise UserError("MONGODB_URI is set: migrate copies the embedded catalog only; unset it to run")
    old = args.old or settings.home / "catalog.sqlite"
    if not old.is_file():
        raise UserError(f"no old catalog at {old}; nothing to migrate")
    catalog = open_catalog(None, settings.mongodb_database, settings.catalog_sqlite_path)
    try:
        copied = migrate_mongoeco(old, catalog)
    finally:
        catalog.close()
    print(f"copied {copied} document(s) from {old} into {settings.catalog_sqlite_path}; {old} is unchanged")
    return 0
