"""Spark: `local[*]` bound to 127.0.0.1 by default, a cluster when SPARK_MASTER says so.

Built on dagster-pyspark's LazyPySparkResource so assets that never touch Spark pay no start-up cost.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from dagster_pyspark import LazyPySparkResource

# Holds log4j2.properties (errors only); spark-submit puts SPARK_CONF_DIR on the driver classpath.
SPARK_CONF_DIR = Path(__file__).with_name("spark_conf")
LOG4J_CONFIG = SPARK_CONF_DIR / "log4j2.properties"
# Attempts per task in local mode (`local[N]` alone never retries): a killed Python worker costs one retry.
LOCAL_TASK_ATTEMPTS = 3
# Spark runs images in parallel, so each encode gets one BLAS thread (no oversubscription).
ONE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def with_local_retries(master: str) -> str:
    """`local[N]` / `local[*]` → `local[N,3]`: Spark's local mode retries a failed task only when told so."""
    match = re.fullmatch(r"local\[(\*|\d+)\]", master.strip())
    return f"local[{match.group(1)},{LOCAL_TASK_ATTEMPTS}]" if match else master


def spark_config(master: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "spark.master": with_local_retries(master),
        "spark.app.name": "imgpipe",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.task.maxFailures": str(LOCAL_TASK_ATTEMPTS),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "spark.executor.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
    }
    for name in ONE_THREAD_ENV:
        conf[f"spark.executorEnv.{name}"] = "1"
    if master.startswith("local"):
        conf.update(
            {
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.ui.enabled": "false",
                "spark.sql.shuffle.partitions": "8",
            }
        )
    return conf | dict(extra or {})


class SparkResource(LazyPySparkResource):
    """A lazily started SparkSession configured for this pipeline."""

    def _init_session(self) -> None:
        if self._spark_session is None:
            if str(self.spark_config.get("spark.master", "")).startswith("local"):
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_CONF_DIR", str(SPARK_CONF_DIR))
            super()._init_session()
            assert self._spark_session is not None
            self._spark_session.sparkContext.setLogLevel("ERROR")

    @property
    def parallelism(self) -> int:
        return int(self.spark_context.defaultParallelism)


def make_spark_resource(master: str, extra: dict[str, str] | None = None) -> SparkResource:
    return SparkResource(spark_config=spark_config(master, extra))
