"""Benchmark the whole pipeline against the bare codec on the same photos and the same cores.

    .venv/bin/python benchmarks/pipeline.py [--images N] [--master spark://host:7077] [--rerun] [--kill-halfway]

Builds N photo-like JPEGs of ~2 MP (crops, flips and mosaics of the bundled photos, quality 92) in a local
source folder dated one day, then runs the real graph as a user would: `imgpipe backfill --source local` for that
day, in a fresh IMGPIPE_HOME and DAGSTER_HOME. It samples CPU and memory of the whole process tree while it runs,
reads per-stage seconds from the run's event log and materialization metadata, and, in the same process, times
the bare codec (Pillow decode + `compress_image(psnr=35)`, one process per core, one BLAS thread each) on the
same files. `--rerun` reruns the finished day; `--kill-halfway` kills a fresh run with SIGKILL once half the
images are encoded, reruns it, and compares the total with one clean run. Prints one table (Markdown).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from benchmarks.tables import markdown_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PHOTOS = ROOT / "image_assets" / "data" / "photos"
IMGPIPE = Path(sys.executable).with_name("imgpipe")
DAY = dt.date(2026, 11, 1)
SIZE = (1600, 1200)  # 1.92 MP


# ---------------------------------------------------------------- photos
def source_photos() -> list[np.ndarray]:
    out = []
    for path in sorted(PHOTOS.glob("*.*")):
        if path.suffix.lower() in {".png", ".jpg"}:
            with Image.open(path) as img:
                out.append(np.asarray(img.convert("RGB")))
    return out


def make_photo(photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A 1600x1200 mosaic of randomly cropped, flipped and rescaled pieces of real photos."""
    width, height = SIZE
    out = np.zeros((height, width, 3), np.uint8)
    y = 0
    while y < height:
        x, row = 0, int(rng.integers(300, 700))
        while x < width:
            src = photos[int(rng.integers(len(photos)))]
            scale = float(rng.uniform(0.9, 2.0))
            img = Image.fromarray(src).resize((int(src.shape[1] * scale), int(src.shape[0] * scale)))
            piece = np.asarray(img)
            if rng.random() < 0.5:
                piece = piece[:, ::-1]
            h, w = min(row, piece.shape[0], height - y), min(int(rng.integers(300, 900)), piece.shape[1], width - x)
            top, left = int(rng.integers(0, piece.shape[0] - h + 1)), int(rng.integers(0, piece.shape[1] - w + 1))
            out[y : y + h, x : x + w] = piece[top : top + h, left : left + w]
            x += w
        y += row
    return out


def build_photos(folder: Path, count: int, seed: int = 11) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng, photos = np.random.default_rng(seed), source_photos()
    noon = dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC).timestamp()
    paths = []
    for n in range(count):
        path = folder / f"photo-{n:05d}.jpg"
        if not path.exists():
            Image.fromarray(make_photo(photos, rng)).save(path, quality=92)
        os.utime(path, (noon, noon))
        paths.append(path)
    return paths


# ---------------------------------------------------------------- bare codec
def _bare_one(path: str) -> float:
    from image_assets.codec import RankPolicy, compress_image

    started = time.perf_counter()
    compress_image(Path(path).read_bytes(), RankPolicy.parse("psnr=35"), threads=1)
    return time.perf_counter() - started


def bare_codec(paths: list[Path], workers: int) -> float:
    """Wall seconds for decode + encode of every file, one process per core."""
    env = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(env)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_bare_one, [str(p) for p in paths], chunksize=4))
    return time.perf_counter() - started


