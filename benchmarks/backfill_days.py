"""Many small photos a day: the catalog step at 10,000 images per partition, day after day, and a rerun.

    .venv/bin/python benchmarks/backfill_days.py [--images 10000] [--days 2] [--workdir DIR]

Builds `--images` small photos (96x72 crops of the bundled photos, JPEG q90; 1 in 100 a flat grey PNG that the codec
reconstructs exactly) for each of `--days` days in one local source folder, then runs `imgpipe backfill --source
local` one day after the other, as a user would, in a fresh IMGPIPE_HOME and DAGSTER_HOME with the embedded
defaults; each later day lands in a catalog that already holds the earlier ones. Then reruns every day with
`--force`. For each run it reads the per-step seconds from the run's event log, the `image_catalog` step above
all, and checks the catalog: one document per photo, no id or original twice, lossless photos included, and
`imgpipe catalog list --json` parsed by a strict JSON parser. Prints one table (Markdown).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import DAY, IMGPIPE, catalog_state, fresh_env, run_backfill, source_photos  # noqa: E402
from benchmarks.tables import markdown_table  # noqa: E402

SIZE = (96, 72)
SOLID_EVERY = 100


def build_day(folder: Path, day: dt.date, count: int, photos: list[np.ndarray], seed: int) -> None:
    """`count` distinct small photos dated `day` (modification time at noon UTC) under folder/<day>/."""
    target = folder / day.isoformat()
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()
    width, height = SIZE
    for n in range(count):
        path = target / f"small-{n:05d}.jpg"
        if not path.exists():
            if n % SOLID_EVERY == 0:  # mid grey, reconstructed exactly; sizes differ so no two share a hash
                k = n // SOLID_EVERY
                path = path.with_suffix(".png")
                Image.new("RGB", (width + k % 97, height + k // 97 + 10 * seed), (128, 128, 128)).save(path)
            else:
                src = photos[int(rng.integers(len(photos)))]
                crop_h, crop_w = (
                    int(rng.integers(height, src.shape[0] // 2)),
                    int(rng.integers(width, src.shape[1] // 2)),
                )
                top = int(rng.integers(0, src.shape[0] - crop_h + 1))
                left = int(rng.integers(0, src.shape[1] - crop_w + 1))
                piece = src[top : top + crop_h, left : left + crop_w]
                if rng.random() < 0.5:
                    piece = piece[:, ::-1]
                Image.fromarray(np.ascontiguousarray(piece)).resize(SIZE, Image.Resampling.LANCZOS).save(
                    path, quality=90
                )
        os.utime(path, (noon, noon))


def step_seconds(dagster_home: Path) -> dict[str, float]:
    """Seconds of each step of the latest successful run, from its event log."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.SUCCESS]), limit=1)
        times: dict[str, list[float]] = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if (
                event
                and entry.step_key
                and event.event_type in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS)
            ):
                times.setdefault(entry.step_key, []).append(entry.timestamp)
    return {step: max(ts) - min(ts) for step, ts in times.items()}


def strict_listing(env: dict[str, str]) -> str:
    """Parse every line of `imgpipe catalog list --json` with NaN/Infinity refused; count lossless documents."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON number {name}")

    out = subprocess.run(
        [str(IMGPIPE), "catalog", "list", "--json"], env=env, check=True, capture_output=True, text=True
    )
    docs = [json.loads(line, parse_constant=refuse) for line in out.stdout.splitlines()]
    lossless = sum(1 for doc in docs if doc.get("lossless"))
    return f"{len(docs):,} lines, strict JSON, {lossless} lossless"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="photos per day")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep photos and homes here (default: a temp folder)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="imgpipe-days-"))
    photos_dir = work / "photos"
    days = tuple(DAY + dt.timedelta(days=n) for n in range(args.days))
    print(f"building {args.images:,} photos of {SIZE[0]}x{SIZE[1]} for each of {args.days} days ...", file=sys.stderr)
    photos = source_photos()
    for n, day in enumerate(days):
        build_day(photos_dir, day, args.images, photos, seed=n + 1)
    env = fresh_env(work, photos_dir, None)

    rows = []
    for label, extra in (("first run", ()), ("rerun --force", ("--force",))):
        for n, day in enumerate(days):
            print(f"{label}: {day} ...", file=sys.stderr)
            wall, _, _ = run_backfill(env, work / "backfill.log", day=day, extra=extra)
            steps = step_seconds(work / "dagster")
            held = f"catalog held {n * args.images:,} documents before" if label == "first run" else "same documents"
            rows.append(
                (f"{label}, {day}: image_catalog step", f"{steps.get('image_catalog', float('nan')):.1f} s", held)
            )
            rows.append((f"{label}, {day}: whole backfill", f"{wall:.1f} s", ", ".join(
                f"{step} {seconds:.1f} s" for step, seconds in steps.items() if step != "image_catalog"
            )))  # fmt: skip
        rows.append((f"catalog after the {label}", catalog_state(env, days), f"{args.images * args.days:,} photos"))
    rows.append(("imgpipe catalog list --json", strict_listing(env), "json.loads with parse_constant refusing"))
    print("\n" + markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
