"""`imgpipe catalog list` and `imgpipe get`: find images in the catalog and decode them back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from image_assets.cli.errors import UserError
from image_assets.cli.pipeline_commands import parse_day
from image_assets.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    catalog = subparsers.add_parser("catalog", help="query the image catalog")
    actions = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list cataloged images, newest partition first")
    listing.add_argument("--source")
    listing.add_argument("--date", type=str, help="partition day YYYY-MM-DD")
    listing.add_argument("--limit", type=int, default=0, help="at most N documents (default: all)")
    listing.add_argument("--json", action="store_true", help="one JSON document per line")
    listing.set_defaults(handler=list_command)

    get = subparsers.add_parser("get", help="fetch a stored image by catalog id and decode it")
    get.add_argument("id", help="the `id` that `imgpipe catalog list` prints")
    get.add_argument("-o", "--output", required=True, type=Path, help="output image (format from extension)")
    get.set_defaults(handler=get_command)


def open_catalog_from_env():
    from image_assets.resources.catalog import open_catalog

    settings = Settings.from_env()
    try:
        return open_catalog(settings.mongodb_uri, settings.mongodb_database, settings.catalog_sqlite_path)
    except Exception as exc:  # connection problems are the user's environment, not a bug
        raise UserError(f"cannot open the catalog: {exc}") from None


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    out = {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    return json.loads(json.dumps(out, default=str))


def list_command(args: argparse.Namespace) -> int:
    query: dict[str, Any] = {}
    if args.source:
        query["source"] = args.source
    if args.date:
        query["date"] = parse_day(args.date).isoformat()
    catalog = open_catalog_from_env()
    try:
        docs = [public_view(doc) for doc in catalog.find(query, limit=args.limit)]
    finally:
        catalog.close()
    if args.json:
        for doc in docs:
            print(json.dumps(doc, sort_keys=True))
        return 0
    print(f"{'id':<40} {'date':<10} {'size':>11} {'bytes in':>10} {'bytes out':>10} {'PSNR':>6}")
    for doc in docs:
        size = f"{doc['width']}x{doc['height']}"
        print(f"{doc['id']:<40} {doc['date']:<10} {size:>11} {doc['bytes_in']:>10,} {doc['bytes_out']:>10,} "
              f"{doc['psnr']:>6.2f}")
    print(f"{len(docs)} image(s)")
    return 0


def get_command(args: argparse.Namespace) -> int:
    from PIL import Image

    from image_assets.codec import CodecError, decode
    from image_assets.resources.storage import open_store

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
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(args.output)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot write {args.output}: {exc}") from None
    print(f"wrote {args.output} ({pixels.shape[1]}x{pixels.shape[0]})")
    return 0