# ---------------------------------------------------------------- sampling
@dataclass
class Sample:
    """CPU (busy cores) and memory of a process tree, sampled every 0.5 s."""

    root: psutil.Process
    busy: list[tuple[float, float]] = field(default_factory=list)  # (time, cores busy machine-wide)
    driver_rss: int = 0
    jvm_rss: int = 0
    worker_rss: int = 0  # the largest single Spark Python worker
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        psutil.cpu_percent()
        while not self.stop.wait(0.5):
            self.busy.append((time.time(), psutil.cpu_percent() / 100 * psutil.cpu_count()))
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in tree:
                try:
                    rss, cmd = proc.memory_info().rss, " ".join(proc.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                if "java" in cmd.split(" ")[0]:
                    self.jvm_rss = max(self.jvm_rss, rss)
                elif (
                    "pyspark.daemon" in cmd
                    or "pyspark/daemon" in cmd
                    or (proc.pid != self.root.pid and "python" in cmd)
                ):
                    self.worker_rss = max(self.worker_rss, rss)
                elif proc.pid == self.root.pid:
                    self.driver_rss = max(self.driver_rss, rss)

    def busy_between(self, start: float, end: float) -> float:
        values = [cores for t, cores in self.busy if start <= t <= end]
        return statistics.mean(values) if values else float("nan")


def run_backfill(
    env: dict[str, str],
    log: Path,
    kill_after: int | None = None,
    objects: Path | None = None,
    day: dt.date = DAY,
    extra: tuple[str, ...] = (),
):
    """`imgpipe backfill` for `day`; returns (wall seconds, sample, killed)."""
    argv = [str(IMGPIPE), "backfill", "--source", "local", "--from", day.isoformat(), "--to", day.isoformat(), *extra]
    started = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    sample = Sample(psutil.Process(proc.pid))
    thread = threading.Thread(target=sample.run, daemon=True)
    thread.start()
    killed = False
    while proc.poll() is None:
        if kill_after is not None and objects is not None:
            encoded = objects / "encoded" / "local" / day.isoformat()
            if encoded.is_dir() and sum(1 for _ in encoded.iterdir()) >= kill_after:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                proc.wait()
                break
        time.sleep(0.2)
    sample.stop.set()
    thread.join()
    if not killed and proc.returncode != 0:
        raise SystemExit(f"backfill failed (exit {proc.returncode}); see {log}")
    return time.perf_counter() - started, sample, killed


def stage_seconds(dagster_home: Path) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Per-stage seconds of the latest successful run, and each step's (start, end) wall-clock times."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.SUCCESS]), limit=1)
        steps: dict[str, list[float]] = {}
        metadata: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or not entry.step_key:
                continue
            if event.event_type in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS):
                steps.setdefault(entry.step_key, []).append(entry.timestamp)
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                for key, value in event.event_specific_data.materialization.metadata.items():
                    if key.startswith("seconds_"):
                        metadata[key.removeprefix("seconds_")] = float(value.value)
    windows = {step: (min(ts), max(ts)) for step, ts in steps.items()}
    duration = {step: end - start for step, (start, end) in windows.items()}
    stages = {
        "listing": metadata.get("listing", 0.0),
        "download": metadata.get("download", 0.0),
        "spark start": metadata.get("spark_start", 0.0),
        "reuse check": metadata.get("reuse_check", 0.0),
        "encode job": metadata.get("encode_job", 0.0),
        "manifests": metadata.get("manifests", 0.0),
        "MLflow and reports": metadata.get("mlflow_reports", 0.0) - metadata.get("manifests", 0.0),
        "publish (stored_images)": duration.get("stored_images", 0.0),
        "catalog (image_catalog)": duration.get("image_catalog", 0.0),
    }
    return stages, windows


def catalog_state(env: dict[str, str], days: tuple[dt.date, ...] = (DAY,)) -> str:
    """'N documents, exact' when the days' partitions hold one document per photo and no photo twice."""
    from image_assets.catalog import open_catalog
    from image_assets.settings import Settings

    settings = Settings.from_env(env)
    catalog = open_catalog(None, settings.mongodb_database, settings.catalog_sqlite_path)
    try:
        docs = [doc for day in days for doc in catalog.find({"partition_key": f"{day.isoformat()}|local"})]
    finally:
        catalog.close()
    distinct = len({doc["_id"] for doc in docs}) == len(docs) == len({doc["original_sha256"] for doc in docs})
    return f"{len(docs)} documents, {'exact' if distinct else 'NOT EXACT'}"


