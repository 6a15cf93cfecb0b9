"""Feature preprocessing shared by every framework: imputation, one-hot categories, TF-IDF text.

A :class:`FeatureEncoder` is fitted on the training frame and turns rows of the task's
features into one dense float64 matrix, the same for scikit-learn, XGBoost, LightGBM and
the torch MLP (the linear models' scaler and the MLP's standardisation come after it):

* ``int`` / ``float`` / ``bool``: one column, the value; a missing value becomes the
  declared imputation (mean, median or most frequent training value, or a constant). A
  missing value without one is ``E_MODEL_MISSING_VALUES``, at fit and at predict: guessing
  a value silently would train (or serve) on numbers nobody chose.
* ``category``: one column per category seen in training (values compared as text, sorted),
  ``name=value``. At most ``max_categories`` of them: beyond that the most frequent are
  kept (ties by value) and every other value shares the column ``name:other``. A value the
  encoder does not know (unseen in training) is never an error, since serving will send
  them: it is all zeros, or ``name:other`` when the feature has that column. Missing: the
  declared imputation (``most_frequent`` or ``constant:<value>``) or, by default, a
  category of its own, ``name:missing``, learned when training had missing values (without
  that column a missing value is all zeros, like an unseen one).
* ``text``: TF-IDF over at most ``max_features`` terms (lowercased words of two or more
  word characters, scikit-learn's default pattern), smooth idf ``ln((1+n)/(1+df)) + 1``,
  each row scaled to unit length: scikit-learn's ``TfidfVectorizer`` defaults, reimplemented
  because its ``max_features`` cut ranks terms with NumPy's unstable ``argsort``, so which
  of two equally frequent terms is kept is not specified (and can change with the CPU's
  sort kernel). Here the vocabulary is the top terms by total count, ties broken by the
  term. Missing text is the empty text (or the declared constant).

Category and text values are first normalised by the rule intake applies
(``lib.feature_values``: a category stripped, an empty value missing, a number its JSON
text), at fit and at transform, so a request or the MLflow pyfunc's input reads the way
intake's rows do; the rule is idempotent, so what is learned from intake's rows is unchanged.

Why dense: every framework accepts a dense float64 matrix as it is, and the caps bound its
width (``max_categories + 2`` columns per category, ``max_features`` per text).

The encoder's state is plain data: a JSON object (categories, vocabulary, imputation
values, parameters) and one float64 tensor per text feature (its idf); ``features_files``
writes it into the model file and rebuilds the encoder from it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.feature_values import feature_values
from hokusai_assets.lib.task import NUMERIC_FEATURE_TYPES, TaskSchema, parse_imputation

DEFAULT_MAX_CATEGORIES = 50
DEFAULT_MAX_FEATURES = 1000
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default: words of two or more characters
_TOKENS = re.compile(TOKEN_PATTERN)
# Fixed choices of this encoder, stored so that a model file says how it reads text.
TEXT_PARAMETERS = {"token_pattern": TOKEN_PATTERN, "lowercase": True, "idf": "smooth", "norm": "l2"}


def _missing_error(name: str, count: int, when: str) -> ModelError:
    return ModelError(
        f"feature {name!r} has {count} missing value(s) {when}; declare an imputation for it in the task "
        "(mean, median, most_frequent or constant:<value>) or remove those rows",
        code="E_MODEL_MISSING_VALUES",
    )


@dataclass(frozen=True)
class Imputation:
    strategy: str  # mean | median | most_frequent | constant
    value: Any  # float for numbers, str for categories and text


@dataclass(frozen=True)
class NumericEncoding:
    name: str
    type: str
    impute: Imputation | None

    @property
    def output_names(self) -> list[str]:
        return [self.name]


@dataclass(frozen=True)
class CategoryEncoding:
    name: str
    categories: tuple[str, ...]  # sorted
    other: bool  # training had more than max_categories values: the rest share one column
    missing: bool  # missing values are a category of their own (no imputation, some in training)
    impute: Imputation | None

    @property
    def output_names(self) -> list[str]:
        names = [f"{self.name}={value}" for value in self.categories]
        return names + [f"{self.name}:other"] * self.other + [f"{self.name}:missing"] * self.missing


@dataclass(frozen=True, eq=False)
class TextEncoding:
    name: str
    vocabulary: tuple[str, ...]  # sorted
    idf: np.ndarray  # float64, one per term
    impute: Imputation | None

    @property
    def output_names(self) -> list[str]:
        return [f"{self.name}:tfidf:{term}" for term in self.vocabulary]


Encoding = NumericEncoding | CategoryEncoding | TextEncoding


# --- reading columns -------------------------------------------------------------------------


def _numbers(column: pd.Series, name: str) -> np.ndarray:
    try:
        values = column.astype("float64").to_numpy()
    except (TypeError, ValueError) as exc:
        raise ModelError(f"feature {name!r} is numeric but holds {exc}", code="E_MODEL_FEATURES") from None
    if np.isinf(values).any():
        raise ModelError(f"feature {name!r} has infinite values", code="E_MODEL_NONFINITE")
    return values


def _texts(column: pd.Series, kind: str) -> list[str | None]:
    """Values as intake normalises them (``lib.feature_values``), None where missing: the
    encoder applies the rule itself, so rows that did not come through intake (a request, the
    MLflow pyfunc's input) read like rows that did. Idempotent: intake's rows are unchanged."""
    return feature_values(kind, column.tolist())


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text.lower())


def _most_frequent(values: list[Any]) -> Any:
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))  # ties: the smallest value


# --- fitting ---------------------------------------------------------------------------------


def _fit_numeric(name: str, kind: str, values: np.ndarray, strategy: str | None) -> NumericEncoding:
    missing = np.isnan(values)
    if strategy is None:
        if missing.any():
            raise _missing_error(name, int(missing.sum()), "in the training set")
        return NumericEncoding(name, kind, None)
    how, constant = parse_imputation(strategy)
    present = values[~missing]
    if how == "constant":
        value = float(constant)  # type: ignore[arg-type]
    elif present.size == 0:
        raise ModelError(
            f"feature {name!r} has no values in the training set to take the {how} of; impute a constant",
            code="E_MODEL_MISSING_VALUES",
        )
    elif how == "mean":
        value = float(np.mean(present))
    elif how == "median":
        value = float(np.median(present))
    else:
        value = float(_most_frequent(present.tolist()))
    # + 0.0: JSON has no negative zero, so the value stored and the value fitted are the same.
    return NumericEncoding(name, kind, Imputation(how, value + 0.0))


def _fit_category(name: str, values: list[str | None], strategy: str | None, max_categories: int) -> CategoryEncoding:
    present = [v for v in values if v is not None]
    impute = None
    if strategy is not None:
        how, constant = parse_imputation(strategy)
        if how == "most_frequent" and not present:
            raise ModelError(
                f"feature {name!r} has no values in the training set to take the most frequent of; impute a constant",
                code="E_MODEL_MISSING_VALUES",
            )
        impute = Imputation(how, constant if how == "constant" else _most_frequent(present))
        present = [impute.value if v is None else v for v in values]
    counts = Counter(present)
    kept = sorted(counts, key=lambda v: (-counts[v], v))[:max_categories]
    has_missing = impute is None and len(present) < len(values)
    return CategoryEncoding(name, tuple(sorted(kept)), len(counts) > max_categories, has_missing, impute)


def _fit_text(name: str, values: list[str | None], strategy: str | None, max_features: int) -> TextEncoding:
    impute = None
    if strategy is not None:
        _, constant = parse_imputation(strategy)
        impute = Imputation("constant", constant)
    documents = [_tokens(_filled(v, impute)) for v in values]
    totals: Counter[str] = Counter()
    frequency: Counter[str] = Counter()  # documents holding the term
    for tokens in documents:
        totals.update(tokens)
        frequency.update(set(tokens))
    vocabulary = sorted(sorted(totals, key=lambda t: (-totals[t], t))[:max_features])
    n = len(documents)
    # math.log on integers, term by term: the same bits whatever the order of the vocabulary.
    idf = np.array([math.log((1 + n) / (1 + frequency[t])) + 1.0 for t in vocabulary], dtype=np.float64)
    return TextEncoding(name, tuple(vocabulary), idf, impute)


def _filled(value: str | None, impute: Imputation | None) -> str:
    if value is not None:
        return value
    return impute.value if impute is not None else ""


# --- the encoder -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FeatureEncoder:
    """Fitted preprocessing from rows of the task's features to one float64 matrix."""

    encodings: tuple[Encoding, ...]
    max_categories: int = DEFAULT_MAX_CATEGORIES
    max_features: int = DEFAULT_MAX_FEATURES

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        schema: TaskSchema,
        *,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        max_features: int = DEFAULT_MAX_FEATURES,
    ) -> FeatureEncoder:
        if max_categories < 1 or max_features < 1:
            raise ModelError("max_categories and max_features must be at least 1", code="E_MODEL_HYPERPARAMETER")
        _require_columns(frame, schema.feature_names)
        imputation = schema.imputation_of
        encodings: list[Encoding] = []
        for name, kind in schema.features:
            strategy = imputation.get(name)
            if kind in NUMERIC_FEATURE_TYPES:
                encodings.append(_fit_numeric(name, kind, _numbers(frame[name], name), strategy))
            elif kind == "category":
                encodings.append(_fit_category(name, _texts(frame[name], kind), strategy, max_categories))
            elif kind == "text":
                encodings.append(_fit_text(name, _texts(frame[name], kind), strategy, max_features))
            else:
                raise ModelError(f"feature {name!r} has unknown type {kind!r}", code="E_MODEL_FEATURES")
        encoder = cls(tuple(encodings), max_categories, max_features)
        names = encoder.output_names
        if len(set(names)) != len(names):
            clashes = sorted({n for n in names if names.count(n) > 1})
            raise ModelError(
                f"encoded feature names clash ({', '.join(clashes[:5])}); rename a feature or a category",
                code="E_MODEL_FEATURES",
            )
        if not names:
            raise ModelError("the features encode to no columns (texts without words?)", code="E_MODEL_FEATURES")
        return encoder

    @property
    def feature_names(self) -> list[str]:
        return [e.name for e in self.encodings]

    @property
    def output_names(self) -> list[str]:
        return [name for e in self.encodings for name in e.output_names]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded matrix (C-contiguous float64), one row per row of ``frame``."""
        _require_columns(frame, self.feature_names)
        blocks = [_transform(e, frame[e.name], self) for e in self.encodings]
        return np.ascontiguousarray(np.hstack(blocks) if blocks else np.zeros((len(frame), 0)), dtype=np.float64)

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The encoded matrix with ``output_names`` as columns."""
        return pd.DataFrame(self.transform(frame), columns=self.output_names, index=frame.index)


