"""The architecture holds: plain packages load no orchestration, and airflow_bridge has no import cycle.

Spark executors import the codec, the stores and the per-image work; a DAG file parse imports airflow_bridge. Each
is checked in a fresh interpreter, because one test process has long since imported everything.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLAIN_PACKAGES = ["image_assets.pipeline", "image_assets.codec", "image_assets.sources", "image_assets.stores"]
FORBIDDEN_IN_PLAIN = ["dagster", "dagster_pyspark", "dagster_gcp", "pymongo", "mlflow", "airflow", "matplotlib"]
FORBIDDEN_IN_DAG_PARSE = ["pyspark", "skimage", "scipy", "matplotlib", "mlflow", "dagster", "image_assets"]


def loaded_after(code: str, env: dict[str, str] | None = None) -> Any:
    """Run `code` in a fresh interpreter; it must print a JSON object (see the callers)."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", PLAIN_PACKAGES)
def test_plain_packages_load_no_orchestration(package: str) -> None:
    code = f"""
import importlib, json, pkgutil, sys
pkg = importlib.import_module({package!r})
names = [pkg.__name__] + [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in names:
    importlib.import_module(name)
top = sorted({{m.split(".")[0] for m in sys.modules}})
print(json.dumps({{"modules": names, "top": top}}))
"""
    result = loaded_after(code)
    assert len(result["modules"]) > 1
    leaked = sorted(set(FORBIDDEN_IN_PLAIN) & set(result["top"]))
    assert leaked == [], f"importing {package} loads {leaked}"


def test_dag_file_parse_is_light_and_fast(tmp_path: Path) -> None:
    """A DAG-file parse (either mode) reads the committed graph export: no Dagster, Spark or codec, under 2 s."""
    code = f"""
import json, runpy, sys, time
import airflow.sdk  # Airflow's own import cost is not the DAG file's
t0 = time.perf_counter()
found = runpy.run_path({str(ROOT / "airflow_bridge" / "dags" / "image_pipeline.py")!r})
seconds = time.perf_counter() - t0
dags = sorted(k for k, v in found.items() if type(v).__name__ == "DAG")
print(json.dumps({{"seconds": seconds, "dags": dags, "top": sorted({{m.split(".")[0] for m in sys.modules}})}}))
"""
    import os

    env = {**os.environ, "IMGPIPE_AIRFLOW_MODE": "remote", "AIRFLOW_HOME": str(tmp_path)}
    result = loaded_after(code, env)
    assert result["dags"] == [f"image_pipeline__{s}" for s in ("local", "pexels", "unsplash", "wallhaven")]
    assert sorted(set(FORBIDDEN_IN_DAG_PARSE) & set(result["top"])) == []
    assert result["seconds"] < 2.0


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module → airflow_bridge modules it imports, counting imports inside functions too."""
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module] = targets
    modules = set(graph)
    return {module: {t for t in targets if t in modules and t != module} for module, targets in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_airflow_bridge_has_no_import_cycle() -> None:
    graph = import_graph(ROOT / "airflow_bridge")
    assert graph.get("airflow_bridge.modes")
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph) or [])


def test_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_dagster_finds_the_definitions_by_module_name() -> None:
    """`dagster asset list -m image_assets`, the Dagster convention, lists the four assets."""
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "asset", "list", "-m", "image_assets"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["compressed_images", "image_catalog", "raw_images", "stored_images"]


def test_importing_image_assets_stays_light() -> None:
    result = loaded_after("import json, sys, image_assets; print(json.dumps(sorted(sys.modules)))")
    assert "dagster" not in {m.split(".")[0] for m in result}
