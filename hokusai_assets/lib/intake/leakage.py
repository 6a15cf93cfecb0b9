"""Benchmark leakage: contribution rows that copy a benchmark row's features, exactly or nearly.

The benchmark is for evaluation only: a model trained on its rows is scored on rows it has
seen. A contribution row leaks when its features equal a benchmark row's (an *exact copy*,
whatever its label), or when it is a benchmark row edited a little (a *near copy*): either

- at most ``max_differing_features`` of its features differ from that row's, by any amount,
  whatever their type (one nudged number, or one edited category or text), or
- its category and text features equal that row's, the same numbers (int, float, bool) are
  missing, and the Euclidean distance over the numbers, after dividing each by the baseline
  training set's standard deviation (1 for a feature constant there), is at most
  ``max_standardised_distance`` (many numbers nudged a little).

Near copies are looked for only when the task has at least ``min_numeric_features`` numeric
features; category and text features do not count toward it. With few, coarse features
genuine rows come that close to a benchmark row by chance (the bundled mixed sample, three
numbers, has a genuine row within the distance of a benchmark row), so there only exact
copies count. A category (a handful of values) or a short text says little about whether two
rows are one row, so adding them to a task with few numbers does not make a chance match
rare; with enough numbers, an edit to one category or text is caught like a nudged number.

Cost: about rows × features for the differing-features rule (a hash of each row with one
feature left out, looked up among the benchmark's) and one nearest-neighbour query per row
among the benchmark rows with the same strings (scikit-learn's ``NearestNeighbors``), taken in
chunks of rows so that memory stays bounded whatever the file's size. The nearest-neighbour
index holds the numbers centred on the baseline's mean and divided by its standard deviation:
its brute-force search computes a squared distance as |a|² + |b|² − 2a·b, which rounds away a
small distance between two rows far from zero (a timestamp near 1.7e9 with a spread of 1), so
it is used only while every benchmark row lies close enough to the baseline's mean for that
rounding to stay far below the distance limit's slack; otherwise a k-d tree, which subtracts
values before squaring them, searches exactly. Hashes and the index only find candidates;
every copy is confirmed by comparing values, so a hash collision never removes an honest row.
The numbers are the same for the same input, whatever its row order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.task import NUMERIC_FEATURE_TYPES, TaskSchema

_CHUNK_ROWS = 32_768  # about 100 MB of working arrays at 64 features, whatever the file's size
_BRUTE_FORCE_MAX_ROWS = 4_096
# The brute-force search's rounding of a squared distance, |a|² + |b|² − 2a·b, is at most
# about 4 × (features + 2) × 2.2e-16 × (|a|² + |b|²); brute force is used only while that bound,
# over the group's benchmark rows, is below this share of the squared distance limit, well
# inside the search's slack (see _search_limit).
_BRUTE_FORCE_MAX_ERROR = 1e-6


@dataclass(frozen=True)
class NearCopyRule:
    """When a row is a near copy of a benchmark row (``intake.near_copy``); see the module docstring."""

    # 0 or 1: one left-out feature keeps the cost at rows × features (k features would cost
    # rows × features**k).
    max_differing_features: int = 1
    # 0 turns the distance rule off. Genuine rows of the bundled tasks are at least 0.97 (12
    # features) and 1.4 (64 features) from their nearest benchmark row.
    max_standardised_distance: float = 0.25
    min_numeric_features: int = 8

    def applies_to(self, numeric_features: int) -> bool:
        return numeric_features >= self.min_numeric_features and (
            self.max_differing_features > 0 or self.max_standardised_distance > 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class BenchmarkCopies:
    """Which contribution rows copy a benchmark row, and for each near copy how near it is."""

    exact: np.ndarray  # bool per row: features equal a benchmark row's
    near: np.ndarray  # bool per row: a near copy (never also exact)
    differing: np.ndarray  # per row: features (any type) that differ from the copied row (near copies only)
    distance: np.ndarray  # per row: standardised distance over the numbers to the copied row (near copies only)
    rule: NearCopyRule
    numeric_features: int

    @property
    def leaked(self) -> np.ndarray:
        return self.exact | self.near

    def report(self) -> dict[str, Any]:
        """Counts and distances only, never a value; the same bytes for the same input."""
        distances = np.sort(self.distance[self.near])
        differing, counts = np.unique(self.differing[self.near], return_counts=True)
        return {
            "rows": int(self.leaked.sum()),
            "exact_copies": int(self.exact.sum()),
            "near_copies": int(self.near.sum()),
            "near_copy": {
                "looked_for": self.rule.applies_to(self.numeric_features),
                "numeric_features": self.numeric_features,
                **self.rule.as_dict(),
                # how many near copies differ from their benchmark row in 1, 2, ... features
                "differing_features": {str(int(k)): int(c) for k, c in zip(differing, counts)},
                "distance": None
                if distances.size == 0
                else {
                    "min": round(float(distances[0]), 6),
                    "median": round(float(np.median(distances)), 6),
                    "max": round(float(distances[-1]), 6),
                },
            },
        }


def rows_equal_to_some(frame: pd.DataFrame, other: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Which rows of ``frame`` equal some row of ``other`` on ``columns`` (exactly).

    A 64-bit hash of each row finds candidates in C; candidates are then confirmed by
    exact comparison, so a hash collision can never throw away an honest row. Hashed column
    by column, so a large file is never copied whole.
    """
    if frame.empty or other.empty:
        return np.zeros(len(frame), dtype=bool)
    candidates = np.flatnonzero(np.isin(_row_hashes(frame, columns), _row_hashes(other, columns)))
    if candidates.size == 0:
        return np.zeros(len(frame), dtype=bool)
    exact = set(map(_comparable, other[columns].itertuples(index=False, name=None)))
    found = np.zeros(len(frame), dtype=bool)
    for i, row in zip(candidates, frame.iloc[candidates][columns].itertuples(index=False, name=None)):
        found[i] = _comparable(row) in exact
    return found


