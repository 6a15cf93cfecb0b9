"""Reading a data file into rows of the task schema.

This is the one path from a file on disk to a conformed table, for the baseline, the
benchmark and every contribution alike.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.intake.conform import ConformReport, NanPolicy, conform
from hokusai_assets.lib.intake.formats import ParseRules, read_table
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.validate import protect_reference
from hokusai_assets.lib.task import TaskSchema, canonical_order


def read_conformed(
    path: Path,
    schema: TaskSchema,
    *,
    source: str,
    nan_policy: NanPolicy = "reject",
    fmt: str | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    rules: ParseRules | None = None,
) -> tuple[pd.DataFrame, ConformReport]:
    """Read ``path`` and conform it to ``schema``; refuse oversized files and empty tables.

    ``rules`` are the parser's limits (``intake.max_columns`` and the others; their
    defaults when not given)."""
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    if max_bytes is not None and size > max_bytes:
        raise DataFileError(
            f"{source}: {size:,} bytes is over the limit of {max_bytes:,} (intake.max_file_bytes); "
            "split the data into smaller files",
            code="E_DATA_TOO_LARGE",
        )
    raw = read_table(path, fmt, schema.string_feature_names, schema.numeric_columns, rules)
    if max_rows is not None and len(raw) > max_rows:
        raise DataFileError(
            f"{source}: {len(raw):,} rows is over the limit of {max_rows:,} (intake.max_rows); "
            "split the data into smaller files",
            code="E_DATA_TOO_MANY_ROWS",
        )
    frame, report = conform(raw, schema, source=source, nan_policy=nan_policy)
    if frame.empty:
        raise DataFileError(f"{source}: no usable rows after validation", code="E_DATA_EMPTY")
    return frame, report


def load_reference(
    path: Path,
    schema: TaskSchema,
    key: PiiKey,
    *,
    source: str,
    nan_policy: NanPolicy = "reject",
    rules: ParseRules | None = None,
) -> tuple[pd.DataFrame, ConformReport]:
    """A baseline or benchmark table: conformed, pseudonymised like contributions, in canonical order.

    Canonical order makes what is trained on it independent of the file's row order.
    """
    frame, report = read_conformed(path, schema, source=source, nan_policy=nan_policy, rules=rules)
    return canonical_order(protect_reference(frame, schema, key), schema), report
