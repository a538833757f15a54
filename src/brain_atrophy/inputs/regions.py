"""Region tables: a region is a named set of integer labels.

A table is a TSV with the columns ``region`` and ``labels`` (space-separated integers; a range
``a-b`` stands for every integer from a to b; or label names, looked up in a BIDS ``dseg.tsv``
with columns ``index`` and ``name``); other columns (``description``, ``source``) document it
and are ignored here.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..tables import read_table

REGION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
LABEL_TOKEN = re.compile(r"(\d+)(?:-(\d+))?")


def parse_labels(text: str, names: dict[str, int] | None = None) -> tuple[int, ...]:
    """'2 41 1000-1003' → (2, 41, 1000, 1001, 1002, 1003); with ``names`` (a dseg.tsv lookup) a
    token may also be a label name ('Left-Thalamus'). Raises ValueError on anything else."""
    labels: list[int] = []
    for token in text.split():
        match = LABEL_TOKEN.fullmatch(token)
        if not match:
            if names is None:
                raise ValueError(
                    f"'{token}' is not a label number or a range a-b (and no dseg.tsv names labels)"
                )
            if token not in names:
                raise ValueError(f"label name '{token}' is not in the lookup table")
            labels.append(names[token])
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first:
            raise ValueError(f"range '{token}' runs backwards")
        labels.extend(range(first, last + 1))
    if not labels:
        raise ValueError("no labels given")
    if 0 in labels:
        raise ValueError("label 0 is background and cannot belong to a region")
    return tuple(sorted(set(labels)))


def read_label_names(path) -> dict[str, int]:
    """{name: index} from a BIDS dseg.tsv lookup table (columns ``index`` and ``name``)."""
    table = read_table(path)
    table.require(["index", "name"], "a dseg.tsv lookup table (tab-separated columns 'index' and 'name')")
    names: dict[str, int] = {}
    for line_number, row in table.numbered():
        name, index = row["name"], row["index"]
        if not index.isdigit():
            raise InputError(path, f"line {line_number}: index '{index}' is not a non-negative integer")
        if name in names:
            raise InputError(path, f"line {line_number}: name '{name}' appears twice")
        names[name] = int(index)
    return names


def load_regions(region_table, label_table=None, tissues=None) -> dict:
    """The regions of ``region_table``, label names resolved through ``label_table`` if given:
    {region: labels}, or with ``tissues`` (tissue-map mode) {region: (tissues, atlas labels)}."""
    if tissues:
        return read_tissue_regions(region_table, tissues, label_table)
    return read_region_table(region_table, read_label_names(label_table) if label_table else None)


def _region_rows(path: Path, required: list[str], needs: str):
    """(line number, row) of a region TSV ('#' comment and blank lines skipped); missing
    columns are an InputError."""
    table = read_table(path, comments=True)
    table.require(required, needs)
    return table.numbered()


def read_region_table(path, names: dict[str, int] | None = None) -> dict[str, tuple[int, ...]]:
    """Read a region TSV into {region: labels}, in file order; faults are InputErrors."""
    path = Path(path)
    reader = _region_rows(
        path, ["region", "labels"], "region table needs tab-separated columns 'region' and 'labels';"
    )
    regions: dict[str, tuple[int, ...]] = {}
    for line_number, row in reader:
        name = (row["region"] or "").strip()
        if not REGION_NAME.fullmatch(name):
            raise InputError(
                path, f"line {line_number}: region name '{name}' must be a letter then letters, digits or _"
            )
        if name in regions:
            raise InputError(path, f"line {line_number}: region '{name}' is defined twice")
        try:
            regions[name] = parse_labels(row["labels"] or "", names)
        except ValueError as err:
            raise InputError(path, f"line {line_number}, region '{name}': {err}") from None
    if not regions:
        raise InputError(path, "region table defines no regions")
    return regions


def read_tissue_regions(
    path, tissues, label_table=None
) -> dict[str, tuple[tuple[str, ...], tuple[int, ...] | None]]:
    """{region: (tissues, atlas labels or None)} from a TSV with columns ``region``, ``tissue``
    (one or more space-separated tissue names, summed: 'GM WM') and optionally ``labels``
    (empty: the whole maps); ``tissues`` are the configured maps."""
    path = Path(path)
    reader = _region_rows(
        path,
        ["region", "tissue"],
        "a region table for tissue maps needs tab-separated columns 'region' and 'tissue' "
        "(and optionally 'labels');",
    )
    names = read_label_names(label_table) if label_table else None
    regions: dict[str, tuple[tuple[str, ...], tuple[int, ...] | None]] = {}
    for line_number, row in reader:
        name, chosen = (row["region"] or "").strip(), tuple((row["tissue"] or "").split())
        if not REGION_NAME.fullmatch(name):
            raise InputError(
                path, f"line {line_number}: region name '{name}' must be a letter then letters, digits or _"
            )
        if name in regions:
            raise InputError(path, f"line {line_number}: region '{name}' is defined twice")
        unknown = [t for t in chosen if t not in tissues] or ([] if chosen else ["(none)"])
        if unknown:
            raise InputError(
                path,
                f"line {line_number}: tissue {', '.join(unknown)} is not one of the configured maps "
                f"{sorted(tissues)}",
            )
        labels_text = (row.get("labels") or "").strip()
        try:
            labels = parse_labels(labels_text, names) if labels_text else None
        except ValueError as err:
            raise InputError(path, f"line {line_number}, region '{name}': {err}") from None
        regions[name] = (chosen, labels)
    if not regions:
        raise InputError(path, "region table defines no regions")
    return regions
