import json

import numpy as np
import pandas as pd
import pytest

from hokusai_assets.lib.errors import ModelError, SchemaError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.features import FeatureEncoder
from hokusai_assets.lib.training.model import METADATA_KEY, model_from_bytes, read_model_file
from hokusai_assets.lib.training.trainers import get_trainer

WORDS = ("good", "bad", "slow", "fast", "service", "price", "great", "poor", "delivery", "quality", "ok", "late")
COUNTRIES = ("FR", "DE", "US", "JP", "BR")
FEATURES = (("age", "float"), ("visits", "int"), ("member", "bool"), ("country", "category"), ("comment", "text"))
CLASSIFICATION = TaskSchema("classification", "label", "int", FEATURES, imputation=(("age", "median"),))
REGRESSION = TaskSchema("regression", "target", "float", FEATURES, imputation=(("age", "mean"),))
NUMERIC = TaskSchema("classification", "label", "int", (("age", "float"), ("visits", "int"), ("member", "bool")))

FRAMEWORKS = [
    ("sklearn", "logistic_regression", {}),
    ("sklearn", "random_forest", {"n_estimators": 10}),
    ("xgboost", "xgboost", {"n_estimators": 10}),
    ("lightgbm", "lightgbm", {"n_estimators": 10, "min_child_samples": 5}),
    ("torch", "mlp", {"hidden_sizes": "8", "epochs": 3, "batch_size": 32}),
]


def mixed_rows(n: int = 160, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, n)
    age[rng.random(n) < 0.1] = np.nan
    country = [None if rng.random() < 0.05 else COUNTRIES[i] for i in rng.integers(0, len(COUNTRIES), n)]
    comment = [" ".join(WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(2, 7))) for _ in range(n)]
    visits = rng.integers(0, 20, n)
    member = rng.random(n) < 0.4
    score = np.nan_to_num(age, nan=40.0) / 20 + visits / 10 + np.array([c in ("FR", "JP") for c in country]) * 1.5
    score += np.array(["good" in c for c in comment], dtype=float) - np.array(["bad" in c for c in comment], dtype=float)
    return pd.DataFrame(
        {
            "age": age,
            "visits": visits,
            "member": member,
            "country": country,
            "comment": comment,
            "label": (score + rng.normal(0, 0.5, n) > np.median(score)).astype(int),
            "target": score + rng.normal(0, 0.1, n),
        }
    )


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return mixed_rows()


def _rewrite(data: bytes, change) -> bytes:
    """The model file with its description (and tensors) changed by ``change``."""
    from safetensors.numpy import save

    description, tensors = read_model_file(data)
    change(description, tensors)
    return save(tensors, metadata={METADATA_KEY: json.dumps(description)})


@pytest.fixture(scope="module")
def fitted(rows):
    """Each framework fitted twice on the mixed rows: {framework/model: (model, model again)}."""
    models = {}
    for framework, model, params in FRAMEWORKS:
        fit = lambda: get_trainer(framework, model, params, 7).fit(rows, CLASSIFICATION)  # noqa: E731
        models[f"{framework}/{model}"] = (fit(), fit())
    return models


@pytest.mark.parametrize("key", [f"{f}/{m}" for f, m, _ in FRAMEWORKS])
def test_every_framework_trains_on_the_encoded_features_deterministically(key, fitted, rows):
    first, again = fitted[key]
    data = first.to_bytes()
    assert data == again.to_bytes()
    description, tensors = read_model_file(data)
    assert description["feature_names"] == [name for name, _ in FEATURES]  # what the model reads
    assert description["encoder"]["format"] == "hokusai-features/v1"
    assert "encoder.4.idf" in tensors

    loaded = model_from_bytes(data)
    assert loaded.to_bytes() == data
    expected, actual = first.predict(rows), loaded.predict(rows)
    assert np.array_equal(expected.y_pred, actual.y_pred)
    assert np.array_equal(expected.proba, actual.proba)
    assert list(first.features(rows).columns) == first.encoder.output_names


@pytest.mark.parametrize("key", [f"{f}/{m}" for f, m, _ in FRAMEWORKS])
def test_an_unseen_category_is_encoded_like_any_other_unseen_one(key, fitted, rows):
    model = fitted[key][0]
    loaded = model_from_bytes(model.to_bytes())
    atlantis = rows.head(20).assign(country="Atlantis")
    narnia = rows.head(20).assign(country="Narnia")
    for m in (model, loaded):
        assert np.array_equal(m.features(atlantis).to_numpy(), m.features(narnia).to_numpy())
        assert np.array_equal(m.predict_features(atlantis), m.predict_features(narnia))
        assert np.array_equal(m.predict(atlantis).proba, m.predict(narnia).proba)
    country_columns = [c for c in model.encoder.output_names if c.startswith("country")]
    assert not model.features(atlantis)[country_columns].to_numpy().any()  # all zeros


