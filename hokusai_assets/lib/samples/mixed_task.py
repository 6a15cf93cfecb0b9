"""A deterministic mixed-type sample task: numbers, a category, a free-text comment, missing values.

The README's worked example and the tests use it. A churn-like classification: customers
with an ``age`` (float, sometimes missing: imputed with the median), a number of
``visits`` (int, sometimes missing: imputed with the most frequent value), a
``monthly_spend`` (float, never missing), a ``country`` (category, sometimes missing: a
category of its own) and a short ``comment`` (text, sometimes missing: the empty text).
The label depends on all of them, the comment's words included.

The baseline is small and never holds the country ``BR``, which the benchmark and the
contribution do: at benchmark time the baseline model meets a category it never saw
(all zeros, never an error). One comment of the contribution holds an e-mail address,
which intake replaces by its keyed pseudonym.

Numbers come from ``numpy.random.RandomState`` (streams NumPy keeps stable across
releases), so the same seed gives the same bytes everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hokusai_assets.lib.samples.mock_task import mock_wallet

BASELINE_ROWS = 80
BENCHMARK_ROWS = 400
CONTRIBUTION_ROWS = 600
COUNTRIES = ("DE", "FR", "JP", "US", "BR")
NEW_COUNTRY = "BR"  # in the benchmark and the contribution, never in the baseline
# Country effects on the log-odds of churning.
_COUNTRY_EFFECT = {"DE": -0.8, "FR": 0.2, "JP": -0.4, "US": 0.6, "BR": 1.4}
_HAPPY = ("great service", "love the app", "very helpful staff", "fast delivery", "easy to use")
_UNHAPPY = ("too expensive", "slow support", "app keeps crashing", "late delivery", "hard to cancel")
_NEUTRAL = ("ordered again", "changed my plan", "used it this week", "asked about billing", "nothing to add")
# Share of cells left empty, per column that may be missing.
_MISSING = {"age": 0.08, "visits": 0.05, "country": 0.04, "comment": 0.15}
PII_EMAIL = "jane.doe.sample@example.org"

FEATURES = {"age": "float", "visits": "int", "monthly_spend": "float", "country": "category", "comment": "text"}
IMPUTATION = {"age": "median", "visits": "most_frequent"}
LABEL = "churned"


def _comment(rs: np.random.RandomState, mood: float) -> str:
    """One or two short sentences; happier words for customers less likely to churn."""
    parts = []
    for _ in range(1 + rs.randint(0, 2)):
        roll = rs.rand()
        if roll < 0.35:
            pool = _NEUTRAL
        else:
            pool = _UNHAPPY if (rs.rand() < 1.0 / (1.0 + np.exp(-mood))) else _HAPPY
        parts.append(pool[rs.randint(0, len(pool))].capitalize() + ".")
    return " ".join(parts)


def generate_rows(n_rows: int, seed: int, countries: tuple[str, ...] = COUNTRIES) -> pd.DataFrame:
    """Rows of the mixed task (no missing values yet: see :func:`_blank`)."""
    rs = np.random.RandomState(seed)
    age = np.round(rs.normal(41.0, 12.0, n_rows).clip(18, 90), 1)
    visits = rs.poisson(6, n_rows).astype(np.int64)
    spend = np.round(rs.gamma(3.0, 12.0, n_rows), 2)
    country = np.array(countries)[rs.randint(0, len(countries), n_rows)]
    mood = rs.normal(0.0, 1.2, n_rows)  # hidden: shows in the comment and in the label
    logit = (
        0.9 * mood
        - 0.04 * (age - 41.0)
        - 0.25 * (visits - 6)
        + 0.02 * (spend - 36.0)
        + np.array([_COUNTRY_EFFECT[c] for c in country])
    )
    label = (rs.rand(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    comments = [_comment(rs, m) for m in mood]
    return pd.DataFrame(
        {"age": age, "visits": visits, "monthly_spend": spend, "country": country, "comment": comments, LABEL: label}
    )


def _blank(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Empty some cells of the columns that may be missing (object columns get None)."""
    rs = np.random.RandomState(seed)
    out = frame.copy()
    for column, share in _MISSING.items():
        mask = rs.rand(len(out)) < share
        if out[column].dtype == object:
            out[column] = out[column].astype(object).where(~mask, None)
        else:
            out[column] = out[column].astype("float64").where(~mask, np.nan)
    return out


@dataclass(frozen=True)
class MixedTask:
    config_path: Path
    contribution_path: Path
    wallet: str


def task_config(seed: int = 0, drift_report: bool = True) -> dict:
    """The hokusai.yaml of the mixed task, as a mapping (the README shows it as YAML)."""
    return {
        "task": {
            "name": "mixed_churn",
            "type": "classification",
            "label": LABEL,
            "features": dict(FEATURES),
            "imputation": dict(IMPUTATION),
            "baseline_data": "baseline.parquet",
            "benchmark_data": "benchmark.parquet",
        },
        "training": {"framework": "sklearn", "model": "logistic_regression", "seed": seed},
        "evaluation": {"min_benchmark_rows": 100, "bootstrap": {"resamples": 1000, "seed": seed}},
        "monitoring": {"drift_report": drift_report},
    }


def write_mixed_task(directory: Path, seed: int = 0, drift_report: bool = True) -> MixedTask:
    """Write the mixed task (config, baseline and benchmark Parquet, contribution CSV) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    baseline = _blank(generate_rows(BASELINE_ROWS, seed, tuple(c for c in COUNTRIES if c != NEW_COUNTRY)), seed + 1)
    rest = _blank(generate_rows(BENCHMARK_ROWS + CONTRIBUTION_ROWS, seed + 2), seed + 3)
    benchmark = rest.iloc[:BENCHMARK_ROWS].reset_index(drop=True)
    contribution = rest.iloc[BENCHMARK_ROWS:].reset_index(drop=True)
    contribution.loc[0, "comment"] = f"Please write to {PII_EMAIL} about my refund."
    baseline.to_parquet(directory / "baseline.parquet", index=False)
    benchmark.to_parquet(directory / "benchmark.parquet", index=False)
    contribution_path = directory / "contribution.csv"
    # Missing cells are empty in the CSV; integers stay integers (no "6.0").
    written = contribution.copy()
    written["visits"] = written["visits"].astype("Int64")
    written.to_csv(contribution_path, index=False)
    config_path = directory / "hokusai.yaml"
    config_path.write_text(
        "# Generated by hokusai_assets.lib.samples.mixed_task: numbers, a category, a comment, missing values.\n"
        + yaml.safe_dump(task_config(seed, drift_report), sort_keys=False),
        encoding="utf-8",
    )
    return MixedTask(config_path=config_path, contribution_path=contribution_path, wallet=mock_wallet())


if __name__ == "__main__":  # python -m hokusai_assets.lib.samples.mixed_task DIRECTORY
    import sys

    written = write_mixed_task(Path(sys.argv[1] if len(sys.argv) > 1 else "mixed-task"))
    print(written.config_path)
