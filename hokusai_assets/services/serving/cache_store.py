"""Where cached predictions live: this process (default) or a Redis shared by several servers.

``HOKUSAI_CACHE_URL=redis://host:port/db`` selects Redis; values are JSON, each with the
configured TTL (``SET … EX``), so Redis bounds and expires them itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from hokusai_assets.lib.serving.cache import TTLCache
from hokusai_assets.lib.serving.errors import ServingError

log = logging.getLogger("hokusai.serve")


class PredictionStore(Protocol):
    kind: str

    def get_many(self, keys: list[str]) -> list[Any | None]: ...

    def put_many(self, items: Mapping[str, Any]) -> None: ...


class InProcessStore:
    kind = "memory"

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._cache = TTLCache(max_entries, ttl_seconds)

    def get_many(self, keys: list[str]) -> list[Any | None]:
        return self._cache.get_many(keys)

    def put_many(self, items: Mapping[str, Any]) -> None:
        self._cache.put_many(items)


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, ttl_seconds: float) -> None:
        import redis

        self._ttl = max(1, round(ttl_seconds))  # SET ... EX takes whole seconds
        self._errors = redis.RedisError
        self.failures = 0
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            self._redis.ping()
        except (redis.RedisError, ValueError) as error:
            raise ServingError(
                f"HOKUSAI_CACHE_URL: cannot reach Redis ({type(error).__name__}); start it or unset the variable "
                "for the in-process cache",
                code="E_SERVE_CACHE",
                status=503,
            ) from error

    def get_many(self, keys: list[str]) -> list[Any | None]:
        # A cache that is down is a cache that misses: the model still answers.
        try:
            found = self._redis.mget(keys)
        except self._errors as error:
            self._failed("read", error)
            return [None] * len(keys)
        return [None if raw is None else json.loads(raw) for raw in found]

    def put_many(self, items: Mapping[str, Any]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key, value in items.items():
                pipe.set(key, json.dumps(value, separators=(",", ":")), ex=self._ttl)
            pipe.execute()
        except self._errors as error:
            self._failed("write", error)

    def _failed(self, what: str, error: Exception) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 1000 == 0:
            log.warning("Redis cache %s failed (%s, %d so far): answering without the cache", what, type(error).__name__, self.failures)


def open_store(url: str | None, max_entries: int, ttl_seconds: float) -> PredictionStore:
    if not url:
        return InProcessStore(max_entries, ttl_seconds)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url, ttl_seconds)
    raise ServingError(
        f"HOKUSAI_CACHE_URL must be a redis:// URL (got a {url.split(':', 1)[0][:10]!r} URL); unset it for the in-process cache",
        code="E_SERVE_CACHE",
    )
