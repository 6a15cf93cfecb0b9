"""Metadata a user looks for in the UI: row counts, column schemas, tables of numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

_TYPE_NAMES = {"i": "int", "u": "int", "f": "float", "b": "bool", "O": "string", "U": "string"}


def table_metadata(frame: pd.DataFrame) -> dict[str, Any]:
    columns = [
        dg.TableColumn(name=str(name), type=_TYPE_NAMES.get(frame[name].dtype.kind, str(frame[name].dtype)))
        for name in frame.columns
    ]
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if value is None:
            return "-"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_markdown(table: pd.DataFrame) -> str:
    return markdown_table(["metric", "scope", "value"], table[["metric", "scope", "value"]].itertuples(index=False))


def delta_markdown(delta: Mapping[str, Any]) -> str:
    rows = [
        (
            metric,
            d["baseline_value"],
            d["new_value"],
            d["absolute_delta"],
            "yes" if d["improvement"] else "no",
        )
        for metric, d in delta["metric_deltas"].items()
    ]
    significance = delta["significance"]
    verdict = "accepted" if delta["accepted"] else "not accepted"
    summary = (
        f"**DeltaOne {delta['delta_one_score']:.6f}** ({delta['delta_one_bps']} bps, {verdict}); "
        f"{delta['primary_metric']} {significance['confidence']:.0%} CI "
        f"[{significance['ci_lower']:.4f}, {significance['ci_upper']:.4f}] over {delta['benchmark_rows']} benchmark rows"
    )
    reasons = "\n".join(f"- {reason}" for reason in delta["decision_reasons"])
    return summary + "\n\n" + markdown_table(["metric", "baseline", "improved", "delta", "improved?"], rows) + "\n\n" + reasons
