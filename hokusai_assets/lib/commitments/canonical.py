"""Canonical values, canonical row bytes and canonical JSON: the definition every hash is built on.

The contract of the whole commitment (values, rows, frames, leaves, root, proofs, digests)
is the package docstring (``lib/commitments/__init__.py``); this module is its per-cell
reference, which ``rows.py`` reproduces column-wise for whole frames.
"""


from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import rfc8785

from hokusai_assets.lib.errors import CommitmentError

# Largest integer an IEEE double (and so an RFC 8785 number) holds exactly.
MAX_SAFE_INTEGER = 2**53 - 1
NAN_POLICY_HINT = (
    "A committed row may not hold NaN or infinity: the NaN policy in hokusai.yaml decides "
    "whether validation rejects such rows or turns the value into null; make sure "
    "validation runs before the data is committed."
)


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes of ``obj`` (statements, configs, predicates)."""
    try:
        return rfc8785.dumps(obj)
    except rfc8785.IntegerDomainError as exc:
        raise CommitmentError(
            f"Cannot canonicalise: {exc}. Integers beyond ±(2**53 - 1) have no exact JSON "
            "number form; store them as strings.",
            code="E_COMMIT_INT_RANGE",
        ) from exc
    except rfc8785.FloatDomainError as exc:
        raise CommitmentError(
            f"Cannot canonicalise: {exc}. NaN and infinity have no JSON form; replace them "
            "with null or a finite number.",
            code="E_COMMIT_NONFINITE",
        ) from exc
    except rfc8785.CanonicalizationError as exc:
        raise CommitmentError(
            f"Cannot canonicalise: {exc}. Only null, booleans, numbers, strings, lists and "
            "objects with string keys can be canonicalised.",
            code="E_COMMIT_UNSUPPORTED_TYPE",
        ) from exc


def _is_missing_scalar(value: Any) -> bool:
    # NaT is pandas' missing marker for dates; treat it like None and pd.NA.
    return value is None or value is pd.NA or value is pd.NaT


def to_canonical_value(value: Any) -> Any:
    """Convert one cell to its JSON-ready canonical value (see the module docstring).

    Raises :class:`CommitmentError` for NaN, ±inf (``E_COMMIT_NONFINITE``) and for any
    type with no canonical form (``E_COMMIT_UNSUPPORTED_TYPE``).
    """
    if _is_missing_scalar(value):
        return None
    # bool before int: bool is a subclass of int.
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        number = int(value)
        # rfc8785 refuses integers a double cannot hold exactly; keep them exact as text.
        return number if abs(number) <= MAX_SAFE_INTEGER else str(number)
    if isinstance(value, (float, np.float16, np.float32, np.float64)):
        number = float(value)  # exact for float16/float32 widening
        if not math.isfinite(number):
            raise CommitmentError(
                f"Value {number!r} cannot be committed. {NAN_POLICY_HINT}",
                code="E_COMMIT_NONFINITE",
            )
        return number
    if isinstance(value, str):
        return str(value)  # drop subclasses (np.str_, str enums) to the plain value
    raise CommitmentError(
        f"Value {value!r} of type {type(value).__name__} has no canonical form. Committed "
        "cells must be null, booleans, integers, finite floats or strings; convert the "
        "column (for example dates to ISO 8601 strings) before committing.",
        code="E_COMMIT_UNSUPPORTED_TYPE",
    )


def canonical_row_bytes(row: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of ``{column: to_canonical_value(value)}``."""
    obj: dict[str, Any] = {}
    for key, value in row.items():
        if not isinstance(key, str):
            raise CommitmentError(
                f"Column name {key!r} is not a string; JSON object keys must be strings. "
                "Rename the column.",
                code="E_COMMIT_UNSUPPORTED_TYPE",
            )
        try:
            obj[key] = to_canonical_value(value)
        except CommitmentError as exc:
            raise CommitmentError(f"Column {key!r}: {exc.message}", code=exc.code) from exc
    return canonical_json(obj)
