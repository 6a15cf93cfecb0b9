"""Tuning (lib/training/tuning.py): one seeded study, the same choice every time, within its bounds."""

import hashlib
import subprocess
import sys

import pytest

from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.trainers import get_trainer
from hokusai_assets.lib.training.tuning import (
    SEARCH_SPACES,
    attested_section,
    recorded_trials,
    search_space,
    study_digest,
    training_hyperparameters,
    tune,
)


def schema(task_type: str) -> TaskSchema:
    return TaskSchema(
        task_type=task_type,
        label="label",
        label_type="int" if task_type == "classification" else "float",
        features=tuple((name, "float") for name in feature_names()),
    )


@pytest.fixture(scope="module")
def rows():
    return generate_rows("classification", 90, seed=3)


def study(frame, task_type="classification", **overrides):
    arguments = dict(
        framework="sklearn",
        model="logistic_regression" if task_type == "classification" else "ridge",
        hyperparameters={},
        training_seed=0,
        trials=4,
        cv_folds=3,
        seed=11,
        metric="accuracy" if task_type == "classification" else "mse",
    )
    return tune(frame, schema(task_type), **{**arguments, **overrides})


def test_the_same_seed_chooses_the_same_parameters_with_the_same_digest(rows):
    first, second = study(rows), study(rows)
    assert first.chosen == second.chosen and first.digest == second.digest
    assert [t.as_json() for t in first.trials] == [t.as_json() for t in second.trials]
    # Row order is not an input: the folds are drawn over the rows in canonical order.
    shuffled = study(rows.sample(frac=1.0, random_state=5))
    assert shuffled.digest == first.digest


def test_another_seed_runs_another_study(rows):
    assert study(rows, seed=12).digest != study(rows).digest


def test_study_digest_is_sha256_of_the_canonical_trials_in_order(rows):
    result = study(rows)
    expected = hashlib.sha256(
        canonical_json([{"params": t.params, "cv_score": t.cv_score} for t in result.trials])
    ).hexdigest()
    assert result.digest == study_digest(result.trials) == f"sha256:{expected}"
    document = result.document()
    # What is stored is enough to re-derive the attested digest, and a changed score changes it.
    assert study_digest(recorded_trials(document)) == result.digest
    assert attested_section(document)["study_digest"] == result.digest
    document["tuning"]["trial_log"][0]["cv_score"] += 1e-9
    assert study_digest(recorded_trials(document)) != result.digest


def test_accuracy_is_maximised_and_mse_minimised(rows):
    accuracy = study(rows)
    assert accuracy.direction == "maximize"
    assert accuracy.best.cv_score == max(t.cv_score for t in accuracy.trials)
    regression = generate_rows("regression", 60, seed=4)
    mse = study(regression, task_type="regression", trials=5)
    assert mse.direction == "minimize"
    assert mse.best.cv_score == min(t.cv_score for t in mse.trials)
    assert len({t.cv_score for t in mse.trials}) > 1, "the trials must differ for the direction to matter"
    cv_mean, cv_sd = attested_section(mse.document())["cv_mean"], attested_section(mse.document())["cv_sd"]
    assert cv_mean == mse.best.cv_score and cv_sd > 0


def test_every_trial_stays_in_bounds_and_user_values_stay_fixed(rows):
    seen = []
    logistic = get_trainer("sklearn", "logistic_regression", {}, 0)

    def fit(frame, params):  # a cheap stand-in model: what matters is what the study asks for
        seen.append(dict(params))
        return logistic.fit(frame, schema("classification"))

    result = study(rows, model="random_forest", hyperparameters={"max_depth": 3}, trials=8, fit=fit)
    space = {d.name: d for d in search_space("sklearn", "random_forest", {"max_depth": 3})}
    assert set(space) == {"n_estimators", "min_samples_leaf"}
    assert len(seen) == 8 * 3 and all(params["max_depth"] == 3 for params in seen)
    for trial in result.trials:
        assert set(trial.params) == set(space)
        assert all(space[name].contains(value) for name, value in trial.params.items()), trial.params
    assert result.hyperparameters == {"max_depth": 3, **result.chosen}
    assert "max_depth" not in result.chosen


@pytest.mark.parametrize(
    ("overrides", "code", "says"),
    [
        ({"cv_folds": 31}, "E_TUNING_FOLDS", "set cv_folds to at most"),
        ({"trials": 0}, "E_TUNING_TRIALS", "at least 1"),
        ({"framework": "torch", "model": "mlp"}, "E_TUNING_UNSUPPORTED", "torch"),
        ({"hyperparameters": {"C": 1.0}}, "E_TUNING_NOTHING_TO_TUNE", "C"),
    ],
)
def test_bad_settings_are_refused_with_a_code(rows, overrides, code, says):
    frame = rows.head(60)  # the smallest class has fewer than 31 rows
    with pytest.raises(HokusaiError) as raised:
        study(frame, **overrides)
    assert raised.value.code == code and says in raised.value.message


def test_every_model_family_has_a_small_bounded_space():
    for family, space in SEARCH_SPACES.items():
        assert len(space) <= 3, family
        for dimension in space:
            assert dimension.low < dimension.high, (family, dimension)


def test_optuna_is_imported_only_to_tune():
    code = (
        "import sys\n"
        "from hokusai_assets.lib.training import tuning\n"
        "from hokusai_assets.services import tuning as service\n"
        "assert tuning.untuned_document({'C': 1.0}) == {'hyperparameters': {'C': 1.0}, 'tuning': None}\n"
        "assert 'optuna' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_values_keep_their_types_through_the_stored_document(rows):
    """RFC 8785 writes 1.0 as 1; to a forest, max_features=1 is one feature and 1.0 all of them."""
    import json

    configured = {"max_features": 1.0}
    result = study(rows, model="random_forest", hyperparameters=configured, trials=2, cv_folds=2)
    stored = json.loads(canonical_json(result.document()))
    assert stored["hyperparameters"]["max_features"] == 1 and isinstance(stored["hyperparameters"]["max_features"], int)
    trained = training_hyperparameters(configured, stored)
    assert trained == result.hyperparameters
    assert all(type(trained[name]) is type(value) for name, value in result.hyperparameters.items())
    untuned = {"hyperparameters": {"C": 1}, "tuning": None}
    assert type(training_hyperparameters({"C": 1.0}, untuned)["C"]) is float
