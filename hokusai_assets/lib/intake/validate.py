"""The full intake of one contribution: what a file must pass before it may train a model.

``run_intake`` takes the received bytes and returns the validated rows plus a report and
the outcome of every check. It never raises on bad data: a file that cannot be read or
does not fit the schema gets a failed ``schema_valid`` check with the reason, so the
Dagster asset, the CLI and the tests all see one explained outcome.

Steps, in order:
1. parse (formats; category and text features read as text) and enforce size/row limits;
2. scan every string column for PII and replace each value by its keyed pseudonym;
3. conform to the task schema (columns, safe types, NaN policy; category and text
   features as strings, missing as null) and check labels; a category or text feature
   that was not text yet is scanned for PII here, once it is;
4. score quality (completeness, uniqueness, label balance, values in the baseline's range;
   each part has its own floor, ``lib/intake/quality.py``);
5. deduplicate by canonical row hash: within the file, against the baseline training set
   and against earlier accepted contributions, so resubmitted rows earn nothing;
6. remove rows that copy a benchmark row's features, exactly or nearly (leakage,
   ``lib/intake/leakage.py``), and reject the file when their share is above the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.checks import CheckOutcome
from hokusai_assets.lib.commitments.merkle import row_leaves
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.intake.conform import ConformReport, NanPolicy, check_labels, conform
from hokusai_assets.lib.intake.formats import ParseRules, parse_table
from hokusai_assets.lib.intake.leakage import NearCopyRule, find_benchmark_copies
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.pii.report import PiiReport, column_hint
from hokusai_assets.lib.intake.pii.scanner import find_cleartext_pii, pseudonymise_names, scan_and_pseudonymise
from hokusai_assets.lib.intake.quality import QUALITY_ABOVE_MINIMUM, QualityFloors, quality_check, score_quality
from hokusai_assets.lib.task import TaskSchema

SCHEMA_VALID = "schema_valid"
NO_CLEARTEXT_PII = "no_cleartext_pii"
NO_BENCHMARK_LEAKAGE = "no_benchmark_leakage"
DUPLICATE_SHARE = "duplicate_share"
BLOCKING_CHECKS = (SCHEMA_VALID, NO_CLEARTEXT_PII, NO_BENCHMARK_LEAKAGE, QUALITY_ABOVE_MINIMUM)
CHECKS = (*BLOCKING_CHECKS, DUPLICATE_SHARE)


@dataclass(frozen=True)
class IntakePolicy:
    nan_policy: NanPolicy = "reject"
    max_bytes: int = 256 * 1024 * 1024
    max_rows: int = 5_000_000
    # The parser's limits (columns, cell bytes, digits, JSON depth) and header trimming.
    parse: ParseRules = field(default_factory=ParseRules)
    min_quality: float = 0.7
    quality_floors: QualityFloors = field(default_factory=QualityFloors)
    # Numbers further outside the baseline's range than this share of it are out of range:
    # room for drift and for a baseline too small to have seen the extremes (at 0.1, 8 to 17%
    # of the mock task's fresh rows fall outside its 60-row baseline's range), none for a
    # unit or sign mistake.
    range_margin: float = 0.5
    max_leakage_share: float = 0.05
    near_copy: NearCopyRule = field(default_factory=NearCopyRule)
    max_duplicate_share: float = 0.5


@dataclass(frozen=True)
class IntakeReference:
    """What a contribution is compared with; frames already conformed and pseudonymised."""

    baseline: pd.DataFrame
    benchmark: pd.DataFrame
    earlier_leaves: frozenset[bytes] = frozenset()


@dataclass
class IntakeResult:
    frame: pd.DataFrame
    checks: dict[str, CheckOutcome]
    report: dict[str, Any]
    leaves: list[bytes]  # canonical-row leaf hashes of ``frame``, in row order

    @property
    def accepted(self) -> bool:
        return all(c.passed for c in self.checks.values() if c.blocking)

    def figures(self) -> dict[str, float]:
        """The intake's numbers, for plots across contributions; those never measured are left out."""
        report = self.report
        candidates = {
            "rows_received": report.get("rows_received"),
            "rows_kept": report.get("rows_validated"),
            "quality_score": report.get("quality", {}).get("score"),
            "duplicate_share": report.get("duplicates", {}).get("share"),
            "leakage_share": report.get("leakage", {}).get("share"),
            "pii_pseudonymised": report.get("pii", {}).get("total"),
        }
        return {name: value for name, value in candidates.items() if value is not None}

    @property
    def first_failure(self) -> CheckOutcome | None:
        return next((c for c in self.checks.values() if c.blocking and not c.passed), None)

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
            **self.report,
        }