def _comparable(row: tuple) -> tuple:
    """A row whose missing cells (None, NaN, pd.NA) all compare equal: a missing value is null
    in a committed row, so two rows that differ only in how pandas marks missing are one row."""
    return tuple(None if v is None or (not isinstance(v, str) and pd.isna(v)) else v for v in row)


def find_benchmark_copies(
    frame: pd.DataFrame, benchmark: pd.DataFrame, baseline: pd.DataFrame, schema: TaskSchema, rule: NearCopyRule
) -> BenchmarkCopies:
    """The exact and near copies of benchmark rows among ``frame``'s rows (all frames conformed)."""
    numeric = [name for name, kind in schema.features if kind in NUMERIC_FEATURE_TYPES]
    exact = rows_equal_to_some(frame, benchmark, schema.feature_names)
    copies = BenchmarkCopies(
        exact=exact,
        near=np.zeros(len(frame), dtype=bool),
        differing=np.zeros(len(frame), dtype=np.int64),
        distance=np.full(len(frame), np.nan),
        rule=rule,
        numeric_features=len(numeric),
    )
    if not rule.applies_to(len(numeric)) or frame.empty or benchmark.empty:
        return copies
    index = _BenchmarkIndex(benchmark, baseline, schema, rule)
    candidates = np.flatnonzero(~exact)
    for start in range(0, candidates.size, _CHUNK_ROWS):
        rows = candidates[start : start + _CHUNK_ROWS]
        near, differing, distance = index.near_copies(frame.iloc[rows])
        copies.near[rows[near]] = True
        copies.differing[rows[near]] = differing[near]
        copies.distance[rows[near]] = distance[near]
    return copies


# --- hashing ---------------------------------------------------------------------------------

_U64 = np.uint64


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, element-wise: a well-spread 64-bit hash of each 64-bit value."""
    z = x + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    combined = np.zeros(len(frame), dtype=_U64)
    for j, column in enumerate(columns):
        cells = pd.util.hash_pandas_object(frame[column], index=False).to_numpy()
        combined = _mix(combined ^ (cells + _U64(j)))
    return combined


def _numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The numeric features as float64, missing as NaN, -0.0 as 0.0 (equal numbers, equal bits)."""
    return frame[columns].to_numpy(dtype="float64", na_value=np.nan) + 0.0


def _cell_hashes(numbers: np.ndarray) -> np.ndarray:
    """A hash per cell, salted by its column so a value hashes differently in each feature."""
    canonical = np.where(np.isnan(numbers), np.nan, numbers)  # one NaN bit pattern
    salts = _mix(np.arange(numbers.shape[1], dtype=_U64) + _U64(1))
    return _mix(canonical.view(_U64) ^ salts)


