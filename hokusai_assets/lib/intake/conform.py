"""Conforming a raw table to the task schema: the one place where tables are made to fit it.

Every table that enters the graph (baseline, benchmark, contribution) goes through
:func:`conform`, so "what a valid row is" has exactly one definition: the task's columns,
each coerced safely to its declared type. Coercion never loses information silently: a
float that is not integral never becomes an int, a non-numeric string never becomes NaN.
``int``, ``float`` and ``bool`` columns are read by the one value grammar of
``lib.intake.values``, whatever the table came from (a file, JSON records, a frame built in
code): ``0x10``, ``1e3``, ``true`` or 2**63 is never an int.

``category`` and ``text`` features hold strings (object columns, ``None`` where missing),
normalised by the rule of ``lib.feature_values`` that serving and the model's encoder
apply too: a category is stripped of surrounding spaces and an empty one is missing; a
text is kept as written except that an empty one is missing; a number given as a number
(JSON, Parquet) is its JSON text (``7`` and ``7.0`` are ``"7"``, booleans
``"true"``/``"false"``). The readers hand these columns over as text (a CSV cell exactly as
written, so ``"02134"`` keeps its zero; see ``formats.parse_table``). Both may be missing
in any row: a missing category or text is ``null`` in the committed row, never a reason
to reject it.

Missing numbers: a numeric feature with a declared imputation may be missing (kept as a
missing value, committed as ``null``; ``int`` becomes the nullable ``Int64`` and ``bool``
``boolean``); ``intake.nan_policy`` (reject the file or drop the rows) applies to the
label, the id and numeric features without one. ±inf is never a missing value: it follows
``nan_policy`` for every numeric column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import SchemaError
from hokusai_assets.lib.feature_values import feature_values
from hokusai_assets.lib.intake.formats import require_unique_columns, shown_columns
from hokusai_assets.lib.intake.values import ParsedValues, parse_values, refuse_nested, row_numbers
from hokusai_assets.lib.task import FeatureType, LabelType, TaskSchema

NanPolicy = Literal["reject", "drop_rows"]


@dataclass
class ConformReport:
    """What :func:`conform` did, in counts (never values: rows may hold personal data)."""

    input_rows: int
    output_rows: int
    dropped_missing_rows: int = 0
    extra_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "input_rows": self.input_rows,
            "output_rows": self.output_rows,
            "dropped_missing_rows": self.dropped_missing_rows,
            "extra_columns": list(self.extra_columns),
        }


_row_numbers = row_numbers  # 1-based data rows, the first few: never values


def _to_strings(series: pd.Series, column: str, kind: FeatureType, source: str) -> pd.Series:
    cells = series.tolist()
    refuse_nested(cells, kind, column=column, source=source)
    return pd.Series(feature_values(kind, cells), index=series.index, dtype=object)


def _coerce_feature(series: pd.Series, column: str, kind: FeatureType, source: str) -> pd.Series | ParsedValues:
    """A category or text as strings (``lib.feature_values``); a number or bool by the value
    grammar (``lib.intake.values``), with its missing and infinite rows."""
    if kind in ("category", "text"):
        return _to_strings(series, column, kind, source)
    return parse_values(series, kind, column=column, source=source)


def _coerce_label(series: pd.Series, column: str, kind: LabelType, source: str) -> pd.Series | ParsedValues:
    if kind == "str":
        return series.astype("string").str.strip()
    return parse_values(series, kind, column=column, source=source)


def _missing_columns(present: list[str], schema: TaskSchema, source: str) -> None:
    missing = [c for c in schema.columns if c not in present]
    if not missing:
        return
    # A header padded with spaces names no task column: say so, not just "missing".
    padded = {name.strip(): name for name in present if name != name.strip()}
    spaced = [padded[c] for c in missing if c in padded]
    if spaced:
        raise SchemaError(
            f"{source}: column names have surrounding spaces: {shown_columns(spaced)}; remove the spaces "
            "from the header, or set intake.trim_headers: true to have them trimmed",
            code="E_SCHEMA_HEADER_WHITESPACE",
        )
    raise SchemaError(
        f"{source}: missing required column(s) {', '.join(repr(c) for c in missing)}; "
        f"the task needs {schema.label!r} (label) and its {len(schema.features)} feature(s)",
        code="E_SCHEMA_MISSING_COLUMN",
    )


def conform(
    frame: pd.DataFrame,
    schema: TaskSchema,
    *,
    source: str,
    nan_policy: NanPolicy = "reject",
) -> tuple[pd.DataFrame, ConformReport]:
    """Return ``frame`` reduced to the task's columns, coerced to their declared types.

    ``source`` names the table in messages (a file name or "baseline training set").
    Missing values and ±inf are rejected, or their rows dropped when ``nan_policy`` is
    ``drop_rows``: a committed row never holds NaN or infinity. Missing values of category
    and text features, and of numeric features with a declared imputation, are kept as
    missing (committed as ``null``); see the module docstring.
    """
    present = [str(c) for c in frame.columns]
    require_unique_columns(present, source)
    _missing_columns(present, schema, source)
    coerced: dict[str, pd.Series] = {}
    missing_of: dict[str, np.ndarray] = {}
    infinite_of: dict[str, np.ndarray] = {}

    def keep(name: str, value: pd.Series | ParsedValues) -> None:
        if isinstance(value, ParsedValues):
            coerced[name] = value.series()
            missing_of[name], infinite_of[name] = value.missing, value.infinite
        else:
            coerced[name] = value

    if schema.id_column:
        keep(schema.id_column, frame[schema.id_column].astype("string").str.strip())
    for name, kind in schema.features:
        keep(name, _coerce_feature(frame[name], name, kind, source))
    keep(schema.label, _coerce_label(frame[schema.label], schema.label, schema.label_type, source))
    out = pd.DataFrame({name: values.set_axis(pd.RangeIndex(len(frame))) for name, values in coerced.items()})

    types = schema.feature_types
    imputed = set(schema.imputation_of)
    invalid = np.zeros(len(out), dtype=bool)
    for column in out.columns:
        kind = types.get(column)
        if kind in ("category", "text"):
            continue  # strings or None: missing is allowed, committed as null
        missing = missing_of.get(column, out[column].isna().to_numpy())
        infinite = infinite_of.get(column, np.zeros(len(out), dtype=bool))
        may_be_missing = kind is not None and column in imputed
        bad = infinite if may_be_missing else missing | infinite
        if bad.any() and nan_policy == "reject":
            what = "infinite values" if may_be_missing else "missing, NaN or infinite values"
            if may_be_missing:
                fix = "replace them"
            elif kind is not None:
                fix = "fill them, declare an imputation for the feature in task.imputation"
            else:
                fix = "fill them"
            raise SchemaError(
                f"{source}: column '{column}' has {what} in rows "
                f"{_row_numbers(bad)}; {fix}, or set intake.nan_policy: drop_rows to drop such rows",
                code="E_SCHEMA_MISSING_VALUE",
            )
        invalid |= bad
    dropped = int(invalid.sum())
    if dropped:
        out = out.loc[~invalid].reset_index(drop=True)

    for name, kind in schema.features:
        nullable = name in imputed
        if kind == "int":
            out[name] = out[name].astype("Int64" if nullable else "int64")
        elif kind == "bool":
            out[name] = out[name].astype("boolean" if nullable else "bool")
    if schema.label_type == "int":
        out[schema.label] = out[schema.label].astype("int64")
    elif schema.label_type == "str":
        out[schema.label] = out[schema.label].astype(object)
    if schema.id_column:
        out[schema.id_column] = out[schema.id_column].astype(object)
        ids = out[schema.id_column]
        dup_ids = ids.duplicated(keep=False).to_numpy()
        if dup_ids.any():
            raise SchemaError(
                f"{source}: id column '{schema.id_column}' repeats in rows {_row_numbers(dup_ids)}; "
                "ids must be unique within a file",
                code="E_SCHEMA_DUPLICATE_ID",
            )

    report = ConformReport(
        input_rows=len(frame),
        output_rows=len(out),
        dropped_missing_rows=dropped,
        extra_columns=[c for c in present if c not in schema.columns],
    )
    return out, report


def check_labels(frame: pd.DataFrame, schema: TaskSchema, known_labels: list, *, source: str) -> None:
    """Classification labels must be classes the task already knows (from the baseline)."""
    if schema.task_type != "classification":
        return
    known = set(known_labels)
    unknown_mask = ~frame[schema.label].isin(known).to_numpy()
    if unknown_mask.any():
        examples = sorted({str(v) for v in frame.loc[unknown_mask, schema.label].head(5)})
        raise SchemaError(
            f"{source}: label column '{schema.label}' has values the task does not know "
            f"({', '.join(examples)}) in rows {_row_numbers(unknown_mask)}; "
            f"valid labels are {', '.join(str(v) for v in sorted(known, key=str))}",
            code="E_SCHEMA_UNKNOWN_LABEL",
        )
