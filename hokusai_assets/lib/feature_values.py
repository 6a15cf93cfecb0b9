"""The one rule for the values of ``category`` and ``text`` features.

Intake (``intake.conform``), serving (``serving.requests``) and the model's own feature
encoder (``training.features``, so also the MLflow pyfunc) all read such a value through
:func:`feature_value`, so a value means the same thing wherever it arrives:

* a string is kept as it is; a number is its JSON text (``7`` and ``7.0`` are ``"7"``,
  ``2.5`` is ``"2.5"``), a boolean ``"true"``/``"false"``; None, NaN and pd.NA are missing;
* a category is then stripped of surrounding whitespace, and an empty one is missing;
* a text is kept as written, except that an empty one is missing (surrounding whitespace
  never changes its words, which is all the model reads of it).

The rule is idempotent: a value that went through it once comes out unchanged, so the
encoder applying it to rows intake already normalised changes nothing it computes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

STRING_FEATURE_TYPES = frozenset({"category", "text"})


def value_text(value: Any) -> str | None:
    """A cell as text, None where missing (nothing stripped; an empty string stays empty)."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    return str(value)


def category_value(value: Any) -> str | None:
    """A category: its text stripped of surrounding whitespace, None where missing or empty."""
    text = value_text(value)
    if text is None:
        return None
    text = text.strip()
    return text or None


def text_value(value: Any) -> str | None:
    """A free text: its text as written, None where missing or empty."""
    return value_text(value) or None


def feature_value(kind: str, value: Any) -> str | None:
    """The value of a ``category`` or ``text`` feature (see the module docstring)."""
    return category_value(value) if kind == "category" else text_value(value)


def feature_values(kind: str, values: Any) -> list[str | None]:
    """:func:`feature_value` of every value of an iterable (a column's ``tolist()``)."""
    normalise = category_value if kind == "category" else text_value
    return [normalise(v) for v in values]
