"""Listing orders and keyset paging, shared by both catalog backends.

Every order ends with `_id`, so it is total: a page boundary is one document, and `--after ID` continues exactly
after it however many documents share its date or PSNR. Each order has an exact reverse (`newest` and `oldest`,
`lowest-psnr` and `highest-psnr`), and each pair is served by one index read forwards or backwards, so `--limit N`
reads N index entries on any catalog size.

Paging is by key, not by offset: `after_filter` turns the last document of a page into a filter (“sorts after
this one”) that the backends translate like any other, so page k costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Order:
    """Sort by `field` (descending or not), ties broken by `_id` (descending or not)."""

    name: str
    field: str
    descending: bool
    id_descending: bool

    def keys(self) -> list[tuple[str, int]]:
        """The MongoDB sort specification: [(field, ±1), ("_id", ±1)]."""
        return [(self.field, -1 if self.descending else 1), ("_id", -1 if self.id_descending else 1)]

    def sql(self) -> str:
        """The SQL ORDER BY clause."""
        return (
            f"ORDER BY {self.field} {'DESC' if self.descending else 'ASC'}, "
            f"_id {'DESC' if self.id_descending else 'ASC'}"
        )

    def after_filter(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """A filter matching exactly the documents that sort after `document` in this order.

        The redundant `$lte`/`$gte` bound lets an index range scan start at the boundary instead of filtering from
        the first entry. Raises ValueError when the document has no value to page from."""
        value = document.get(self.field)
        if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"document {document.get('_id')!r} has no {self.field} to page from")
        beyond, within = ("$lt", "$lte") if self.descending else ("$gt", "$gte")
        id_beyond = "$lt" if self.id_descending else "$gt"
        return {
            "$and": [
                {self.field: {within: value}},
                {"$or": [{self.field: {beyond: value}}, {"_id": {id_beyond: document["_id"]}}]},
            ]
        }


# The default, newest partition first, is the order `catalog list` has always printed.
ORDERS = {
    order.name: order
    for order in (
        Order("newest", "date", descending=True, id_descending=False),
        Order("oldest", "date", descending=False, id_descending=True),
        Order("lowest-psnr", "psnr", descending=False, id_descending=False),
        Order("highest-psnr", "psnr", descending=True, id_descending=True),
    )
}
DEFAULT_ORDER = ORDERS["newest"]


def combine(*filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The conjunction of filters (empty ones dropped), as one MongoDB filter."""
    present = [dict(f) for f in filters if f]
    if not present:
        return {}
    return present[0] if len(present) == 1 else {"$and": present}
