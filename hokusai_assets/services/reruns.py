"""`hokusai verify --rerun`: retrain and re-score from the inputs a statement commits to.

The statement records digests, not files; the files live in the HOKUSAI_HOME that made
it. A re-run finds them there and checks, in order:

- ``rerun_config``: the config against the config digest;
- ``rerun_inputs``: each stored table (baseline training set, integrated training set,
  benchmark) against its committed data root;
- ``rerun_stored_models``: each stored model file against its attested digest, so a model
  swapped under HOKUSAI_HOME (the file the registry and serving would use) is caught;
- ``rerun_models``: both models trained again with the same trainer, hyperparameters and
  seed, which must give byte-identical files;
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
from hokusai_assets.settings.load import Settings


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

    training = settings.config.training
    schema = settings.schema
    models = {}
    for name, frame in (("baseline", baseline), ("improved", integrated)):
        trainer = get_trainer(training.framework, training.model, training.hyperparameters, training.seed)
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
