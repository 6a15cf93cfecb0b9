"""The quality of a contribution: four parts, each with its own floor, and their mean.

Parts, each between 0 and 1 (1 is best):
- completeness: share of the task's cells that hold a usable value;
- uniqueness: share of the file's rows that do not repeat an earlier row of the file;
- label_balance: normalised entropy of the labels over the task's classes (classification only);
- in_range: share of rows whose numbers all lie within the baseline training set's observed
  range per feature, widened on each side by ``range_margin`` times that range. A feature
  constant in the baseline (a range of width 0) is widened by ``range_margin`` times the
  larger of its value's size and 1, as if its range were that wide: with the default margin
  0.5, a constant 200 accepts 100 to 300 (a value 100 times too large or negated is still
  out), a constant 0 accepts -0.5 to 0.5 (an int feature such as a digits pixel the baseline
  never lit is still out at 1). A feature the baseline never holds a value of has no range:
  it is not checked, and the report names it (``range_not_checked``).

A file passes when every part reaches its floor and the mean reaches ``min_quality``. The
floors exist because a mean hides one broken part: values 100 times too large, or negated,
score in_range 0, and perfect completeness, uniqueness and balance would still carry the
mean over 0.7.

Only int and float features have a range: a bool has two values, and a category or text
value the baseline never saw is new information rather than a unit mistake (the model reads
it as all zeros), so neither is compared. A missing number (a declared imputation) is not out
of range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.checks import CheckOutcome
from hokusai_assets.lib.task import TaskSchema

QUALITY_ABOVE_MINIMUM = "quality_above_minimum"
RANGED_FEATURE_TYPES = ("int", "float")
# What a contributor can do about each part when it is below its floor.
_REMEDY = {
    "completeness": "fill in the missing values or leave out the incomplete rows",
    "uniqueness": "remove the repeated rows",
    "label_balance": "include rows of the other classes",
    "in_range": "check the units and signs of those features",
}


@dataclass(frozen=True)
class QualityFloors:
    """The least each quality part may score, whatever the others score (``intake.quality_floors``).

    The defaults reject what is broken, not what is unusual: the bundled samples score at least
    0.97 on every part; a file whose rows are mostly empty, mostly repeats, nearly all one class
    (0.1 is a binary label split about 99 to 1) or more than a tenth outside the baseline's range is
    rejected. Completeness is low on purpose: category and text features may always be missing.
    """

    completeness: float = 0.3
    uniqueness: float = 0.5
    label_balance: float = 0.1
    in_range: float = 0.9

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def completeness(raw: pd.DataFrame, schema: TaskSchema) -> float:
    """Share of the task's cells that hold a usable value (not missing, not ±inf)."""
    present = [c for c in schema.columns if c in raw.columns]
    if not present or raw.empty:
        return 0.0
    unusable = 0
    for column in present:
        values = raw[column]
        bad = values.isna()
        if pd.api.types.is_float_dtype(values):
            bad |= np.isinf(values)
        unusable += int(bad.sum())
    return 1.0 - unusable / (len(raw) * len(present))


def label_balance(frame: pd.DataFrame, schema: TaskSchema, classes: list) -> float | None:
    if schema.task_type != "classification" or len(classes) < 2 or frame.empty:
        return None
    counts = frame[schema.label].value_counts().reindex(classes, fill_value=0).to_numpy(dtype="float64")
    shares = counts / counts.sum()
    entropy = -sum(p * math.log(p) for p in shares if p > 0)
    return float(entropy / math.log(len(classes)))


