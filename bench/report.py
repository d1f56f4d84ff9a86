"""The printed table and the JSON file of one benchmark run. Pure, unit-tested."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    """One measure, for Dockyard and (when measured) for dockerd.

    The ratio is always dockyard / dockerd, the way the design states its
    targets: below 1 is better for latencies, above 1 for throughput.
    """

    measure: str
    unit: str
    dockyard: float | None
    dockerd: float | None = None


def format_value(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if unit == "ms":
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    if unit == "MiB":
        return f"{value:.1f}"
    if unit == "req/s":
        return f"{value:.0f}"
    return f"{value:.3g}"


def ratio(dockyard: float | None, dockerd: float | None) -> float | None:
    """dockyard / dockerd, or None when either is missing or dockerd's is zero."""
    if dockyard is None or dockerd is None or dockerd == 0:
        return None
    return dockyard / dockerd


def format_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render_table(rows: Sequence[Row]) -> str:
    """A fixed-width table; the dockerd and ratio columns appear only when measured."""
    with_dockerd = any(row.dockerd is not None for row in rows)
    header = ["measure", "unit", "dockyard"] + (["dockerd", "ratio"] if with_dockerd else [])
    lines = [header]
    for row in rows:
        cells = [row.measure, row.unit, format_value(row.dockyard, row.unit)]
        if with_dockerd:
            cells += [
                format_value(row.dockerd, row.unit),
                format_ratio(ratio(row.dockyard, row.dockerd)),
            ]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, cells in enumerate(lines):
        # Text left-aligned, numbers right-aligned, as in most benchmark output.
        out.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def rows_to_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [
        {
            "measure": row.measure,
            "unit": row.unit,
            "dockyard": row.dockyard,
            "dockerd": row.dockerd,
            "ratio": ratio(row.dockyard, row.dockerd),
        }
        for row in rows
    ]


def write_results(
    results_dir: Path, rows: Sequence[Row], details: dict[str, Any], now: float | None = None
) -> Path:
    """Write ``results_dir/<UTC timestamp>.json`` and return its path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    path = results_dir / f"{stamp}.json"
    path.write_text(json.dumps({"rows": rows_to_json(rows), **details}, indent=2) + "\n")
    return path
