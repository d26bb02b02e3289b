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
    runs = subparsers.add_parser(
        "runs", help="recent runs in the Dagster instance; marks runs of dead processes failed"
    )
    runs.add_argument("--limit", type=int, default=10, help="show at most N runs (default 10)")
    runs.set_defaults(handler=runs_command)


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
        "backfill", help="materialize a date range for one source (or all) in the Dagster instance, as bounded runs"
    )
    backfill.add_argument("--source", required=True, help=f"{', '.join(SOURCE_NAMES)} or all")
    backfill.add_argument("--from", dest="start", required=True, help="first day YYYY-MM-DD")
    backfill.add_argument("--to", dest="end", required=True, help="last day YYYY-MM-DD (inclusive)")
    backfill.add_argument(
        "--max-partitions",
        type=int,
        metavar="K",
        help="partitions per run (default IMGPIPE_BACKFILL_MAX_PARTITIONS, 31)",
    )
    backfill.add_argument("--force", action="store_true", help="rerun chunks that are already materialized")
    backfill.set_defaults(handler=run_backfill_command)


def run_backfill_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from image_assets.backfill import BackfillError, plan_backfill, run_backfill

    try:
        plan = plan_backfill(
            args.source,
            parse_day(args.start, "--from"),
            parse_day(args.end, "--to"),
            max_partitions=args.max_partitions,
        )
    except BackfillError as exc:
        raise UserError(str(exc)) from None
    partitions, chunks = plan.partitions, plan.chunks()
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"backfill {plan.backfill_id}: {len(partitions)} partition(s) {partitions[0].key} … {partitions[-1].key} "
        f"in {len(chunks)} run(s) of at most {plan.max_partitions}"
    )

    def show(kind: str, text: str) -> None:
        console.print({"chunk": text, "step": f"  done: {text}", "progress": f"  {text}"}[kind])

    outcome = run_backfill(plan, on_event=show, force=args.force)
    ran = [chunk for chunk in outcome.chunks if not chunk.skipped]
    for chunk in outcome.failed:
        console.print(f"  run {chunk.run_id} failed: {chunk.error}")
    if outcome.failed:
        raise UserError(
            f"{len(outcome.failed)} of {len(chunks)} run(s) failed; the others are materialized. Run the same command "
            "again to retry only what is missing.",
            exit_code=1,
        )
    console.print(
        f"materialized {sum(len(c.partitions) for c in ran)} partition(s) in {len(ran)} run(s), "
        f"{len(chunks) - len(ran)} run(s) already done; see Runs in the Dagster UI (`make dev`)"
    )
    return 0


def runs_command(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from image_assets.instance import ensure_dagster_home, fail_dead_runs

    if args.limit < 0:
        raise UserError("--limit must be 0 or more")
    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        reaped = fail_dead_runs(instance)
        runs = instance.get_runs(limit=args.limit) if args.limit else []
        for run in runs:
            partitions = run.tags.get("dagster/partition") or " … ".join(
                filter(None, (run.tags.get("dagster/asset_partition_range_start"),
                              run.tags.get("dagster/asset_partition_range_end")))
            )  # fmt: skip
            print(f"{run.run_id}  {run.status.value:<9} {run.job_name:<28} {partitions}")
    if reaped:
        print(f"marked {len(reaped)} run(s) of exited imgpipe processes as failed")
    return 0