def values_in_range(
    frame: pd.DataFrame, baseline: pd.DataFrame, schema: TaskSchema, margin: float
) -> tuple[float, int, dict[str, int], list[str]]:
    """The share of rows whose numbers all lie in the baseline's widened range, how many rows do
    not, per feature how many values are outside it (features with none left out; names
    only, never a value), and the features not checked (no baseline value: no range)."""
    ranged = [name for name, kind in schema.features if kind in RANGED_FEATURE_TYPES]
    reference = baseline[ranged].astype("float64")
    low, high = reference.min(), reference.max()
    not_checked = [name for name in ranged if pd.isna(low[name])]
    ranged = [name for name in ranged if name not in not_checked]
    if not ranged or frame.empty:
        return 1.0, 0, {}, not_checked
    low, high = low[ranged], high[ranged]
    # A constant feature: widened as if its range were as wide as its value (at least 1).
    width = (high - low).where(high > low, np.maximum(low.abs(), 1.0))
    widening = width * margin
    values = frame[ranged].astype("float64")
    inside = ((values >= low - widening) & (values <= high + widening)) | values.isna()
    rows_inside = inside.all(axis=1)
    outside = (~inside).sum()
    per_feature = {name: int(outside[name]) for name in ranged if outside[name]}
    return float(rows_inside.mean()), int((~rows_inside).sum()), per_feature, not_checked


def score_quality(
    raw: pd.DataFrame,
    frame: pd.DataFrame,
    unique_share: float,
    baseline: pd.DataFrame,
    schema: TaskSchema,
    classes: list,
    range_margin: float,
) -> dict[str, Any]:
    """The parts and their mean; ``raw`` as parsed (for completeness), ``frame`` the rows kept."""
    in_range, rows_out_of_range, out_of_range, not_checked = values_in_range(frame, baseline, schema, range_margin)
    parts = {
        "completeness": completeness(raw, schema),
        "uniqueness": unique_share,
        "label_balance": label_balance(frame, schema, classes),
        "in_range": in_range,
    }
    used = [v for v in parts.values() if v is not None]
    return {
        "score": float(np.mean(used)) if used else 0.0,
        "parts": parts,
        "rows_out_of_range": rows_out_of_range,
        "out_of_range": out_of_range,
        "range_not_checked": not_checked,  # int and float features without a baseline value
        "range_margin": range_margin,
    }


def _below_floor(part: str, value: float, floor: float, quality: dict) -> str:
    said = f"{part} {value:.2f} is below its floor {floor:.2f} (intake.quality_floors.{part})"
    if part == "in_range":
        features = ", ".join(f"{name} ({count})" for name, count in quality["out_of_range"].items())
        said += (
            f": {quality['rows_out_of_range']} row(s) have a number outside the baseline's range widened by "
            f"{quality['range_margin']:.0%} (intake.range_margin), in {features}"
        )
    return f"{said}; {_REMEDY[part]}"


def quality_check(quality: dict, min_quality: float, floors: QualityFloors, rows: int) -> CheckOutcome:
    """``quality_above_minimum``: every part at least its floor, and the mean at least ``min_quality``."""
    score = quality["score"]
    parts = {k: v for k, v in quality["parts"].items() if v is not None}
    if rows == 0:
        return CheckOutcome(
            QUALITY_ABOVE_MINIMUM, False, True,
            "no new rows remain after removing duplicates and benchmark copies: the file adds nothing",
            {"score": score, "code": "E_INTAKE_NOTHING_NEW"},
        )
    floor_of = floors.as_dict()
    below = [part for part, value in parts.items() if value < floor_of[part]]
    problems = [_below_floor(part, parts[part], floor_of[part], quality) for part in below]
    if score < min_quality:
        problems.append(
            f"quality {score:.2f} is below the minimum {min_quality:.2f} (intake.min_quality); improve the weakest part"
        )
    summary = f"quality {score:.2f} ({', '.join(f'{k} {v:.2f}' for k, v in parts.items())})"
    metadata: dict[str, Any] = {"score": score, **parts}
    if quality["out_of_range"]:
        metadata["out_of_range"] = quality["out_of_range"]
    if quality["range_not_checked"]:
        metadata["range_not_checked"] = quality["range_not_checked"]
    if problems:
        metadata |= {"code": "E_INTAKE_LOW_QUALITY", "below_floor": below}
    return CheckOutcome(QUALITY_ABOVE_MINIMUM, not problems, True, "; ".join([summary, *problems]), metadata)