def empty_rows(schema: TaskSchema) -> pd.DataFrame:
    """A zero-row table with the task's columns and dtypes (what a rejected file yields)."""
    dtypes = {"int": "int64", "float": "float64", "bool": "bool", "str": object, "category": object, "text": object}
    nullable = {"int": "Int64", "bool": "boolean"}
    imputed = schema.imputation_of
    columns = {}
    if schema.id_column:
        columns[schema.id_column] = pd.Series([], dtype=object)
    for name, kind in schema.features:
        dtype = nullable.get(kind, dtypes[kind]) if name in imputed else dtypes[kind]
        columns[name] = pd.Series([], dtype=dtype)
    columns[schema.label] = pd.Series([], dtype=dtypes[schema.label_type])
    return pd.DataFrame(columns)


def protect_reference(frame: pd.DataFrame, schema: TaskSchema, key: PiiKey) -> pd.DataFrame:
    """Pseudonymise the string task columns of a reference table with the same key.

    Ids and string labels must be pseudonymised identically everywhere, or an ``update``
    merge and the deduplication against the baseline would not match them.
    """
    strings = [c for c in schema.columns if frame[c].dtype == object]
    if not strings:
        return frame
    protected, _ = scan_and_pseudonymise(frame, key, columns=strings)
    return protected


def _failed_schema(message: str, code: str, schema: TaskSchema, report: dict) -> IntakeResult:
    """A file that cannot be read or fit: only schema_valid is evaluated, and says so.

    The other checks need conformed rows; they are not reported (as passed or failed), and
    the failing check names them, so a reader knows what was never looked at. Its
    description stays the one actionable line the CLI prints.
    """
    not_evaluated = f"{', '.join(CHECKS[1:])} (they need rows that fit the task schema)"
    checks = {SCHEMA_VALID: CheckOutcome(SCHEMA_VALID, False, True, message, {"code": code, "not_evaluated": not_evaluated})}
    return IntakeResult(empty_rows(schema), checks, report, [])


def known_classes(baseline_labels: pd.Series, benchmark_labels: pd.Series) -> list:
    """The labels a classification contribution may use: those of the baseline and the benchmark."""
    return sorted(set(baseline_labels) | set(benchmark_labels), key=str)


@dataclass
class _FittedRows:
    raw: pd.DataFrame  # as parsed, PII still in clear: for quality's completeness, never kept
    conformed: pd.DataFrame  # pseudonymised and conformed to the task schema
    conform_report: ConformReport
    pii: PiiReport


def _fit_schema(
    data: bytes, fmt: str, name: str, schema: TaskSchema, policy: IntakePolicy, key: PiiKey, classes: list, report: dict
) -> _FittedRows | IntakeResult:
    """Steps 1 to 3: the rows fitted to the task schema, or the failed ``schema_valid`` that says why."""
    if len(data) > policy.max_bytes:
        message = f"{name}: {len(data):,} bytes is over the limit of {policy.max_bytes:,} (intake.max_file_bytes)"
        return _failed_schema(message, "E_DATA_TOO_LARGE", schema, report)
    # The parser checks the rows (a Parquet file's from its footer) and what a Parquet file
    # unpacks to (a multiple of the file limit) before it builds them.
    rules = replace(
        policy.parse,
        max_rows=min(policy.parse.max_rows, policy.max_rows),
        max_file_bytes=min(policy.parse.max_file_bytes, policy.max_bytes),
    )
    try:
        raw = parse_table(data, fmt, name, schema.string_feature_names, schema.numeric_columns, rules)
        report["rows_received"] = len(raw)
        # A column name can be personal data too: from here on, messages, the report and
        # Dagster's metadata only ever see its pseudonym (the task's own columns are the config's).
        extra = [c for c in raw.columns if str(c) not in schema.columns]
        raw = raw.rename(columns=pseudonymise_names(extra, key))
        protected, pii = scan_and_pseudonymise(raw, key)
        report["pii"] = pii.as_dict()
        report["pii"]["column_hints"] = {c: h for c in map(str, raw.columns) if (h := column_hint(c))}
        conformed, conform_report = conform(protected, schema, source=name, nan_policy=policy.nan_policy)
        conformed = _scan_late_strings(raw, conformed, schema, key, pii, report)
        check_labels(conformed, schema, classes, source=name)
    except HokusaiError as error:
        return _failed_schema(error.message, error.code, schema, report)
    report["schema"] = conform_report.as_dict()
    if conformed.empty:
        return _failed_schema(f"{name}: no rows left after validation", "E_DATA_EMPTY", schema, report)
    return _FittedRows(raw, conformed, conform_report, pii)


