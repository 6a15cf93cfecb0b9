"""Scanning a table's text columns: RE2 prefilter and gates in C, precise detectors in Python.

See the package docstring for the four stages and the rules they apply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hokusai_assets.lib.intake.pii.patterns import (
    ENTITY_PREFILTERS,
    PREFILTER,
    SEED_BIT,
    SEED_MIN_WORDS,
    SEED_SEP,
    SEED_SHAPE,
    combined,
)
from hokusai_assets.lib.intake.pii.pseudonyms import ENTITIES, PiiError, PiiKey, pseudonym
from hokusai_assets.lib.intake.pii.report import PiiReport, column_hint
from hokusai_assets.lib.intake.pii.validators import (
    bip39_words,
    iban_prefix,
    seed_spans,
    valid_card,
    valid_eth_key,
    valid_ipv4,
    valid_ipv6,
    valid_phone,
    valid_ssn,
)


class _Scanner:
    """Finds (and optionally replaces) PII spans in one string at a time."""

    def __init__(self, key: PiiKey | None) -> None:
        self.key = key
        self.words = bip39_words()
        self.counts: dict[str, int] = {}
        self._cache: dict[tuple[str, str], str] = {}

    def _found(self, entity: str, value: str) -> str:
        self.counts[entity] = self.counts.get(entity, 0) + 1
        if self.key is None:
            return "<" + entity + ">"
        cached = self._cache.get((entity, value))
        if cached is None:
            cached = self._cache[(entity, value)] = pseudonym(self.key, entity, value)
        return cached

    def _replace(self, match: re.Match) -> str:
        kind = match.lastgroup
        text = match.group()
        if kind == "skip":
            return text
        if kind == "email":
            return self._found(kind, text)
        if kind == "phone":
            if valid_phone(text, match.string, match.start()):
                return self._found(kind, text)
        elif kind == "ipv4":
            if valid_ipv4(text, match.string, match.start()):
                return self._found("ip_address", text)
        elif kind == "ipv6":
            if valid_ipv6(text):
                return self._found("ip_address", text)
        elif kind == "payment_card":
            if valid_card(text):
                return self._found(kind, text)
        elif kind == "us_ssn":
            if valid_ssn(text, match.string, match.start()):
                return self._found(kind, text)
        elif kind == "iban":
            found = iban_prefix(text)
            if found is not None:
                return self._found(kind, found) + text[len(found) :]
        elif kind == "eth_private_key":
            if valid_eth_key(text, match.string, match.start()):
                return self._found(kind, text)
        return text

    def scan(self, text: str, bits: int) -> str:
        """Scan ``text`` with the detectors whose bit is set (the seed phrase is the top bit)."""
        detectors = bits & (SEED_BIT - 1)
        if bits & SEED_BIT:
            spans = seed_spans(text, self.words)
            for start, end in reversed(spans):
                text = text[:start] + self._found("seed_phrase", text[start:end]) + text[end:]
            if spans:  # the gates were computed on the text before: open them all
                detectors = SEED_BIT - 1
        if detectors:
            text = combined(detectors, "<" in text).sub(self._replace, text)
        return text


def _is_text(dtype) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def text_columns(frame: pd.DataFrame, columns: Sequence[str] | None) -> list[int]:
    """Positions of the columns to scan: the text ones (of ``columns``, if given)."""
    if columns is not None:
        missing = [str(name) for name in columns if name not in frame.columns]
        if missing:
            raise PiiError(
                f"cannot scan columns that are not in the table: {', '.join(missing)}; "
                "check the column names",
                code="E_PII_UNKNOWN_COLUMN",
            )
        wanted = set(columns)
    return [
        i
        for i, (name, dtype) in enumerate(zip(frame.columns, frame.dtypes))
        if (columns is None or name in wanted) and _is_text(dtype)
    ]


def _as_arrow(values: np.ndarray) -> tuple[pa.Array, np.ndarray | None]:
    """The string cells as an Arrow array, and their positions if not every cell is one."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pa.array(values, type=pa.string(), from_pandas=True), None
    # Mixed objects (numbers or bytes among strings): scan the str cells only.
    positions = np.flatnonzero([type(v) is str for v in values])
    return pa.array(values[positions].tolist(), type=pa.string()), positions


def _matches(strings: pa.Array, pattern: str) -> np.ndarray:
    mask = pc.fill_null(pc.match_substring_regex(strings, pattern), False)
    return mask.to_numpy(zero_copy_only=False)


