"""Reproducible tuning: one seeded Optuna study on the baseline training set, scored by k-fold CV.

``training.tuning: {method: optuna, trials: N, cv_folds: k, seed: s}`` tunes once, on the
baseline training set, and the baseline and every improved model are trained with the
chosen parameters, so a contribution is still compared like with like. Two runs choose the
same parameters:

* Optuna's ``TPESampler(seed=s)`` with one worker (``n_jobs=1``): the sampler's stream is the
  only randomness, and trials run in order;
* the folds are ``StratifiedKFold`` (classification) or ``KFold`` (regression) with
  ``shuffle=True, random_state=s``, over the rows in canonical order, so the folds depend on
  the rows' content, never their arrival order;
* every fold is fitted by the configured (deterministic) trainer with the training seed,
  BLAS on one thread, and scored with the task's primary metric (``lib/evaluation/metrics``);
  accuracy-like metrics are maximised, error metrics (mse, mae, mape) minimised;
* the chosen trial is the first with the best mean CV score (ties go to the earlier trial),
  decided here rather than by Optuna's bookkeeping.

The search space is small and bounded per model family (:data:`SEARCH_SPACES`); a
hyperparameter set in ``training.hyperparameters`` is fixed and never searched. The torch MLP
has no space: its fits are the slowest by far and k folds × N trials of them would dwarf a
contribution's evaluation; tuning it is an error that says so.

The study digest is the SHA-256 of the RFC 8785 JSON of every trial's ``params`` and
``cv_score``, in trial order: what the attestation records, and what a re-run reproduces.

Optuna is imported inside :func:`tune` only: configs without ``training.tuning`` (and the dry
run) never load it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.evaluation.metrics import HIGHER_IS_BETTER, compute_metrics
from hokusai_assets.lib.task import TaskSchema, canonical_order

METHOD = "optuna"
SAMPLER = "TPESampler"


class TuningError(ModelError):
    """Tuning cannot run as configured; the message says which setting to change."""

    code = "E_TUNING"


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: an integer range (with a step) or a log-uniform float range."""

    name: str
    kind: str  # "int" | "log_float"
    low: float
    high: float
    step: int = 1

    def suggest(self, trial: Any) -> int | float:
        if self.kind == "int":
            return int(trial.suggest_int(self.name, int(self.low), int(self.high), step=self.step))
        return float(trial.suggest_float(self.name, float(self.low), float(self.high), log=True))

    def contains(self, value: Any) -> bool:
        if self.kind == "int":
            return isinstance(value, int) and self.low <= value <= self.high and (value - self.low) % self.step == 0
        return isinstance(value, float) and self.low <= value <= self.high

    def as_json(self) -> dict[str, Any]:
        if self.kind == "int":
            return {"type": "int", "low": int(self.low), "high": int(self.high), "step": self.step}
        return {"type": "float", "low": float(self.low), "high": float(self.high), "log": True}


def _learning_rate() -> Dimension:
    return Dimension("learning_rate", "log_float", 0.01, 0.3)


def _rounds(name: str, high: int = 150) -> Dimension:
    # Up to 150 rounds in steps of 10: enough range to matter, small enough that N trials x k
    # folds on a baseline of a few hundred rows stay within seconds.
    return Dimension(name, "int", 20, high, 10)


# Keyed by training.model for scikit-learn, by framework for xgboost and lightgbm (one model each).
SEARCH_SPACES: dict[str, tuple[Dimension, ...]] = {
    "logistic_regression": (Dimension("C", "log_float", 1e-3, 1e2),),
    "ridge": (Dimension("alpha", "log_float", 1e-3, 1e2),),
    "linear_regression": (),
    "random_forest": (
        _rounds("n_estimators"),
        Dimension("max_depth", "int", 2, 16),
        Dimension("min_samples_leaf", "int", 1, 10),
    ),
    "extra_trees": (
        _rounds("n_estimators"),
        Dimension("max_depth", "int", 2, 16),
        Dimension("min_samples_leaf", "int", 1, 10),
    ),
    # Fewer rounds than the others: scikit-learn's GradientBoosting fits one tree per class per
    # round, serially, so ten classes make it the slowest family by far.
    "gradient_boosting": (_learning_rate(), Dimension("max_depth", "int", 2, 4), _rounds("n_estimators", 100)),
    "hist_gradient_boosting": (_learning_rate(), Dimension("max_leaf_nodes", "int", 7, 63), _rounds("max_iter")),
    "xgboost": (_learning_rate(), Dimension("max_depth", "int", 2, 8), _rounds("n_estimators")),
    "lightgbm": (_learning_rate(), Dimension("num_leaves", "int", 7, 63), _rounds("n_estimators")),
}