@pytest.mark.parametrize("framework,model,params", FRAMEWORKS)
def test_a_missing_number_without_imputation_is_an_error(framework, model, params, rows):
    undeclared = TaskSchema("classification", "label", "int", FEATURES)  # age has NaN, no imputation
    with pytest.raises(ModelError) as error:
        get_trainer(framework, model, params, 7).fit(rows, undeclared)
    assert error.value.code == "E_MODEL_MISSING_VALUES"
    assert "imputation" in error.value.message


def test_missing_values_at_predict_time(fitted, rows):
    model = fitted["sklearn/logistic_regression"][0]
    median = float(np.nanmedian(rows["age"]))
    gaps = rows.head(5).assign(age=np.nan)
    filled = rows.head(5).assign(age=median)
    assert np.array_equal(model.features(gaps).to_numpy(), model.features(filled).to_numpy())
    with pytest.raises(ModelError) as error:
        model.predict_features(rows.head(5).assign(visits=np.nan))  # visits declares no imputation
    assert error.value.code == "E_MODEL_MISSING_VALUES"


@pytest.mark.parametrize("framework,model,params", [FRAMEWORKS[2], ("sklearn", "ridge", {}), FRAMEWORKS[4]])
def test_regression_with_encoded_features_round_trips(framework, model, params, rows):
    fitted_model = get_trainer(framework, model, params, 7).fit(rows, REGRESSION)
    data = fitted_model.to_bytes()
    assert data == get_trainer(framework, model, params, 7).fit(rows, REGRESSION).to_bytes()
    loaded = model_from_bytes(data)
    assert np.array_equal(fitted_model.predict(rows).y_pred, loaded.predict(rows).y_pred)


def test_text_vocabulary_is_bounded_and_ties_break_by_term():
    schema = TaskSchema("classification", "label", "int", (("comment", "text"),))
    frame = pd.DataFrame({"comment": ["zeta beta", "alpha zeta", "gamma delta", None, "beta alpha"], "label": 0})
    encoder = FeatureEncoder.fit(frame, schema, max_features=3)
    # counts: alpha 2, beta 2, zeta 2, gamma 1, delta 1 -> the three most frequent
    assert encoder.output_names == ["comment:tfidf:alpha", "comment:tfidf:beta", "comment:tfidf:zeta"]
    matrix = encoder.transform(frame)
    assert matrix.shape == (5, 3)
    assert np.allclose(np.linalg.norm(matrix[[0, 1, 4]], axis=1), 1.0)
    assert not matrix[[2, 3]].any()  # no known word; missing text is empty text
    tied = FeatureEncoder.fit(frame, schema, max_features=4)
    assert tied.output_names[-1] == "comment:tfidf:zeta" and "comment:tfidf:delta" in tied.output_names

    rows = mixed_rows()
    bounded = FeatureEncoder.fit(rows, CLASSIFICATION, max_features=5)
    assert sum(name.startswith("comment:tfidf:") for name in bounded.output_names) == 5


def test_text_matches_scikit_learns_tfidf_defaults_when_there_is_no_tie():
    from sklearn.feature_extraction.text import TfidfVectorizer

    schema = TaskSchema("classification", "label", "int", (("comment", "text"),))
    texts = ["The quick brown fox", "the lazy dog", "quick quick dog!", "A fox, a dog"]
    ours = FeatureEncoder.fit(pd.DataFrame({"comment": texts, "label": 0}), schema)
    theirs = TfidfVectorizer().fit(texts)
    assert [n.split(":", 2)[2] for n in ours.output_names] == list(theirs.get_feature_names_out())
    frame = pd.DataFrame({"comment": texts})
    assert np.allclose(ours.transform(frame), theirs.transform(texts).toarray(), rtol=0, atol=1e-12)


