"""Cached predictions: look rows up under the resolved model's digest, score the misses, remember them.

The server and the Python API share this; the server scores misses through its
micro-batcher, the API directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hokusai_assets.lib.serving.cache import prediction_key
from hokusai_assets.services.serving.cache_store import PredictionStore
from hokusai_assets.services.serving.catalogue import Resolved


def cached_lookup(store: PredictionStore, resolved: Resolved, rows: Sequence[dict]) -> tuple[list[str], list[Any | None]]:
    keys = [prediction_key(resolved.model_digest, row) for row in rows]
    return keys, store.get_many(keys)


def fill_misses(
    store: PredictionStore,
    keys: list[str],
    found: list[Any | None],
    rows: Sequence[dict],
    scored: Sequence[dict],
) -> list[dict[str, Any]]:
    """The answers in request order, each marked ``from_cache``; the newly scored are stored."""
    misses = [i for i, hit in enumerate(found) if hit is None]
    store.put_many({keys[i]: answer for i, answer in zip(misses, scored, strict=True)})
    fresh = dict(zip(misses, scored, strict=True))
    return [
        {**(fresh[i] if hit is None else hit), "from_cache": hit is not None}
        for i, hit in enumerate(found)
    ]


def predict_now(
    store: PredictionStore, resolved: Resolved, rows: Sequence[dict], score: Callable[[Resolved, list[dict]], Sequence[dict]]
) -> list[dict[str, Any]]:
    keys, found = cached_lookup(store, resolved, rows)
    misses = [row for row, hit in zip(rows, found, strict=True) if hit is None]
    return fill_misses(store, keys, found, rows, score(resolved, misses) if misses else [])
