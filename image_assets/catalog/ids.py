"""Catalog document ids: one per (source, source id), so upserts of a rerun land on the same document."""


def document_id(source: str, source_id: str) -> str:
    return f"{source}:{source_id}"