def _require_columns(frame: pd.DataFrame, names: list[str]) -> None:
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise ModelError(f"the model needs feature column(s) {', '.join(missing)}", code="E_MODEL_FEATURES")


def _transform(e: Encoding, column: pd.Series, encoder: FeatureEncoder) -> np.ndarray:
    if isinstance(e, NumericEncoding):
        values = _numbers(column, e.name)
        missing = np.isnan(values)
        if missing.any():
            if e.impute is None:
                raise _missing_error(e.name, int(missing.sum()), "and no imputation declared")
            values = np.where(missing, e.impute.value, values)
        return values.reshape(-1, 1)
    values = _texts(column, "category" if isinstance(e, CategoryEncoding) else "text")
    if isinstance(e, CategoryEncoding):
        index = {value: i for i, value in enumerate(e.categories)}
        other = len(e.categories) if e.other else None
        missing = len(e.categories) + e.other if e.missing else None
        block = np.zeros((len(values), len(e.output_names)), dtype=np.float64)
        for row, value in enumerate(values):
            if value is None and e.impute is not None:
                value = e.impute.value
            column_index = missing if value is None else index.get(value, other)
            if column_index is not None:
                block[row, column_index] = 1.0
        return block
    index = {term: i for i, term in enumerate(e.vocabulary)}
    block = np.zeros((len(values), len(e.vocabulary)), dtype=np.float64)
    for row, value in enumerate(values):
        counts = Counter(t for t in _tokens(_filled(value, e.impute)) if t in index)
        if not counts:
            continue
        weights = {index[t]: count * float(e.idf[index[t]]) for t, count in counts.items()}
        # fsum is exactly rounded: a row's norm does not depend on the order of its terms.
        norm = math.sqrt(math.fsum(w * w for w in weights.values()))
        for i, w in weights.items():
            block[row, i] = w / norm
    return block


def training_matrix(frame: pd.DataFrame, schema: TaskSchema) -> tuple[FeatureEncoder | None, pd.DataFrame]:
    """What a trainer fits on: (encoder, encoded frame), or (None, the float64 features).

    A schema of numeric features without imputation gets no encoder, so its models are
    trained (and their files written) exactly as before encoders existed.
    """
    if not schema.needs_encoding:
        return None, frame[schema.feature_names].astype("float64")
    encoder = FeatureEncoder.fit(frame, schema)
    return encoder, encoder.frame(frame)
