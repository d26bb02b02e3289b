"""Every environment variable the pipeline reads, in one place, with its embedded default.

With nothing set, everything lives under IMGPIPE_HOME (default ./.data) and runs offline on one machine.
Pointing a variable at a real service (gs://, mongodb://, spark://, http://) switches to it with no code change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """An environment variable holds something unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    home: Path
    storage_url: str
    gcp_project: str | None
    mongodb_uri: str | None
    mongodb_database: str
    catalog_sqlite_path: Path
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    mlflow_experiment: str
    spark_master: str
    spark_conf: dict[str, str]
    dagster_home: Path
    backfill_max_partitions: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("IMGPIPE_HOME") or ".data").expanduser().resolve()
        return cls(
            home=home,
            storage_url=env.get("IMGPIPE_BUCKET") or str(home / "objects"),
            gcp_project=env.get("GOOGLE_CLOUD_PROJECT") or None,
            mongodb_uri=env.get("MONGODB_URI") or None,
            mongodb_database=env.get("IMGPIPE_MONGODB_DB") or "imgpipe",
            catalog_sqlite_path=home / "catalog.db",  # not catalog.sqlite: the old mongoeco file
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
            mlflow_artifact_root=(home / "mlartifacts").as_uri(),
            mlflow_experiment=env.get("IMGPIPE_MLFLOW_EXPERIMENT") or "image-compression",
            spark_master=env.get("SPARK_MASTER") or "local[*]",
            spark_conf=parse_spark_conf(env.get("IMGPIPE_SPARK_CONF") or ""),
            dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster").expanduser().resolve(),
            backfill_max_partitions=positive_int(env, "IMGPIPE_BACKFILL_MAX_PARTITIONS", 31),
        )


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a positive whole number, not {text!r}")
    return int(text)


def parse_spark_conf(text: str) -> dict[str, str]:
    """IMGPIPE_SPARK_CONF: extra Spark settings as `key=value` pairs separated by commas or newlines."""
    conf: dict[str, str] = {}
    for item in text.replace("\n", ",").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip().startswith("spark."):
            raise ConfigError(f"IMGPIPE_SPARK_CONF entries look like spark.key=value, not {item.strip()!r}")
        conf[key.strip()] = value.strip()
    return conf
