"""`imgpipe sources list`: a dry run that shows what a partition would ingest, downloading no image."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from image_assets.cli.errors import UserError
from image_assets.cli.options import parse_day
from image_assets.sources import SOURCE_NAMES, ImageRecord, SourceError, make_source


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sources", help="inspect the image sources")
    commands = parser.add_subparsers(dest="sources_command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="print the records a (source, date) partition would ingest, without downloading images",
        description="Dry run: list the records of one partition. API calls are made; images are not fetched.",
    )
    listing.add_argument("source", help=f"one of {', '.join(SOURCE_NAMES)}")
    listing.add_argument("--date", required=True, help="partition day, YYYY-MM-DD (UTC)")
    listing.add_argument("--limit", type=int, default=None, help="at most N records (default IMGPIPE_MAX_IMAGES)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    listing.set_defaults(handler=list_records)


def list_records(args: argparse.Namespace) -> int:
    day = parse_day(args.date, "--date")
    if args.source not in SOURCE_NAMES:
        raise UserError(f"unknown source {args.source!r}; choose one of {', '.join(SOURCE_NAMES)}")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    try:
        source = make_source(args.source)
        try:
            records = list(source.discover(day, limit=args.limit))  # all or nothing, like the pipeline
        finally:
            source.close()
    except SourceError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        for record in records:
            print(json.dumps(record.to_dict(), ensure_ascii=False, default=str))
    else:
        _print_table(records, f"{args.source} {day}")
    return 0


def _print_table(records: list[ImageRecord], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title}: {len(records)} record(s)")
    for column in ("id", "created (UTC)", "size", "by", "description", "image URL"):
        table.add_column(column, overflow="fold")
    for r in records:
        size = f"{r.width}x{r.height}" if r.width and r.height else ""
        created = r.created_at.strftime("%Y-%m-%d %H:%M:%S") if r.created_at else ""
        table.add_row(r.source_id, created, size, r.photographer or "", r.description or "", r.image_url)
    Console(file=sys.stdout, width=160).print(table)