def _strings(frame: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    """The category and text features as object arrays, missing as None (so None == None)."""
    return [frame[c].astype(object).where(frame[c].notna(), None).to_numpy() for c in columns]


def _string_cell_hashes(strings: list[np.ndarray], rows: int) -> np.ndarray:
    """A hash per category and text cell, salted by its column (salts apart from the numbers')."""
    if not strings:
        return np.zeros((rows, 0), dtype=_U64)
    salts = _mix(np.arange(len(strings), dtype=_U64) + _U64(1 << 33))
    return np.column_stack(
        [
            _mix(pd.util.hash_pandas_object(pd.Series(values, dtype=object), index=False).to_numpy() ^ salt)
            for values, salt in zip(strings, salts)
        ]
    )


def _left_out_hashes(cells: np.ndarray) -> np.ndarray:
    """Per row and feature, the row's hash with that feature left out: equal for two rows that
    agree everywhere but in that feature (a sum of cell hashes, so one subtraction per cell)."""
    return cells.sum(axis=1, dtype=_U64)[:, None] - cells


def _grouped(keys: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct keys, sorted, and the positions holding each (one sort, whatever the count)."""
    order = np.argsort(keys, kind="stable")
    distinct, starts = np.unique(keys[order], return_index=True)
    return distinct, np.split(order, starts[1:])


class _BenchmarkIndex:
    """The benchmark rows, hashed and indexed once; each chunk of contribution rows is asked of it."""

    def __init__(self, benchmark: pd.DataFrame, baseline: pd.DataFrame, schema: TaskSchema, rule: NearCopyRule):
        self.rule = rule
        self.numeric = [name for name, kind in schema.features if kind in NUMERIC_FEATURE_TYPES]
        self.string_columns = [name for name, kind in schema.features if kind not in NUMERIC_FEATURE_TYPES]
        with warnings.catch_warnings():  # a feature missing from every baseline row has no mean or spread
            warnings.simplefilter("ignore", RuntimeWarning)
            reference = _numbers(baseline, self.numeric)
            centre, spread = np.nanmean(reference, axis=0), np.nanstd(reference, axis=0)
        self.centre = np.where(np.isfinite(centre), centre, 0.0)
        self.scale = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
        self.numbers = _numbers(benchmark, self.numeric)
        self.strings = _strings(benchmark, self.string_columns)
        string_cells = _string_cell_hashes(self.strings, len(benchmark))
        cells = np.hstack([_cell_hashes(self.numbers), string_cells])  # every feature, numbers first
        masked = _left_out_hashes(cells)
        unique, first = np.unique(masked.ravel(), return_index=True)
        self.masked_index = pd.Index(unique)  # a hash table: one lookup per row and feature
        self.masked_rows = first // cells.shape[1]  # the (first) benchmark row of each
        # Groups for the distance rule: equal strings and the same numbers missing.
        string_hashes = string_cells.sum(axis=1, dtype=_U64)
        self.group_keys, self.group_rows = _grouped(self._groups(string_hashes, self.numbers))
        self._neighbours: dict[int, tuple[Any, bool]] = {}

    def _groups(self, string_hashes: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        salts = _mix(np.arange(numbers.shape[1], dtype=_U64) + _U64(1 << 32))
        return _mix(string_hashes ^ (np.isnan(numbers) * salts).sum(axis=1, dtype=_U64))

    def near_copies(self, chunk: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row of ``chunk``: whether it is a near copy, and its differing features and distance."""
        numbers = _numbers(chunk, self.numeric)
        strings = _strings(chunk, self.string_columns)
        string_cells = _string_cell_hashes(strings, len(chunk))
        copied = np.full(len(chunk), -1)  # the benchmark row each row copies, -1 for none
        if self.rule.max_differing_features > 0:
            copied = self._one_feature_apart(np.hstack([_cell_hashes(numbers), string_cells]))
        string_hashes = string_cells.sum(axis=1, dtype=_U64)
        if self.rule.max_standardised_distance > 0:
            unmatched = copied < 0
            nearest = self._nearest_within_distance(numbers[unmatched], string_hashes[unmatched])
            copied[unmatched] = nearest
        found = np.flatnonzero(copied >= 0)
        theirs = copied[found]
        # Confirm every candidate by value: the rule met, over every feature.
        strings_differing = np.zeros(found.size, dtype=np.int64)
        for mine, other in zip(strings, self.strings):
            strings_differing += mine[found] != other[theirs]
        a, b = numbers[found], self.numbers[theirs]
        equal = (a == b) | (np.isnan(a) & np.isnan(b))
        differing = (~equal).sum(axis=1) + strings_differing
        both = ~(np.isnan(a) | np.isnan(b))
        distance = np.sqrt(np.where(both, ((a - b) / self.scale) ** 2, 0.0).sum(axis=1))
        same_missing = (np.isnan(a) == np.isnan(b)).all(axis=1)
        rule = self.rule
        near_copy = (differing <= rule.max_differing_features) | (
            (strings_differing == 0) & same_missing & (distance <= rule.max_standardised_distance)
        )
        near = np.zeros(len(chunk), dtype=bool)
        near[found[near_copy]] = True
        out_differing = np.zeros(len(chunk), dtype=np.int64)
        out_differing[found] = differing
        out_distance = np.full(len(chunk), np.nan)
        out_distance[found] = distance
        return near, out_differing, out_distance

    def _one_feature_apart(self, cells: np.ndarray) -> np.ndarray:
        """Per row, a benchmark row whose hash with one feature left out equals the row's (-1: none)."""
        position = self.masked_index.get_indexer(_left_out_hashes(cells).ravel()).reshape(cells.shape)
        hit = position >= 0
        rows = np.flatnonzero(hit.any(axis=1))
        first = hit[rows].argmax(axis=1)  # the first left-out feature that matches
        copied = np.full(len(cells), -1)
        copied[rows] = self.masked_rows[position[rows, first]]
        return copied

    def _nearest_within_distance(self, numbers: np.ndarray, string_hashes: np.ndarray) -> np.ndarray:
        """Per row, the nearest benchmark row with the same strings and missing numbers, if within
        the distance (a little over it: the exact distance is confirmed by the caller); -1: none."""
        copied = np.full(len(numbers), -1)
        limit = _search_limit(self.rule.max_standardised_distance)
        keys, row_groups = _grouped(self._groups(string_hashes, numbers))
        at = np.searchsorted(self.group_keys, keys)
        at[at == self.group_keys.size] = 0
        for key, rows, group in zip(keys, row_groups, at):
            if self.group_keys[group] != key:
                continue  # no benchmark row has these strings and missing numbers
            theirs = self.group_rows[group]
            present = ~np.isnan(self.numbers[theirs[0]])
            rows = rows[(np.isnan(numbers[rows]) != present).all(axis=1)]  # the same numbers missing
            if not present.any() or rows.size == 0:
                continue  # nothing numeric to be near in: only an exact copy, found before
            neighbours, brute_force = self._neighbours_of(int(group), theirs, present)
            queries = (numbers[rows][:, present] - self.centre[present]) / self.scale[present]
            if brute_force:
                distance, nearest = neighbours.kneighbors(queries, n_neighbors=1)
                within = distance[:, 0] <= limit
                copied[rows[within]] = theirs[nearest[within, 0]]
                continue
            _, inside = neighbours.radius_neighbors(queries, radius=limit, sort_results=True)
            for row, candidates in zip(rows, inside):
                if candidates.size:
                    copied[row] = theirs[candidates[0]]
        return copied

    def _neighbours_of(self, group: int, theirs: np.ndarray, present: np.ndarray):
        from sklearn.neighbors import NearestNeighbors  # ~1 s to import: only when a task needs it

        if group not in self._neighbours:
            scaled = (self.numbers[theirs][:, present] - self.centre[present]) / self.scale[present]
            # Up to a few thousand benchmark rows, every distance (BLAS) beats a tree in any
            # dimension; beyond, a k-d tree asked only within the small radius prunes most rows.
            # Brute force rounds a distance between rows far from the centre (see the module
            # docstring): a tree then, whatever the count.
            limit = self.rule.max_standardised_distance
            rounding = 4 * (scaled.shape[1] + 2) * np.finfo(np.float64).eps * ((scaled**2).sum(axis=1).max() + limit**2)
            brute_force = len(theirs) <= _BRUTE_FORCE_MAX_ROWS and rounding <= _BRUTE_FORCE_MAX_ERROR * limit**2
            algorithm = "brute" if brute_force else "kd_tree"
            self._neighbours[group] = (NearestNeighbors(n_neighbors=1, algorithm=algorithm).fit(scaled), brute_force)
        return self._neighbours[group]


def _search_limit(limit: float) -> float:
    """The distance the index is asked within: a little over the limit, so that no rounding of a
    distance at the limit loses a candidate (the exact distance is confirmed by the caller). The
    brute-force search's rounding of a squared distance is at most 1e-6 of the squared limit (see
    _BRUTE_FORCE_MAX_ERROR), which moves a distance at the limit by at most 5e-7 of it."""
    return limit * (1 + 1e-6) + 1e-12
