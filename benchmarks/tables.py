"""The Markdown table every benchmark script prints."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """(metric, value, detail) rows as a Markdown table, the metric column padded for reading in a terminal."""
    width = max(len(row[0]) for row in rows)
    lines = [f"| {'metric':<{width}} | value | detail |", f"|{'-' * (width + 2)}|------:|--------|"]
    lines += [f"| {name:<{width}} | {value} | {detail} |" for name, value, detail in rows]
    return "\n".join(lines)