def _scan_late_strings(
    raw: pd.DataFrame, conformed: pd.DataFrame, schema: TaskSchema, key: PiiKey, pii: PiiReport, report: dict
) -> pd.DataFrame:
    """Scan the category and text features that became strings only in ``conform``.

    Step 2 scans the file's string columns; a category or text column that is not text yet
    (``parse_table`` reads them as text, so only a table that came another way) is text
    only after conforming, and is scanned here, so its PII is pseudonymised rather than
    the file rejected.
    """
    late = [
        name
        for name, kind in schema.features
        if kind in ("category", "text")
        and not (pd.api.types.is_object_dtype(raw[name].dtype) or pd.api.types.is_string_dtype(raw[name].dtype))
    ]
    if not late:
        return conformed
    scanned, found = scan_and_pseudonymise(conformed, key, columns=late)
    for column, per_entity in found.counts.items():
        merged = pii.counts.setdefault(column, {})
        for entity, count in per_entity.items():
            merged[entity] = merged.get(entity, 0) + count
    pii.scanned_columns.extend(c for c in late if c not in pii.scanned_columns)
    report["pii"].update(pii.as_dict() | {"column_hints": report["pii"].get("column_hints", {})})
    return scanned


def schema_misfit(
    data: bytes, fmt: str, name: str, schema: TaskSchema, policy: IntakePolicy, key: PiiKey, classes: list
) -> CheckOutcome | None:
    """The failed ``schema_valid`` the intake of these bytes will report, or None if they fit.

    The same steps as the intake's first three, so a caller can know before the intake runs
    which checks it will evaluate (the sensor asks, so that a run plans only those).
    """
    fitted = _fit_schema(data, fmt, name, schema, policy, key, classes, {})
    return fitted.checks[SCHEMA_VALID] if isinstance(fitted, IntakeResult) else None