def search_space(framework: str, model: str, fixed: Mapping[str, Any]) -> tuple[Dimension, ...]:
    """The dimensions searched for this model: its family's space without what the user fixed."""
    if framework == "torch":
        raise TuningError(
            "training.tuning is not available for training.framework torch (k folds x N trials of MLP fits "
            "would dwarf the evaluation); remove training.tuning or set the MLP's hyperparameters yourself",
            code="E_TUNING_UNSUPPORTED",
        )
    family = framework if framework in ("xgboost", "lightgbm") else model
    if family not in SEARCH_SPACES:
        raise TuningError(
            f"training.tuning has no search space for training.model {model!r}; tunable models: "
            f"{', '.join(SEARCH_SPACES)}",
            code="E_TUNING_UNSUPPORTED",
        )
    space = tuple(d for d in SEARCH_SPACES[family] if d.name not in fixed)
    if not space:
        searched = [d.name for d in SEARCH_SPACES[family]]
        what = f"its searched hyperparameters ({', '.join(searched)}) are all set" if searched else "it has none"
        raise TuningError(
            f"training.tuning has nothing to search for {family}: {what} in training.hyperparameters; "
            "remove training.tuning or unset one of them",
            code="E_TUNING_NOTHING_TO_TUNE",
        )
    return space


def direction(metric: str) -> str:
    """``maximize`` for accuracy-like metrics, ``minimize`` for error metrics."""
    if metric not in HIGHER_IS_BETTER:
        raise TuningError(f"unknown metric {metric!r} for tuning", code="E_TUNING_METRIC")
    return "maximize" if HIGHER_IS_BETTER[metric] else "minimize"


def cv_splits(frame: pd.DataFrame, schema: TaskSchema, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions of ``frame`` (in canonical order) for each of ``folds`` folds."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if folds < 2:
        raise TuningError(f"training.tuning.cv_folds is {folds}; use at least 2", code="E_TUNING_FOLDS")
    if schema.task_type == "classification":
        counts = frame[schema.label].value_counts()
        if len(counts) < 2:
            raise TuningError("the baseline training set has a single class; tuning needs two", code="E_TUNING_FOLDS")
        smallest = int(counts.min())
        if folds > smallest:
            raise TuningError(
                f"training.tuning.cv_folds is {folds}, but class {counts.idxmin()!r} has only {smallest} row(s) in the "
                f"baseline training set, so some folds would lack it; set cv_folds to at most {smallest}",
                code="E_TUNING_FOLDS",
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [(train, test) for train, test in splitter.split(np.zeros(len(frame)), frame[schema.label].to_numpy())]
    if folds > len(frame):
        raise TuningError(
            f"training.tuning.cv_folds is {folds}, but the baseline training set has {len(frame)} row(s); "
            f"set cv_folds to at most {len(frame)}",
            code="E_TUNING_FOLDS",
        )
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(frame)))]


FitFn = Callable[[pd.DataFrame, Mapping[str, Any]], Any]  # (rows, hyperparameters) -> TrainedModel


def cross_validate(
    frame: pd.DataFrame,
    schema: TaskSchema,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    fit: FitFn,
    hyperparameters: Mapping[str, Any],
    metric: str,
    average: str,
) -> list[float]:
    """The primary metric of each fold's held-out rows, fitted on the other folds."""
    from threadpoolctl import threadpool_limits

    scores = []
    for train, test in splits:
        # Train positions come sorted, so the subset keeps canonical order: the trainer's contract.
        model = fit(frame.iloc[np.sort(train)].reset_index(drop=True), hyperparameters)
        # One BLAS thread while predicting too: the summation order of a score's last bits.
        with threadpool_limits(limits=1):
            predictions = model.predict(frame.iloc[np.sort(test)].reset_index(drop=True))
        scores.append(compute_metrics(schema.task_type, [metric], predictions, average)[metric])
    return scores


@dataclass(frozen=True)
class TrialRecord:
    number: int
    params: dict[str, Any]
    cv_score: float  # mean of fold_scores
    fold_scores: tuple[float, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "params": dict(self.params),
            "cv_score": self.cv_score,
            "fold_scores": list(self.fold_scores),
        }


def study_digest(trials: Sequence[TrialRecord]) -> str:
    """SHA-256 of the RFC 8785 JSON of every trial's params and CV score, in trial order."""
    return bytes_digest(canonical_json([{"params": dict(t.params), "cv_score": t.cv_score} for t in trials]))


