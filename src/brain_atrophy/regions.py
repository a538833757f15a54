"""Region tables: a region is a named set of integer labels.

A table is a TSV with the columns ``region`` and ``labels`` (space-separated integers; a range
``a-b`` stands for every integer from a to b); other columns (``description``, ``source``)
document it and are ignored here.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from .errors import InputError

REGION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
LABEL_TOKEN = re.compile(r"(\d+)(?:-(\d+))?")


def parse_labels(text: str) -> tuple[int, ...]:
    """'2 41 1000-1003' → (2, 41, 1000, 1001, 1002, 1003); raises ValueError on anything else."""
    labels: list[int] = []
    for token in text.split():
        match = LABEL_TOKEN.fullmatch(token)
        if not match:
            raise ValueError(f"'{token}' is not a label number or a range a-b")
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


def read_region_table(path) -> dict[str, tuple[int, ...]]:
    """Read a region TSV into {region: labels}, in file order; faults are InputErrors."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(path, f"cannot read region table ({err.strerror})") from None
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(rows, delimiter="\t")
    missing = {"region", "labels"} - set(reader.fieldnames or [])
    if missing:
        raise InputError(
            path,
            f"region table needs tab-separated columns 'region' and 'labels'; missing {sorted(missing)}",
        )
    regions: dict[str, tuple[int, ...]] = {}
    for line_number, row in enumerate(reader, start=2):
        name = (row["region"] or "").strip()
        if not REGION_NAME.fullmatch(name):
            raise InputError(
                path, f"line {line_number}: region name '{name}' must be a letter then letters, digits or _"
            )
        if name in regions:
            raise InputError(path, f"line {line_number}: region '{name}' is defined twice")
        try:
            regions[name] = parse_labels(row["labels"] or "")
        except ValueError as err:
            raise InputError(path, f"line {line_number}, region '{name}': {err}") from None
    if not regions:
        raise InputError(path, "region table defines no regions")
    return regions