def run_intake(
    data: bytes,
    fmt: str,
    name: str,
    schema: TaskSchema,
    policy: IntakePolicy,
    key: PiiKey,
    reference: IntakeReference,
) -> IntakeResult:
    """Validate one contribution's bytes; see the module docstring for the steps."""
    report: dict[str, Any] = {"file": {"name": name, "format": fmt, "size_bytes": len(data)}}
    classes = known_classes(reference.baseline[schema.label], reference.benchmark[schema.label])
    fitted = _fit_schema(data, fmt, name, schema, policy, key, classes, report)
    if isinstance(fitted, IntakeResult):
        return fitted
    raw, conformed, conform_report, pii = fitted.raw, fitted.conformed, fitted.conform_report, fitted.pii

    columns = schema.columns
    leaves = row_leaves(conformed, columns)
    seen_here: set[bytes] = set()
    baseline_leaves = set(row_leaves(reference.baseline, columns))
    within = vs_baseline = vs_earlier = 0
    keep = np.ones(len(conformed), dtype=bool)
    for i, leaf in enumerate(leaves):
        if leaf in seen_here:
            within += 1
        elif leaf in baseline_leaves:
            vs_baseline += 1
        elif leaf in reference.earlier_leaves:
            vs_earlier += 1
        else:
            seen_here.add(leaf)
            continue
        keep[i] = False
    duplicates = {"within_file": within, "in_baseline": vs_baseline, "in_earlier_contributions": vs_earlier}
    duplicate_share = (within + vs_baseline + vs_earlier) / len(conformed)

    # Leakage: the features copy a benchmark row, exactly or nearly (a test row, whatever its label).
    copies = find_benchmark_copies(conformed, reference.benchmark, reference.baseline, schema, policy.near_copy)
    leaked = copies.leaked
    leakage_share = float(leaked.mean())
    keep &= ~leaked

    validated = conformed.loc[keep].reset_index(drop=True)
    kept_leaves = [leaf for leaf, k in zip(leaves, keep) if k]
    quality = score_quality(
        raw, validated, 1.0 - within / len(conformed), reference.baseline, schema, classes, policy.range_margin
    )
    leakage = copies.report() | {"share": leakage_share, "max_share": policy.max_leakage_share}
    report.update(
        duplicates=duplicates | {"share": duplicate_share},
        leakage=leakage,
        quality=quality,
        rows_validated=len(validated),
    )

    remaining = find_cleartext_pii(validated)
    checks = {
        SCHEMA_VALID: CheckOutcome(
            SCHEMA_VALID, True, True, f"all {len(columns)} task columns present with valid types and labels",
            {"rows": len(conformed), "ignored_columns": conform_report.extra_columns},
        ),
        NO_CLEARTEXT_PII: CheckOutcome(
            NO_CLEARTEXT_PII,
            not remaining,
            True,
            f"{pii.total()} PII value(s) replaced by keyed pseudonyms; none left in clear"
            if not remaining
            else f"PII still in clear in column(s) {', '.join(remaining)}; remove it from the file and resubmit",
            {"pseudonymised": pii.total(), "key_id": key.key_id, "by_entity": pii.by_entity()}
            | ({} if not remaining else {"code": "E_PII_UNHASHED"}),
        ),
        NO_BENCHMARK_LEAKAGE: _leakage_check(leakage),
        QUALITY_ABOVE_MINIMUM: quality_check(quality, policy.min_quality, policy.quality_floors, len(validated)),
        DUPLICATE_SHARE: CheckOutcome(
            DUPLICATE_SHARE,
            duplicate_share <= policy.max_duplicate_share,
            False,
            f"{within + vs_baseline + vs_earlier} duplicate row(s) ({duplicate_share:.1%}) removed: {within} within the "
            f"file, {vs_baseline} already in the baseline, {vs_earlier} in earlier contributions; they earn nothing",
            duplicates | {"share": duplicate_share, "max_share": policy.max_duplicate_share},
        ),
    }
    return IntakeResult(validated, checks, report, kept_leaves)


def _leakage_check(leakage: dict) -> CheckOutcome:
    rows, share, limit = leakage["rows"], leakage["share"], leakage["max_share"]
    near = leakage["near_copy"]
    how_near = (
        f" (at most {near['max_differing_features']} number(s) differ from the benchmark row, or all are within "
        f"standardised distance {near['max_standardised_distance']}; the removed ones: {near['distance']['max']:.3f} "
        "at most, intake.near_copy)"
        if leakage["near_copies"]
        else ""
    )
    description = (
        f"{rows} row(s) ({share:.1%}) copy benchmark features and were removed: {leakage['exact_copies']} exact "
        f"and {leakage['near_copies']} near copies{how_near}"
    )
    metadata = {
        "leaked_rows": rows, "exact_copies": leakage["exact_copies"], "near_copies": leakage["near_copies"],
        "share": share, "max_share": limit,
    }
    if share <= limit:
        return CheckOutcome(NO_BENCHMARK_LEAKAGE, True, True, description, metadata)
    description += (
        f"; above the limit of {limit:.1%} (intake.max_leakage_share), so the file is rejected: benchmark rows are "
        "for evaluation only; leave them out and resubmit"
    )
    return CheckOutcome(NO_BENCHMARK_LEAKAGE, False, True, description, metadata | {"code": "E_INTAKE_BENCHMARK_LEAKAGE"})
