"""`python -m tests.snapshots` (`make snapshots`): rewrite the asset-graph snapshot after an intended change."""

from tests.test_graph_snapshot import SNAPSHOT, describe_graph, render

SNAPSHOT.write_text(render(describe_graph()))
print(f"wrote {SNAPSHOT}")