def fresh_env(work: Path, photos: Path, master: str | None) -> dict[str, str]:
    for name in ("home", "dagster"):
        shutil.rmtree(work / name, ignore_errors=True)
    (work / "dagster").mkdir(parents=True)
    env = {
        **os.environ,
        "IMGPIPE_HOME": str(work / "home"),
        "DAGSTER_HOME": str(work / "dagster"),
        "IMGPIPE_LOCAL_SOURCE": str(photos),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    for name in ("MONGODB_URI", "IMGPIPE_BUCKET", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    if master:
        env["SPARK_MASTER"] = master
    return env


def mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--master", help="spark://host:7077 (default: local[*])")
    parser.add_argument("--workdir", type=Path, help="keep photos and homes here (default: a temp folder)")
    parser.add_argument("--rerun", action="store_true", help="also rerun the finished day")
    parser.add_argument("--kill-halfway", action="store_true", help="also kill a run halfway, then rerun it")
    args = parser.parse_args()
    cores = psutil.cpu_count()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="imgpipe-bench-"))
    photos = work / "photos"
    print(f"building {args.images} photos of {SIZE[0]}x{SIZE[1]} in {photos} ...", file=sys.stderr)
    paths = build_photos(photos, args.images)
    megapixels = len(paths) * SIZE[0] * SIZE[1] / 1e6

    print("bare codec ...", file=sys.stderr)
    bare = bare_codec(paths, cores)

    print("pipeline ...", file=sys.stderr)
    env = fresh_env(work, photos, args.master)
    wall, sample, _ = run_backfill(env, work / "backfill.log")
    stages, windows = stage_seconds(work / "dagster")
    start, end = windows.get("compressed_images", (0.0, 0.0))
    busy = sample.busy_between(start, end)

    rows = [
        ("images", f"{len(paths)}", f"{megapixels:,.0f} MP, JPEG q92"),
        ("catalog after the run", catalog_state(env), ""),
        ("pipeline wall time", f"{wall:.1f} s", "imgpipe backfill, process start to exit"),
        ("pipeline rate", f"{len(paths) / wall:.2f} images/s", f"{megapixels / wall:.2f} MP/s"),
        ("bare codec wall time", f"{bare:.1f} s", f"decode + encode, {cores} processes"),
        ("bare codec rate", f"{len(paths) / bare:.2f} images/s", f"{megapixels / bare:.2f} MP/s"),
        ("pipeline / bare codec rate", f"{bare / wall:.2f}", "same files, same cores, same run"),
        ("cores busy during encode step", f"{busy:.2f} of {cores}", "machine-wide, sampled every 0.5 s"),
    ]
    rows += [(f"  {name}", f"{seconds:.1f} s", "") for name, seconds in stages.items()]
    rows += [
        ("driver peak RSS", mb(sample.driver_rss), "imgpipe process (Dagster, MLflow, Spark driver)"),
        ("JVM peak RSS", mb(sample.jvm_rss), "Spark driver/executor JVM"),
        ("Python worker peak RSS", mb(sample.worker_rss), "largest single Spark Python worker"),
    ]
    if args.rerun:
        again, _, _ = run_backfill(env, work / "rerun.log")
        rows.append(("rerun of the finished day", f"{again:.1f} s", f"{again / wall:.2f} of a run"))
        rows.append(("catalog after the rerun", catalog_state(env), ""))
    if args.kill_halfway:
        env = fresh_env(work, photos, args.master)
        objects = work / "home" / "objects"
        killed, _, was_killed = run_backfill(env, work / "killed.log", kill_after=len(paths) // 2, objects=objects)
        resumed, _, _ = run_backfill(env, work / "resumed.log")
        total = killed + resumed
        rows.append(("killed halfway + rerun", f"{total:.1f} s", f"{total / wall:.2f} of a run (killed: {was_killed})"))
        rows.append(("catalog after kill and rerun", catalog_state(env), ""))
    print("\n" + markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
