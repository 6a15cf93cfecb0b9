"""Contribution intake as the platform runs it: submit to the inbox, validate a file, and
validate a stored contribution (what the `validated_contribution` asset does).

This layer composes lib/ with HOKUSAI_HOME's stores; it has no Dagster in it, so the CLI,
the asset and the tests all share one implementation.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hokusai_assets.lib.checks import CheckOutcome
from hokusai_assets.lib.commitments.digests import bytes_digest, file_digest
from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.files import (
    atomic_write_bytes,
    printable,
    reporting_full_disk,
    require_regular_file,
    safe_file_name,
)
from hokusai_assets.lib.intake.contributions import Contributor, partition_key
from hokusai_assets.lib.intake.formats import detect_format
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.lib.intake.reading import load_reference
from hokusai_assets.lib.intake.validate import (
    IntakePolicy,
    IntakeReference,
    IntakeResult,
    known_classes,
    run_intake,
    schema_misfit,
)
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.services.inbox import sidecar_for
from hokusai_assets.services.keys import existing_pii_key
from hokusai_assets.services.leaf_index import LeafIndex
from hokusai_assets.services.quarantine import list_quarantine, quarantine_bytes
from hokusai_assets.services.store import ContributionStore, is_stored
from hokusai_assets.settings.load import Settings


def submit_file(settings: Settings, source: Path, contributor: Contributor) -> dict:
    """Place ``source`` and its sidecar in the inbox, each by atomic rename, data first.

    The sidecar carries the data's digest, so the sensor knows the pair is complete the
    moment the sidecar appears, and a tampered or truncated copy is caught.
    """
    require_regular_file(source)
    detect_format(source)
    shown = printable(source.name)
    require_within_size(settings, source)
    digest = file_digest(source)
    key = partition_key(digest)
    inbox = settings.layout.inbox
    # The sensor reads the format from the extension, so the inbox name keeps it (safe_file_name).
    target = inbox / f"{key}-{safe_file_name(source.name)}"
    # A dot name ending in .partial: the inbox scanner never looks at it (services/inbox.py).
    partial = inbox / f".{target.name}.partial"
    # Cleaned up inside the guard, so that the free space it reports is what is really free.
    with reporting_full_disk(inbox, needed=source.stat().st_size, then="then submit again"):
        inbox.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(source, partial)
            if file_digest(partial) != digest:  # the source changed while we copied it
                raise DataFileError(f"{shown} changed while being submitted; submit it again", code="E_INTAKE_CHANGED")
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)  # a full disk or Ctrl-C mid-copy leaves nothing behind
            raise
    sidecar = {
        "wallet": contributor.wallet,
        "contributor_id": contributor.contributor_id,
        "license": contributor.license,
        "file_digest": digest,
    }
    try:
        atomic_write_bytes(sidecar_for(target), (json.dumps(sidecar, indent=2) + "\n").encode())
    except BaseException:
        if not sidecar_for(target).exists():  # no sidecar: the data alone would only wait, then be quarantined
            target.unlink(missing_ok=True)
        raise
    return {"partition": key, "file_digest": digest, "inbox_file": str(target), "sidecar": str(sidecar_for(target))}


def _existing_pii_key(settings: Settings) -> PiiKey:
    # Validation must not create keys in a home that has none: use the deployment's key if
    # there is one (so pseudonyms match), else a throw-away key (counts are what matter).
    return existing_pii_key(settings.layout, os.environ) or PiiKey.from_secret(secrets.token_bytes(32))


def require_within_size(settings: Settings, source: Path) -> None:
    """Refuse a file over ``intake.max_file_bytes`` before reading it (and without copying it
    into quarantine: the limit is there so that such a file is never held whole)."""
    size, limit = source.stat().st_size, settings.config.intake.max_file_bytes
    if size > limit:
        raise DataFileError(
            f"{printable(source.name)}: {size:,} bytes is over the limit of {limit:,} (intake.max_file_bytes); "
            "split the data into smaller files",
            code="E_DATA_TOO_LARGE",
        )


def validate_file(settings: Settings, source: Path) -> IntakeResult:
    """The whole intake of ``source`` against the configured task; writes nothing."""
    require_regular_file(source)
    fmt = detect_format(source)
    require_within_size(settings, source)
    return _intake_of(settings, source.read_bytes(), printable(source.name), fmt)


def screen_for_evaluation(settings: Settings, data: bytes, name: str) -> IntakeResult | None:
    """The whole intake of a file about to be evaluated, before anything of it is stored.

    A rejected file leaves only its quarantine copy and reason under HOKUSAI_HOME (no store
    entry, no partition, no run), and is refused with the first failed check's code.
    """
    key = partition_key(bytes_digest(data))
    accepted = LeafIndex(settings.layout.leaf_index_dir)
    if key in accepted.keys() or is_stored(settings.layout, key):
        # Accepted at intake before, and its run stopped later (training, signing, Ctrl-C):
        # its own rows are in the leaf index now, so screening again would call them all
        # duplicates. Or received before and never validated (its stored bytes were damaged,
        # its run never came): later contributions are not "earlier" than it. Either way the
        # run's intake checks it against the contributions before it.
        return None
    result = _intake_of(settings, data, printable(name), detect_format(name))
    if not result.accepted:
        failure = result.first_failure
        quarantine = settings.layout.quarantine
        if not any(r.get("partition") == key for r in list_quarantine(quarantine)):
            quarantine_bytes(data, name, quarantine, failure.code, failure.description, partition=key, check=failure.name)
        raise DataFileError(
            f"{failure.description} (check {failure.name}; the file is kept in {quarantine} with this reason)",
            code=failure.code,
        )
    return result


def _intake_of(settings: Settings, data: bytes, name: str, fmt: str) -> IntakeResult:
    key = _existing_pii_key(settings)
    schema, nan_policy = settings.schema, settings.config.intake.nan_policy
    rules = settings.config.intake.parse_rules()
    baseline, _ = load_reference(settings.baseline_path, schema, key, source="baseline", nan_policy=nan_policy, rules=rules)
    benchmark, _ = load_reference(
        settings.benchmark_path, schema, key, source="benchmark", nan_policy=nan_policy, rules=rules
    )
    # A file not yet received comes after every accepted contribution.
    accepted = LeafIndex(settings.layout.leaf_index_dir)
    reference = IntakeReference(baseline, benchmark, accepted.union(accepted.keys()))
    return run_intake(data, fmt, name, schema, settings.config.intake.policy(), key, reference)


@dataclass(frozen=True)
class SchemaScreen:
    """The intake's schema steps (``schema_misfit``), with what they need read once: a sensor
    tick screens every new file with one of these."""

    schema: TaskSchema
    policy: IntakePolicy
    pii_key: PiiKey
    classes: list

    def misfit(self, store: ContributionStore, key: str) -> CheckOutcome | None:
        """Whether stored contribution ``key`` fits the task schema: the failed ``schema_valid``
        its intake will report, or None when it fits.

        Asked before its run is requested, so the run plans only the checks it will evaluate.
        """
        stored = store.get(key)
        data = store.read_bytes(key)
        return schema_misfit(data, stored.format, f"{key}{stored.suffix}", self.schema, self.policy, self.pii_key, self.classes)


def schema_screen(settings: Settings) -> SchemaScreen | None:
    """The screen for this task, or None while the reference tables are not materialised
    (then nothing can be told in advance, and each run reports what is wrong)."""
    schema = settings.schema
    tables = [settings.layout.table_file(name) for name in ("baseline_training_set", "benchmark_dataset")]
    if not all(path.is_file() for path in tables):
        return None
    baseline_labels, benchmark_labels = (pd.read_parquet(path, columns=[schema.label])[schema.label] for path in tables)
    return SchemaScreen(
        schema, settings.config.intake.policy(), _existing_pii_key(settings), known_classes(baseline_labels, benchmark_labels)
    )


def validate_stored(
    settings: Settings,
    store: ContributionStore,
    key: str,
    pii_key: PiiKey,
    baseline: pd.DataFrame,
    benchmark: pd.DataFrame,
) -> IntakeResult:
    """Validate stored contribution ``key``: write its intake report, record its leaves if accepted,
    quarantine a copy if not.

    Earlier means arrived earlier, so validating a contribution again later gives the same answer.
    """
    stored = store.get(key)
    data = store.read_bytes(key)
    leaf_index = LeafIndex(settings.layout.leaf_index_dir)
    earlier = store.keys_before(key)
    name = f"{key}{stored.suffix}"
    result = run_intake(
        data,
        stored.format,
        name,
        settings.schema,
        settings.config.intake.policy(),
        pii_key,
        IntakeReference(baseline, benchmark, leaf_index.union(earlier)),
    )
    # What was found, for the contributions overview (counts and outcomes only, never a value).
    report = json.dumps(result.as_dict(), sort_keys=True, default=str, indent=1) + "\n"
    atomic_write_bytes(settings.layout.intake_report_file(key), report.encode())
    if result.accepted:
        leaf_index.put(key, result.leaves)
    elif not any(r.get("partition") == key for r in list_quarantine(settings.layout.quarantine)):
        failure = result.first_failure
        quarantine_bytes(
            data, name, settings.layout.quarantine, failure.code, failure.description, partition=key, check=failure.name
        )
    return result
