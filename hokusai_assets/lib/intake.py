"""Reading a data file into rows of the task schema.

This is the one path from a file on disk to a conformed table, for the baseline, the
benchmark and every contribution alike.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.formats import read_table
from hokusai_assets.lib.schema import ConformReport, NanPolicy, TaskSchema, conform


def read_conformed(
    path: Path,
    schema: TaskSchema,
    *,
    source: str,
    nan_policy: NanPolicy = "reject",
    fmt: str | None = None,
) -> tuple[pd.DataFrame, ConformReport]:
    """Read ``path`` and conform it to ``schema``; refuse a table with no rows."""
    frame, report = conform(read_table(path, fmt), schema, source=source, nan_policy=nan_policy)
    if frame.empty:
        raise DataFileError(f"{source}: no usable rows after validation", code="E_DATA_EMPTY")
    return frame, report