def _trie_pattern(words: frozenset[str]) -> str:
    """An alternation of ``words`` factored by common prefixes (small and fast for RE2)."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [char + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


@lru_cache(maxsize=1)
def _bip39_word_re2() -> str:
    # Whole ASCII words only, like the Python side (\b on both ends, case-insensitive).
    return r"(?i)\b" + _trie_pattern(bip39_words()) + r"\b"


# After every BIP-39 word is replaced by "#": twelve of them in a row.
_SEED_RUN = "#(?:" + SEED_SEP + "+#){%d}" % (SEED_MIN_WORDS - 1)
_DETECTOR_PREFILTER = "|".join(ENTITY_PREFILTERS[:-1])


def _gates(candidates: pa.Array) -> np.ndarray:
    """Bit i set when detector i may match the cell (top bit: a seed phrase may be there).

    Each gate is an RE2 superset of its Python detector, so the Python stage runs only the
    detectors that can find something, on the cells where they can.
    """
    bits = np.zeros(len(candidates), dtype=np.int64)
    some = np.flatnonzero(_matches(candidates, _DETECTOR_PREFILTER))
    if len(some):
        subset = candidates.take(pa.array(some))
        for i, pattern in enumerate(ENTITY_PREFILTERS[:-1]):
            bits[some[_matches(subset, pattern)]] |= 1 << i
    # Seed phrases in two steps: the cheap shape (12 short words), then, on those cells
    # only, every BIP-39 word marked in C and a run of twelve marks looked for.
    shaped = np.flatnonzero(_matches(candidates, SEED_SHAPE))
    if len(shaped):
        words = candidates.take(pa.array(shaped))
        marked = pc.replace_substring_regex(words, _bip39_word_re2(), "#")
        bits[shaped[_matches(marked, _SEED_RUN)]] |= SEED_BIT
    return bits


# A replacement changes the neighbours of the spans around it; cells are scanned again
# until nothing changes, so the result is exactly what find_cleartext_pii will accept.
_MAX_ROUNDS = 8


def _scan_column(series: pd.Series, key: PiiKey | None) -> tuple[dict[str, int], dict[int, str]]:
    """(counts per entity, position -> new text of every changed cell) for one column."""
    values = series.to_numpy(dtype=object, copy=False)
    strings, positions = _as_arrow(values)
    if positions is None:
        positions = np.arange(len(values))
    scanner = _Scanner(key)
    changed: dict[int, str] = {}
    for _ in range(_MAX_ROUNDS):
        hits = np.flatnonzero(_matches(strings, PREFILTER)) if len(strings) else []
        if not len(hits):
            break
        candidates = strings.take(pa.array(hits))
        bits = _gates(candidates)
        keep = np.flatnonzero(bits)
        round_positions, round_texts = [], []
        texts = candidates.take(pa.array(keep)).to_pylist()
        for position, text, mask in zip(positions[hits[keep]].tolist(), texts, bits[keep].tolist()):
            out = scanner.scan(text, mask)
            if out != text:
                changed[position] = out
                round_positions.append(position)
                round_texts.append(out)
        if not round_texts:
            break
        strings = pa.array(round_texts, type=pa.string())
        positions = np.asarray(round_positions, dtype=np.int64)
    return scanner.counts, changed


def _ordered(counts: dict[str, int]) -> dict[str, int]:
    return {entity: counts[entity] for entity in ENTITIES if counts.get(entity)}


def _merge(into: dict[str, dict[str, int]], column: str, found: dict[str, int]) -> None:
    if found:  # a duplicated column name adds up
        merged = into.setdefault(column, {})
        for entity, n in found.items():
            merged[entity] = merged.get(entity, 0) + n
        into[column] = _ordered(merged)


def scan_and_pseudonymise(
    frame: pd.DataFrame, key: PiiKey, columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, PiiReport]:
    """Replace every detected PII span in the text columns by its pseudonym.

    Scans every object/string column (or those of ``columns``). Returns a new frame (the
    input is not modified) and a report of counts per column and entity. Other columns,
    missing values and non-string cells are left as they are.
    """
    scan = text_columns(frame, columns)
    out = frame.copy(deep=False)
    counts: dict[str, dict[str, int]] = {}
    for i in scan:
        series = frame.iloc[:, i]
        found, changed = _scan_column(series, key)
        _merge(counts, str(frame.columns[i]), found)
        if changed:
            column = series.copy()
            positions = np.fromiter(changed.keys(), dtype=np.int64, count=len(changed))
            column.iloc[positions] = list(changed.values())
            out.isetitem(i, column)
    hints = {str(name): hint for name in frame.columns if (hint := column_hint(name))}
    report = PiiReport(
        key_id=key.key_id,
        counts=counts,
        column_hints=hints,
        scanned_columns=[str(frame.columns[i]) for i in scan],
    )
    return out, report


def find_cleartext_pii(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Counts of PII values in clear in the text columns (pseudonym tokens are not PII)."""
    result: dict[str, dict[str, int]] = {}
    for i in text_columns(frame, None):
        found, _ = _scan_column(frame.iloc[:, i], None)
        _merge(result, str(frame.columns[i]), found)
    return result


def pseudonymise_names(names: Sequence[object], key: PiiKey | None) -> dict[str, str]:
    """The names among ``names`` that hold PII, each mapped to a safe stand-in.

    Column names are chosen by whoever wrote the file, and one can be an e-mail address;
    names are echoed in messages, reports, Dagster metadata and the run database. Each PII
    span is replaced by its keyed pseudonym (``<email:…>``, the same as for a value) or,
    without a key, by its kind (``<email>``).
    """
    texts = pd.Series([str(name) for name in names], dtype=object)
    if texts.empty:
        return {}
    _, changed = _scan_column(texts, key)
    return {texts.iloc[position]: shown for position, shown in changed.items()}
