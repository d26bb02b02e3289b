"""`imgpipe demo`: run the whole graph for one partition on whatever the environment configures."""

from __future__ import annotations

import argparse
import datetime as dt

from image_assets.cli.errors import UserError
from image_assets.sources import SOURCE_NAMES


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"invalid date {text!r}: use YYYY-MM-DD") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="materialize the four assets for one partition and summarize")
    demo.add_argument("--source", default="local", choices=SOURCE_NAMES)
    demo.add_argument("--date", help="partition day YYYY-MM-DD (default: today, UTC)")
    demo.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from dagster import DagsterExecutionStepExecutionError, DagsterInvariantViolationError

    from image_assets.demo import run_demo

    day = parse_day(args.date) if args.date else None
    try:
        report = run_demo(source=args.source, day=day)
    except (DagsterExecutionStepExecutionError, DagsterInvariantViolationError) as exc:
        cause = exc.__cause__ or exc
        raise UserError(f"demo failed: {getattr(cause, 'description', None) or cause}", exit_code=1) from None
    print("\n".join(report.lines()))
    return 0