def mean_and_sd(scores: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1) of the fold scores."""
    return math.fsum(scores) / len(scores), statistics.stdev(scores) if len(scores) > 1 else 0.0


@dataclass(frozen=True)
class TuningResult:
    """A finished study: what was searched, every trial, and the choice."""

    trials_requested: int
    cv_folds: int
    seed: int
    metric: str
    direction: str
    space: tuple[Dimension, ...]
    fixed: dict[str, Any]
    trials: tuple[TrialRecord, ...]
    optuna_version: str = field(default="")
    # What the study ran on, so that a stored choice made for another model or baseline is stale.
    framework: str = ""
    model: str = ""
    baseline_root: str = ""

    @property
    def best(self) -> TrialRecord:
        # Strictly better only: ties go to the earlier trial, whatever Optuna's own best_trial does.
        best = self.trials[0]
        for trial in self.trials[1:]:
            better = trial.cv_score > best.cv_score if self.direction == "maximize" else trial.cv_score < best.cv_score
            if better:
                best = trial
        return best

    @property
    def chosen(self) -> dict[str, Any]:
        return dict(self.best.params)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """What every model is trained with: the user's fixed values and the chosen ones."""
        return {**self.fixed, **self.chosen}

    @property
    def digest(self) -> str:
        return study_digest(self.trials)

    def attested(self) -> dict[str, Any]:
        """The attestation's ``tuning`` section: settings, the choice, its CV scores, the study digest."""
        cv_mean, cv_sd = mean_and_sd(self.best.fold_scores)
        return {
            "method": METHOD,
            "sampler": SAMPLER,
            "seed": self.seed,
            "trials": self.trials_requested,
            "cv_folds": self.cv_folds,
            "metric": self.metric,
            "direction": self.direction,
            "chosen": self.chosen,
            "best_trial": self.best.number,
            "cv_mean": cv_mean,
            "cv_sd": cv_sd,
            "study_digest": self.digest,
        }

    def document(self) -> dict[str, Any]:
        """The stored ``tuned_hyperparameters`` value: the attested section plus what it summarises."""
        return {
            "hyperparameters": self.hyperparameters,
            "tuning": {
                **self.attested(),
                "optuna_version": self.optuna_version,
                "framework": self.framework,
                "model": self.model,
                "baseline_root": self.baseline_root,
                "search_space": space_json(self.space),
                "fixed": dict(self.fixed),
                "trial_log": [t.as_json() for t in self.trials],
            },
        }


def space_json(space: Sequence[Dimension]) -> dict[str, Any]:
    return {d.name: d.as_json() for d in space}


def check_document(document: Any) -> dict[str, Any]:
    """A stored ``tuned_hyperparameters`` document, refused unless it has the shape tuning writes.

    The file lives under HOKUSAI_HOME, where a damaged copy or one from another home can end
    up; every field the re-runs read is checked here, so they meet a TuningError, not a KeyError.
    """

    def damaged(what: str) -> TuningError:
        return TuningError(f"the stored tuning document is damaged: {what}", code="E_TUNING_RECORD")

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if not isinstance(document, dict) or not isinstance(document.get("hyperparameters"), dict):
        raise damaged("it is not an object with a hyperparameters object")
    tuning = document.get("tuning", ...)
    if tuning is None:
        return document
    if not isinstance(tuning, dict):
        raise damaged("tuning is neither null nor an object")
    text = {"method", "sampler", "metric", "direction", "study_digest", "framework", "model", "baseline_root"}
    integers = {"seed", "trials", "cv_folds", "best_trial"}
    for key in sorted(text | integers | {"cv_mean", "cv_sd", "chosen", "fixed", "search_space", "trial_log"}):
        if key not in tuning:
            raise damaged(f"tuning.{key} is missing")
    for key in sorted(text):
        if not isinstance(tuning[key], str):
            raise damaged(f"tuning.{key} is not a string")
    for key in sorted(integers):
        if not isinstance(tuning[key], int) or isinstance(tuning[key], bool):
            raise damaged(f"tuning.{key} is not an integer")
    if not (number(tuning["cv_mean"]) and number(tuning["cv_sd"])):
        raise damaged("tuning.cv_mean or cv_sd is not a finite number")
    space = tuning["search_space"]
    if not isinstance(space, dict) or not all(isinstance(v, dict) and v.get("type") in ("int", "float")
                                              for v in space.values()):  # fmt: skip
        raise damaged("tuning.search_space is not a map of int/float dimensions")
    chosen = tuning["chosen"]
    if not isinstance(chosen, dict) or set(chosen) != set(space) or not all(map(number, chosen.values())):
        raise damaged("tuning.chosen does not give a number for each searched hyperparameter")
    if not isinstance(tuning["fixed"], dict):
        raise damaged("tuning.fixed is not an object")
    log = tuning["trial_log"]
    if not isinstance(log, list) or not log:
        raise damaged("tuning.trial_log is not a list of trials")
    for trial in log:
        if not (
            isinstance(trial, dict)
            and isinstance(trial.get("number"), int)
            and isinstance(trial.get("params"), dict)
            and number(trial.get("cv_score"))
            and isinstance(trial.get("fold_scores"), list)
            and all(map(number, trial["fold_scores"]))
        ):
            raise damaged("tuning.trial_log holds an entry that is not a trial (number, params, scores)")
    return document