def test_categories_beyond_the_cap_share_other_and_missing_is_its_own_category():
    schema = TaskSchema("classification", "label", "int", (("country", "category"),))
    frame = pd.DataFrame({"country": ["FR", "FR", "FR", "DE", "DE", "US", "JP", None], "label": 0})
    encoder = FeatureEncoder.fit(frame, schema, max_categories=2)
    assert encoder.output_names == ["country=DE", "country=FR", "country:other", "country:missing"]
    probe = pd.DataFrame({"country": ["FR", "US", "Atlantis", None]})
    assert encoder.transform(probe).tolist() == [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]]

    imputed = TaskSchema(
        "classification", "label", "int", (("country", "category"),), imputation=(("country", "most_frequent"),)
    )
    encoder = FeatureEncoder.fit(frame, imputed)
    assert encoder.output_names == ["country=DE", "country=FR", "country=JP", "country=US"]
    assert encoder.transform(pd.DataFrame({"country": [None]})).tolist() == [[0, 1, 0, 0]]


def test_the_same_frame_gives_the_same_encoder_state(rows):
    from hokusai_assets.lib.training.features_files import encode_encoder

    first, tensors = encode_encoder(FeatureEncoder.fit(rows, CLASSIFICATION))
    assert first == encode_encoder(FeatureEncoder.fit(rows.copy(), CLASSIFICATION))[0]
    # Row order does not matter to what is learned (a median, counts, sorted categories and vocabulary).
    again, tensors_again = encode_encoder(FeatureEncoder.fit(rows.iloc[::-1], CLASSIFICATION))
    assert first == again
    assert np.array_equal(tensors["encoder.4.idf"], tensors_again["encoder.4.idf"])


def _vocabulary_unsorted(description, tensors):
    description["encoder"]["features"][4]["vocabulary"].reverse()


def _unknown_key(description, tensors):
    description["encoder"]["features"][3]["callable"] = "os.system"


def _format_tag(description, tensors):
    description["encoder"]["format"] = "pickle/v1"


def _idf_shape(description, tensors):
    tensors["encoder.4.idf"] = tensors["encoder.4.idf"][:-1].copy()


def _idf_missing(description, tensors):
    del tensors["encoder.4.idf"]


def _too_many_categories(description, tensors):
    description["encoder"]["parameters"]["max_categories"] = 2


def _impute_a_string_into_a_number(description, tensors):
    description["encoder"]["features"][0]["impute"]["value"] = "40"


def _token_pattern(description, tensors):
    description["encoder"]["parameters"]["token_pattern"] = ".*"


def _features_reordered(description, tensors):
    description["encoder"]["features"].reverse()


def _stray_tensor(description, tensors):
    tensors["encoder.9.idf"] = np.ones(3)


def _a_category_less(description, tensors):
    # A well-formed encoder, one column narrower than what the estimator was fitted on.
    description["encoder"]["features"][3]["categories"].remove("US")


@pytest.mark.parametrize(
    "tamper",
    [
        _vocabulary_unsorted, _unknown_key, _format_tag, _idf_shape, _idf_missing, _too_many_categories,
        _impute_a_string_into_a_number, _token_pattern, _features_reordered, _stray_tensor, _a_category_less,
    ],
)
@pytest.mark.parametrize("key", ["sklearn/logistic_regression", "sklearn/random_forest", "xgboost/xgboost", "torch/mlp"])
def test_a_tampered_encoder_state_is_refused(tamper, key, fitted):
    data = fitted[key][0].to_bytes()
    model_from_bytes(_rewrite(data, lambda d, t: None))  # the rewrite itself is harmless
    with pytest.raises(ModelError) as error:
        model_from_bytes(_rewrite(data, tamper))
    assert error.value.code == "E_MODEL_FORMAT"


def test_a_numeric_schema_stores_no_encoder(rows):
    numeric_rows = rows.assign(age=rows["age"].fillna(40.0))
    for framework, model, params in FRAMEWORKS[:1] + FRAMEWORKS[2:3]:
        trained = get_trainer(framework, model, params, 7).fit(numeric_rows, NUMERIC)
        assert trained.encoder is None
        description, tensors = read_model_file(trained.to_bytes())
        assert "encoder" not in description
        assert not any(name.startswith("encoder.") for name in tensors)
        assert list(trained.features(numeric_rows).columns) == ["age", "visits", "member"]


@pytest.mark.parametrize(
    "imputation",
    [(("age", "average"),), (("nobody", "mean"),), (("country", "mean"),), (("age", "constant:abc"),),
     (("comment", "most_frequent"),), (("age", "mean"), ("age", "median"))],
)
def test_a_malformed_imputation_is_a_schema_error(imputation):
    with pytest.raises(SchemaError) as error:
        TaskSchema("classification", "label", "int", FEATURES, imputation=imputation)
    assert error.value.code == "E_SCHEMA_IMPUTATION"
