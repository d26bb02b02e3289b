"""The same code on a Spark standalone cluster (master + worker on 127.0.0.1), chosen only by SPARK_MASTER."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest
import requests

from image_assets.sources.local import BUNDLED_PHOTOS
from tests.servers import free_port

pytestmark = pytest.mark.integration

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(SPARK_CLASS), *args], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise TimeoutError(what)


def test_demo_runs_unchanged_on_a_standalone_cluster(tmp_path) -> None:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(SPARK_CLASS.parent.parent)}
    port, ui_port = free_port(), free_port()
    master = start(
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
        ],
        tmp_path / "master.log",
        env,
    )
    worker = start(
        [
            "org.apache.spark.deploy.worker.Worker",
            f"spark://127.0.0.1:{port}",
            "--host",
            "127.0.0.1",
            "--cores",
            "1",
            "--memory",
            "1g",
            "--webui-port",
            str(free_port()),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        tmp_path / "worker.log",
        env,
    )
    state = f"http://127.0.0.1:{ui_port}/json/"
    try:
        wait_for(lambda: requests.get(state, timeout=2).json().get("aliveworkers") == 1, 90, "no worker joined")
        photos = tmp_path / "photos"
        photos.mkdir()
        shutil.copy(BUNDLED_PHOTOS / "coffee.png", photos / "coffee.png")
        noon = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC).timestamp()
        os.utime(photos / "coffee.png", (noon, noon))
        run_env = {
            **env,
            "SPARK_MASTER": f"spark://127.0.0.1:{port}",
            "IMGPIPE_HOME": str(tmp_path / "home"),
            "DAGSTER_HOME": str(tmp_path / "dagster"),
            "IMGPIPE_LOCAL_SOURCE": str(photos),
        }
        imgpipe = Path(sys.executable).with_name("imgpipe")
        done = subprocess.run(
            [str(imgpipe), "demo", "--date", "2026-11-23"], env=run_env, capture_output=True, text=True, timeout=400
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "1 compressed, 0 failed" in done.stdout
        apps = requests.get(state, timeout=5).json()
        assert [app["name"] for app in apps["completedapps"] + apps["activeapps"]] == ["imgpipe"]
        # The encode really ran in the worker's executor, not in the driver.
        assert any((tmp_path / "work").rglob("stderr"))
    finally:
        for proc in (worker, master):
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # a loaded machine can keep a JVM's shutdown hooks busy
                os.killpg(proc.pid, 9)
                proc.wait(timeout=15)
