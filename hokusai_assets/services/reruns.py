"""`hokusai verify --rerun`: retrain and re-score from the inputs a statement commits to.

The statement records digests, not files; the files live in the HOKUSAI_HOME that made
it. A re-run finds them there and checks, in order:

- ``rerun_config``: the config against the config digest;
- ``rerun_inputs``: each stored table (baseline training set, integrated training set,
  benchmark) against its committed data root;
- ``rerun_stored_models``: each stored model file against its attested digest, so a model
  swapped under HOKUSAI_HOME (the file the registry and serving would use) is caught;
- with ``training.tuning`` only, ``rerun_tuning_record``: the stored study
  (``storage/tuned_hyperparameters.json``) is the one attested: its trials hash to the study
  digest, its choice is the statement's; and ``rerun_tuning``: the study run again on the
  stored baseline chooses the same parameters with the same digest. The recorded choice is
  checked first so a swapped file is named as such; the study is then re-run rather than
  trusted, because it is deterministic (seeded TPE, one worker, seeded folds, deterministic
  trainers) and bounded (trials x folds fits of the baseline), and only a re-run shows the
  parameters came out of the study rather than being written into it;
- ``rerun_models``: both models trained again with the same trainer, hyperparameters (the
  attested choice, with tuning) and seed, which must give byte-identical files;
- ``rerun_metrics``: the delta recomputed, which must equal the statement's exactly.

Training is deterministic, so every digest and number must come out exactly as recorded.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from hokusai_assets.lib.attestation.statement import DeltaOnePredicate
from hokusai_assets.lib.attestation.verify.base import Check
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest, file_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.evaluation.delta import compute_delta
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.lib.training.tuning import (
    TuningError,
    attested_section,
    recorded_trials,
    study_digest,
    training_hyperparameters,
)
from hokusai_assets.services.tuning import TUNED_ASSET, choose_hyperparameters, recorded_document
from hokusai_assets.settings.load import Settings


def _tuning_checks(
    predicate: DeltaOnePredicate, settings: Settings, baseline: pd.DataFrame
) -> tuple[list[Check], dict[str, Any] | None]:
    """(checks, hyperparameters to retrain with, or None when a check failed). No checks at all
    when neither the config nor the statement tunes: such a re-run is what it always was."""
    training = settings.config.training
    attested = predicate.tuning
    if training.tuning is None and attested is None:
        return [], dict(training.hyperparameters)
    if training.tuning is None or attested is None:
        detail = "the statement records a tuning study but hokusai.yaml has no training.tuning" if attested else (
            "hokusai.yaml sets training.tuning but the statement records no tuning study"
        )
        return [Check("rerun_tuning_record", False, detail)], None
    try:
        # rerun_inputs has checked that the stored baseline has this root.
        document = recorded_document(settings, predicate.baseline.training_data_root)
    except TuningError as error:
        return [Check("rerun_tuning_record", False, error.message)], None
    expected = training_hyperparameters(training.hyperparameters, document)
    problems = []
    if study_digest(recorded_trials(document)) != attested["study_digest"]:
        problems.append("its trials do not hash to the attested study digest")
    if canonical_json(attested_section(document)) != canonical_json(attested):
        problems.append("its choice or CV scores differ from the statement's")
    if canonical_json(document["hyperparameters"]) != canonical_json(expected):
        problems.append("its hyperparameters are not training.hyperparameters with the attested choice")
    path = settings.layout.document_file(TUNED_ASSET)
    checks = [
        Check(
            "rerun_tuning_record",
            not problems,
            f"the stored study is the attested one ({attested['study_digest']})"
            if not problems
            else f"{path}: {'; '.join(problems)}",
        )
    ]
    if problems:
        return checks, None
    again = attested_section(choose_hyperparameters(settings, baseline))
    same = canonical_json(again) == canonical_json(attested)
    checks.append(
        Check(
            "rerun_tuning",
            same,
            f"the study run again chose {attested['chosen']} with the attested study digest"
            if same
            else f"the study run again gave study digest {again['study_digest']} and chose {again['chosen']}; "
            f"the statement has {attested['study_digest']} and {attested['chosen']}",
        )
    )
    return checks, expected if same else None


def rerun_checks(statement: dict[str, Any], settings: Settings) -> list[Check]:
    """The re-run's checks, in order; one whose inputs are wrong ends the re-run there."""
    predicate = DeltaOnePredicate.from_statement(statement)
    key = predicate.contribution.partition
    columns = list(predicate.columns)
    layout = settings.layout
    checks: list[Check] = []

    config_ok = settings.config_digest == predicate.config_digest
    checks.append(
        Check(
            "rerun_config",
            config_ok,
            "hokusai.yaml matches the config digest"
            if config_ok
            else f"{settings.config_path} has digest {settings.config_digest}, the statement {predicate.config_digest}; "
            "re-run with the config that produced it (--config)",
        )
    )
    if not config_ok:
        return checks

    tables = {
        "baseline": layout.table_file("baseline_training_set"),
        "benchmark": layout.table_file("benchmark_dataset"),
        "integrated": layout.table_file("integrated_training_set", key),
    }
    # Missing files are found before pyarrow is asked to read: a failed read can leave its
    # thread pool to abort the process at exit (apache/arrow#34314), after the report printed.
    missing = [str(path.relative_to(layout.storage_dir)) for path in tables.values() if not path.is_file()]
    if missing:
        checks.append(
            Check(
                "rerun_inputs",
                False,
                f"stored inputs not found under {layout.storage_dir}: {', '.join(missing)}; "
                "re-run with the HOKUSAI_HOME that made the attestation (--home)",
            )
        )
        return checks
    try:
        baseline, benchmark, integrated = (pd.read_parquet(path) for path in tables.values())
    except (OSError, ValueError) as error:
        checks.append(Check("rerun_inputs", False, f"stored inputs under {layout.storage_dir} cannot be read: {error}"))
        return checks
    expected = {
        "baseline training set": (baseline, predicate.baseline.training_data_root),
        "integrated training set": (integrated, predicate.improved.training_data_root),
        "benchmark": (benchmark, predicate.benchmark_data_root),
    }
    wrong = [name for name, (frame, root) in expected.items() if data_root(frame, columns) != root]
    checks.append(
        Check("rerun_inputs", not wrong, "stored inputs match their data roots" if not wrong else f"data root differs: {', '.join(wrong)}")
    )
    if wrong:
        return checks

    stored = {
        "baseline": (layout.model_file("baseline_model"), predicate.baseline.model_digest),
        "improved": (layout.model_file("improved_model", key), predicate.improved.model_digest),
    }
    changed = [
        f"{name} ({path.name})" for name, (path, digest) in stored.items() if not path.is_file() or file_digest(path) != digest
    ]
    checks.append(
        Check(
            "rerun_stored_models",
            not changed,
            "stored model files are the attested ones"
            if not changed
            else f"stored model file differs from its attested digest or is missing: {', '.join(changed)}",
        )
    )
    if changed:
        return checks

    tuning_checks, hyperparameters = _tuning_checks(predicate, settings, baseline)
    checks.extend(tuning_checks)
    if hyperparameters is None:
        return checks

    training = settings.config.training
    schema = settings.schema
    models = {}
    for name, frame in (("baseline", baseline), ("improved", integrated)):
        trainer = get_trainer(training.framework, training.model, hyperparameters, training.seed)
        models[name] = trainer.fit(frame, schema)
    mismatched = [name for name, model in models.items() if bytes_digest(model.to_bytes()) != stored[name][1]]
    checks.append(
        Check(
            "rerun_models",
            not mismatched,
            "retrained models are byte-identical to the attested ones"
            if not mismatched
            else f"retrained model digest differs: {', '.join(mismatched)}",
        )
    )
    delta = compute_delta(
        settings.config.task.type,
        settings.config.evaluation_policy(),
        models["baseline"].predict(benchmark),
        models["improved"].predict(benchmark),
    )
    recorded = predicate.evaluation
    same = canonical_json(delta) == canonical_json(recorded)
    differing = [m for m, d in delta["metric_deltas"].items() if d != recorded["metric_deltas"].get(m)]
    checks.append(
        Check(
            "rerun_metrics",
            same,
            "re-scored metrics, deltas and decision equal the statement's"
            if same
            else f"re-scored evaluation differs (metrics: {', '.join(differing) or 'significance or decision'})",
        )
    )
    return checks
