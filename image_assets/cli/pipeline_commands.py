"""`imgpipe demo`: run the whole graph for one partition on whatever the environment configures."""

from __future__ import annotations

import argparse

from image_assets.cli.errors import UserError
from image_assets.cli.options import parse_day
from image_assets.sources import SOURCE_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="materialize the four assets for one partition and summarize")
    demo.add_argument("--source", default="local", choices=SOURCE_NAMES)
    demo.add_argument("--date", help="partition day YYYY-MM-DD (default: today, UTC)")
    demo.set_defaults(handler=run_demo_command)
    register_backfill(subparsers)


def run_demo_command(args: argparse.Namespace) -> int:
    from dagster import DagsterExecutionStepExecutionError, DagsterInvariantViolationError

    from image_assets.demo import run_demo

    day = parse_day(args.date, "--date") if args.date else None
    try:
        report = run_demo(source=args.source, day=day)
    except (DagsterExecutionStepExecutionError, DagsterInvariantViolationError) as exc:
        cause = exc.__cause__ or exc
        raise UserError(f"demo failed: {getattr(cause, 'description', None) or cause}", exit_code=1) from None
    print("\n".join(report.lines()))
    return 0


def register_backfill(subparsers: argparse._SubParsersAction) -> None:
    backfill = subparsers.add_parser(
        "backfill", help="materialize a date range for one source (or all) in the Dagster instance"
    )
    backfill.add_argument("--source", required=True, help=f"{', '.join(SOURCE_NAMES)} or all")
    backfill.add_argument("--from", dest="start", required=True, help="first day YYYY-MM-DD")
    backfill.add_argument("--to", dest="end", required=True, help="last day YYYY-MM-DD (inclusive)")
    backfill.set_defaults(handler=run_backfill_command)


def run_backfill_command(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from image_assets.backfill import ASSET_ORDER, BackfillError, plan_backfill, run_backfill

    try:
        plan = plan_backfill(args.source, parse_day(args.start, "--from"), parse_day(args.end, "--to"))
    except BackfillError as exc:
        raise UserError(str(exc)) from None
    partitions = plan.partitions
    print(
        f"backfill {plan.backfill_id}: {len(partitions)} partition(s) {partitions[0].key} … {partitions[-1].key}"
        " as one run"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} assets"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task("materializing", total=len(ASSET_ORDER))

        def advance(step: str) -> None:
            progress.update(task, advance=1, description=f"done: {step}")

        outcome = run_backfill(plan, on_step=advance)
    if not outcome.success:
        raise UserError(f"backfill run {outcome.run_id} failed: {outcome.error}", exit_code=1)
    print(
        f"run {outcome.run_id} materialized {len(partitions)} partition(s) of {', '.join(ASSET_ORDER)}; "
        "see Runs in the Dagster UI (`make dev`)"
    )
    return 0
