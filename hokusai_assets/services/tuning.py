"""The tuning choice: made once on the baseline, stored under HOKUSAI_HOME, read by every retraining.

The ``tuned_hyperparameters`` asset calls :func:`choose_hyperparameters`; its value (a JSON
document, ``storage/tuned_hyperparameters.json`` per ``settings/layout.py``) is what the
baseline model, every improved model and every reward-epoch fit are trained with.
``hokusai verify --rerun`` and ``verify-epoch --rerun``, which run outside Dagster, read the
same file with :func:`recorded_document`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from hokusai_assets.lib.training.tuning import (
    TuningError,
    check_document,
    search_space,
    space_json,
    tune,
    untuned_document,
)
from hokusai_assets.settings.load import Settings

TUNED_ASSET = "tuned_hyperparameters"


def choose_hyperparameters(
    settings: Settings, baseline: pd.DataFrame, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """The ``tuned_hyperparameters`` document: a study's choice, or the configured values untouched."""
    config = settings.config
    training = config.training
    if training.tuning is None:
        return untuned_document(training.hyperparameters)
    result = tune(
        baseline,
        settings.schema,
        framework=training.framework,
        model=training.model,
        hyperparameters=training.hyperparameters,
        training_seed=training.seed,
        trials=training.tuning.trials,
        cv_folds=training.tuning.cv_folds,
        seed=tuning_seed(settings),
        metric=config.primary_metric,
        average=config.evaluation.average,
        progress=progress,
    )
    return result.document()


def tuning_seed(settings: Settings) -> int:
    tuning = settings.config.training.tuning
    return settings.config.training.seed if tuning is None or tuning.seed is None else tuning.seed


def recorded_document(settings: Settings, baseline_root: str) -> dict[str, Any]:
    """The stored choice, checked against hokusai.yaml and ``baseline_root`` (the data root of
    the baseline training set it must have been made on, which every caller has computed
    already); without training.tuning, the configured values (no file needed, so a home made
    before tuning existed re-runs as it did)."""
    training = settings.config.training
    if training.tuning is None:
        return untuned_document(training.hyperparameters)
    path = settings.layout.document_file(TUNED_ASSET)
    if not path.is_file():
        raise TuningError(
            f"training.tuning is set but {path} is missing: materialise {TUNED_ASSET} (prepare_baseline) "
            "or re-run with the HOKUSAI_HOME that made the attestation (--home)",
            code="E_TUNING_MISSING",
        )
    try:
        document = check_document(json.loads(path.read_bytes()))
    except (ValueError, RecursionError) as exc:  # not JSON (UnicodeDecodeError is a ValueError too)
        raise TuningError(
            f"{path} is not JSON ({type(exc).__name__}); materialise {TUNED_ASSET} again (prepare_baseline)",
            code="E_TUNING_RECORD",
        ) from None
    except TuningError as error:
        raise TuningError(
            f"{path}: {error.message}; materialise {TUNED_ASSET} again (prepare_baseline)", code=error.code
        ) from None
    recorded = document["tuning"] or {}
    fixed = dict(training.hyperparameters)
    expected = {
        "framework": training.framework,
        "model": training.model,
        "trials": training.tuning.trials,
        "cv_folds": training.tuning.cv_folds,
        "seed": tuning_seed(settings),
        "metric": settings.config.primary_metric,
        "fixed": fixed,
        "search_space": space_json(search_space(training.framework, training.model, fixed)),
        "baseline_root": baseline_root,
    }
    stale = [key for key, value in expected.items() if recorded.get(key) != value]
    if stale:
        raise TuningError(
            f"{path} was tuned with other settings or data ({', '.join(stale)}) than hokusai.yaml's and the "
            f"baseline's; materialise {TUNED_ASSET} again (prepare_baseline)",
            code="E_TUNING_STALE",
        )
    return document
