"""Session-wide real components: one Spark session, one GCS emulator, one MongoDB wire server.

Every home directory points into a temporary folder before anything is imported, so no test writes to
the user's home or the repository.

Two tiers (`make test-fast`, `make test`): a test that starts a JVM, a server or a subprocess cluster carries the
`integration` marker. The markers are kept honest here: a test that asks for a heavy fixture without the marker
fails at collection, and the fast tier (`-m "not integration"`) runs with no usable JVM, so an unmarked test that
starts Spark fails instead of silently slowing the inner loop.
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

# Fixtures that start a JVM or a server; any test using one must be marked `integration`.
HEAVY_FIXTURES = frozenset({"spark_resource", "gcs_host", "mongodb_uri", "airflow_db", "dagbag"})
NO_JVM = "/nonexistent/fast-tier-runs-no-jvm"


def pytest_configure(config: pytest.Config) -> None:
    if (config.option.markexpr or "").strip() == "not integration":
        os.environ["JAVA_HOME"] = NO_JVM  # the fast tier: a Spark start fails loudly
        os.environ["IMGPIPE_FAST_TIER"] = "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        heavy = HEAVY_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if heavy and item.get_closest_marker("integration") is None:
            raise pytest.UsageError(f"{item.nodeid} uses {', '.join(sorted(heavy))} but is not marked integration")


def forbid_in_fast_tier(what: str) -> None:
    """Called by helpers that start servers or clusters (dagster dev, a Spark cluster, Airflow subprocesses)."""
    if os.environ.get("IMGPIPE_FAST_TIER"):
        pytest.fail(f"{what} started in the fast tier: mark the test `integration`")


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
