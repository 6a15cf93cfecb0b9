"""A prediction request's body, checked against the task schema before any model sees it.

Two shapes: ``{"records": [{feature: value, …}, …]}`` or ``{"columns": […], "rows": [[…], …]}``.
Every row must carry exactly the task's features, each of its declared type: an ``int``
feature takes JSON integers that fit int64, a ``float`` feature finite numbers, a ``bool``
feature ``true``/``false``; a ``category`` or ``text`` feature takes a string or ``null`` (a
number in a category is read as its text, as intake does: ``7`` is ``"7"``; a category the
model never saw is fine: it reads as none of the known ones), and a numeric feature with a
declared imputation also takes ``null`` (the model imputes it). Category and text values
are normalised by intake's rule (``lib.feature_values``: ``" DE "`` is ``"DE"``, ``""`` is
``null``) and, given the deployment's PII key, their PII is replaced by the keyed pseudonyms
intake gives it: the model was trained on pseudonyms, so it must read them here too.

Messages name the row and the feature, never a value: inputs can hold personal data, so a
string where a number belongs is run through the intake's PII detector and the message
says what it looks like instead of echoing it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from hokusai_assets.lib.feature_values import feature_value
from hokusai_assets.lib.serving.errors import ServingError
from hokusai_assets.lib.task import TaskSchema

if TYPE_CHECKING:
    from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey

INT64 = (-(2**63), 2**63 - 1)


def _bad(message: str, code: str, status: int = 422) -> ServingError:
    return ServingError(message, code=code, status=status)


def _looks_like(value: str) -> str:
    from hokusai_assets.lib.intake.pii.scanner import find_cleartext_pii

    try:
        found = find_cleartext_pii(pd.DataFrame({"value": [value]}))
    except Exception:  # noqa: BLE001 - e.g. a lone surrogate: the type error stands without the hint
        return " (the value is not shown or logged)"
    kinds = sorted(found.get("value", {}))
    return f" (it looks like {', '.join(kinds)}; the value is not shown or logged)" if kinds else ""


def _string_value(row: int, name: str, kind: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return feature_value(kind, value)
    if kind == "category" and isinstance(value, int | float) and (not isinstance(value, float) or math.isfinite(value)):
        return feature_value(kind, value)
    what = "a string or null" if kind == "text" else "a string, a number or null"
    raise _bad(f"row {row}, feature {name!r}: expected {what} ({kind}), got {type(value).__name__}", "E_SERVE_TYPE")


def _value(row: int, name: str, kind: str, value: Any, nullable: bool = False) -> Any:
    where = f"row {row}, feature {name!r}"
    if kind in ("category", "text"):
        return _string_value(row, name, kind, value)
    if value is None:
        if nullable:
            return None
        raise _bad(f"{where}: null is not a value here (no imputation is declared for it); send a {kind}", "E_SERVE_TYPE")
    if isinstance(value, str):
        raise _bad(f"{where}: expected {kind}, got a string{_looks_like(value)}", "E_SERVE_TYPE")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise _bad(f"{where}: expected true or false, got {type(value).__name__}", "E_SERVE_TYPE")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{where}: expected {kind}, got {'a boolean' if isinstance(value, bool) else type(value).__name__}", "E_SERVE_TYPE")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"{where}: NaN and infinity are not values; send a finite number", "E_SERVE_NOT_FINITE")
    if kind == "int":
        if isinstance(value, float):
            raise _bad(f"{where}: expected an integer, got a number with a fraction or exponent", "E_SERVE_TYPE")
        if not INT64[0] <= value <= INT64[1]:
            raise _bad(f"{where}: the integer does not fit in 64 bits", "E_SERVE_TYPE")
        return value
    try:
        return float(value)
    except OverflowError:
        raise _bad(f"{where}: the integer is too large for a float", "E_SERVE_TYPE") from None


def _records(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "records" in body:
        records = body["records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise _bad('"records" must be a list of objects, one per row: [{"feature": value, …}, …]', "E_SERVE_BODY_SHAPE")
        return records
    columns, rows = body.get("columns"), body.get("rows")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or not isinstance(rows, list):
        raise _bad('send {"records": [{…}, …]} or {"columns": [names…], "rows": [[values…], …]}', "E_SERVE_BODY_SHAPE")
    if len(set(columns)) != len(columns):
        raise _bad('"columns" names a feature twice', "E_SERVE_BODY_SHAPE")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise _bad(f"row {i} must be a list of {len(columns)} value(s), one per column", "E_SERVE_BODY_SHAPE")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def parse_rows(body: Any, schema: TaskSchema, max_rows: int, pii_key: PiiKey | None = None) -> list[dict[str, Any]]:
    """The request's rows, each a dict of the task's features in schema order, typed; category
    and text values normalised and, with ``pii_key``, pseudonymised as intake does."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object", "E_SERVE_BODY_SHAPE")
    stray = sorted(set(body) - {"records", "columns", "rows", "unit_id"})
    if stray:
        raise _bad(f"unknown field(s) in the body: {', '.join(stray)}", "E_SERVE_BODY_SHAPE")
    records = _records(body)
    if not records:
        raise _bad("no rows to predict: send at least one", "E_SERVE_BODY_SHAPE")
    if len(records) > max_rows:
        raise _bad(f"{len(records)} rows in one request; at most {max_rows} (serving.max_rows)", "E_SERVE_TOO_MANY_ROWS", 413)
    features = schema.features
    imputed = schema.imputation_of
    names = {name for name, _ in features}
    rows = []
    for i, record in enumerate(records):
        if len(record) != len(names) or not names.issuperset(record):
            _wrong_features(i, record, features, names)
        row = {}
        for name, kind in features:
            value = record[name]
            kind_of_value = type(value)
            # The common cases first; everything else (and every error) through _value.
            if kind == "float" and kind_of_value is float and value - value == 0.0:  # finite
                row[name] = value
            elif kind == "int" and kind_of_value is int and INT64[0] <= value <= INT64[1]:
                row[name] = value
            else:
                row[name] = _value(i, name, kind, value, name in imputed)
        rows.append(row)
    if pii_key is not None:
        pseudonymise_rows(rows, schema, pii_key)
    return rows


