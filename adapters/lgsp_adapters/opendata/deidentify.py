"""De-identification by construction: what a dataset publishes of the
warehouse's rows.

1. The allow-list: a published row holds the dataset's columns and nothing
   else (a column the service adds later is dropped, never passed on).
2. Primary suppression: a count ``0 < n < min_count`` becomes null.
3. Complementary suppression: where a suppressed cell could be recovered by
   subtraction, from a total in the same row (``relations``) or from a sum
   over rows known elsewhere (``groups_of_cells``), the smallest other cell
   of that total is suppressed too, until no total has exactly one hidden
   cell.
4. A derived value (a rate, an average, an area) computed from a suppressed
   count is null as well.
Every row carries :data:`~.datasets.SUPPRESSED` (``bi_an``): whether a cell
of it was hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lgsp_adapters.opendata.datasets import SUPPRESSED, Dataset, Row

Cell = tuple[int, str]
MAX_PASSES = 50


def deidentify(dataset: Dataset, rows: Sequence[Row], min_count: int) -> list[Row]:
    """The rows the portal may publish of ``rows`` (already aggregated)."""
    kept = [{c: row.get(c) for c in dataset.column_ids} for row in rows]
    counts = [c.id for c in dataset.columns if c.kind == "count"]
    hidden: set[Cell] = {
        (i, c)
        for i, row in enumerate(kept)
        for c in counts
        if isinstance(row[c], int) and 0 < row[c] < min_count  # type: ignore[operator]
    }
    totals = [*_row_totals(dataset, kept), *_group_totals(dataset, kept)]
    for _ in range(MAX_PASSES):
        added = False
        for cells in totals:
            inside = [cell for cell in cells if cell in hidden]
            if len(inside) != 1:
                continue
            others = [cell for cell in cells if cell not in hidden]
            if not others:
                continue
            # The smallest non-zero cell; a zero only when nothing else is left.
            hidden.add(min(others, key=lambda cell: (_value(kept, cell) == 0, _value(kept, cell))))
            added = True
        if not added:
            break
    derived = [c for c in dataset.columns if c.kind == "derived"]
    published: list[Row] = []
    for i, row in enumerate(kept):
        out = dict(row)
        for c in counts:
            if (i, c) in hidden:
                out[c] = None
        for d in derived:
            if any((i, source) in hidden for source in d.from_counts):
                out[d.id] = None
        out[SUPPRESSED] = any((i, c) in hidden for c in counts)
        published.append(out)
    return published


def _value(rows: Sequence[Row], cell: Cell) -> int:
    value = rows[cell[0]][cell[1]]
    return value if isinstance(value, int) else 0


def _row_totals(dataset: Dataset, rows: Sequence[Row]) -> Iterable[list[Cell]]:
    for i in range(len(rows)):
        for total, parts in dataset.relations:
            yield [(i, total), *((i, p) for p in parts)]


def _group_totals(dataset: Dataset, rows: Sequence[Row]) -> Iterable[list[Cell]]:
    for keys, column in dataset.groups_of_cells:
        groups: dict[tuple[object, ...], list[Cell]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(tuple(row.get(k) for k in keys), []).append((i, column))
        yield from groups.values()
