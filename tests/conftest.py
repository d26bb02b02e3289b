"""Session-wide real components: one Spark session, one GCS emulator, one MongoDB wire server.

Every home directory points into a temporary folder before anything is imported, so no test writes to
the user's home or the repository.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SCRATCH = Path(tempfile.mkdtemp(prefix="imgpipe-tests-"))
for _name, _sub in {
    "IMGPIPE_HOME": "imgpipe",
    "DAGSTER_HOME": "dagster",
    "AIRFLOW_HOME": "airflow",
    "MPLCONFIGDIR": "mpl",
}.items():
    os.environ[_name] = str(_SCRATCH / _sub)
    (_SCRATCH / _sub).mkdir(parents=True, exist_ok=True)
for _name in ("MONGODB_URI", "IMGPIPE_BUCKET", "MLFLOW_TRACKING_URI", "SPARK_MASTER", "IMGPIPE_LOCAL_SOURCE"):
    os.environ.pop(_name, None)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import pytest  # noqa: E402

from tests.servers import gcs_emulator, mongo_wire_server  # noqa: E402

GCS_BUCKET = "imgpipe-test"


@pytest.fixture(scope="session")
def scratch() -> Path:
    return _SCRATCH


@pytest.fixture(scope="session")
def gcs_host() -> str:
    """A running GCS emulator; the real google-cloud-storage client reaches it via STORAGE_EMULATOR_HOST."""
    with gcs_emulator(GCS_BUCKET) as host:
        os.environ["STORAGE_EMULATOR_HOST"] = host
        os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "imgpipe-test")
        yield host
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


@pytest.fixture(scope="session")
def mongodb_uri(scratch: Path) -> str:
    """mongoeco's wire-protocol server on 127.0.0.1, reached by a real pymongo.MongoClient."""
    with mongo_wire_server(scratch / "mongo-wire.sqlite") as uri:
        yield uri


@pytest.fixture(scope="session")
def spark_resource():
    """One SparkSession (local[2]) for the whole test session; Spark's start-up alone is ~8 s."""
    from image_assets.resources.spark import make_spark_resource

    resource = make_spark_resource("local[2]")
    yield resource
    if resource._spark_session is not None:
        resource._spark_session.stop()