def untuned_document(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The ``tuned_hyperparameters`` value without ``training.tuning``: the configured values, as they are."""
    return {"hyperparameters": dict(hyperparameters), "tuning": None}


def training_hyperparameters(configured: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    """What a model is trained with: ``training.hyperparameters`` as configured, and the chosen values.

    Not the document's own ``hyperparameters``: RFC 8785 writes 1.0 as ``1``, which reads back
    as an int, and to scikit-learn ``max_features=1`` is not ``max_features=1.0``. So the
    configured values come from the config, and each chosen value gets its dimension's type.
    """
    tuning = document.get("tuning")
    if tuning is None:
        return dict(configured)
    kinds = {name: spec["type"] for name, spec in tuning["search_space"].items()}
    chosen = {name: float(v) if kinds.get(name) == "float" else int(v) for name, v in tuning["chosen"].items()}
    return {**configured, **chosen}


def attested_section(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The attestation's ``tuning`` section of a stored document (None when nothing was tuned)."""
    tuning = document.get("tuning")
    if tuning is None:
        return None
    keys = ("method", "sampler", "seed", "trials", "cv_folds", "metric", "direction", "chosen", "best_trial",
            "cv_mean", "cv_sd", "study_digest")  # fmt: skip
    return {key: tuning[key] for key in keys}


def recorded_trials(document: Mapping[str, Any]) -> tuple[TrialRecord, ...]:
    """The trials of a stored document, as records (for re-checking its study digest)."""
    return tuple(
        TrialRecord(t["number"], dict(t["params"]), t["cv_score"], tuple(t["fold_scores"]))
        for t in (document.get("tuning") or {}).get("trial_log", [])
    )


def tune(
    frame: pd.DataFrame,
    schema: TaskSchema,
    *,
    framework: str,
    model: str,
    hyperparameters: Mapping[str, Any],
    training_seed: int,
    trials: int,
    cv_folds: int,
    seed: int,
    metric: str,
    average: str = "macro",
    progress: Callable[[str], None] = lambda _: None,
    fit: FitFn | None = None,
) -> TuningResult:
    """Run the study on ``frame`` (the baseline training set).

    Each fold is fitted by the configured trainer with ``training_seed``, as the models will
    be; ``fit(rows, hyperparameters)`` replaces that (tests).
    """
    if fit is None:
        from hokusai_assets.lib.training.trainers import get_trainer

        def fit(rows: pd.DataFrame, params: Mapping[str, Any]) -> Any:
            return get_trainer(framework, model, params, training_seed).fit(rows, schema)

    if trials < 1:
        raise TuningError(f"training.tuning.trials is {trials}; use at least 1", code="E_TUNING_TRIALS")
    if frame.empty:
        raise TuningError("cannot tune on an empty baseline training set", code="E_TUNING_FOLDS")
    fixed = dict(hyperparameters)
    space = search_space(framework, model, fixed)
    goal = direction(metric)
    rows = canonical_order(frame, schema)
    splits = cv_splits(rows, schema, cv_folds, seed)

    import optuna

    # Optuna logs every trial at INFO to its own handler; the caller's progress says the same once.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    records: list[TrialRecord] = []

    def objective(trial: Any) -> float:
        params = {d.name: d.suggest(trial) for d in space}
        scores = cross_validate(rows, schema, splits, fit, {**fixed, **params}, metric, average)
        mean, _ = mean_and_sd(scores)
        records.append(TrialRecord(trial.number, params, mean, tuple(scores)))
        progress(f"trial {trial.number + 1}/{trials}: {params} -> {metric} {mean:.6g}")
        return mean

    study = optuna.create_study(direction=goal, sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, n_jobs=1)
    return TuningResult(
        trials_requested=trials,
        cv_folds=cv_folds,
        seed=seed,
        metric=metric,
        direction=goal,
        space=space,
        fixed=fixed,
        trials=tuple(records),
        optuna_version=optuna.__version__,
        framework=framework,
        model=model,
        baseline_root=data_root(rows, schema.columns),
    )