def pseudonymise_rows(rows: list[dict[str, Any]], schema: TaskSchema, key: PiiKey) -> None:
    """Replace PII in the rows' category and text values by intake's keyed pseudonyms, in place.

    The same scanner and HMAC key as intake, cell by cell, so ``jane@example.org`` reads as the
    ``<email:…>`` the model was trained on. Nothing found is logged or echoed.
    """
    names = schema.string_feature_names
    if not names or not rows:
        return
    from hokusai_assets.lib.intake.pii.scanner import scan_and_pseudonymise

    frame = pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=object) for name in names})
    protected, report = scan_and_pseudonymise(frame, key)
    for name in report.counts:  # only the columns where something was replaced
        for row, value in zip(rows, protected[name].tolist(), strict=True):
            row[name] = value


def _wrong_features(i: int, record: Mapping[str, Any], features, names: set[str]) -> None:
    missing = [name for name, _ in features if name not in record]
    if missing:
        raise _bad(f"row {i}: missing feature(s) {', '.join(missing)}", "E_SERVE_MISSING_FEATURE")
    extra = sorted(set(record) - names)
    # Extra names are echoed: they are keys the caller chose, not row values.
    shown = ", ".join(repr(name[:64]) for name in extra[:5])
    raise _bad(f"row {i}: unknown feature(s) {shown}; the model reads {', '.join(names_in(features))}", "E_SERVE_EXTRA_FEATURE")


def names_in(features: Sequence[tuple[str, str]]) -> list[str]:
    return [name for name, _ in features]


def frame_of(rows: Sequence[Mapping[str, Any]], schema: TaskSchema) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=schema.feature_names)
