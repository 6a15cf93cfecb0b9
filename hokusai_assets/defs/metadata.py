"""Metadata Dagster understands: a table's row count and column schema."""

from __future__ import annotations

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
