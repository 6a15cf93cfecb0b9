"""`hokusai serve`: the champion (or any alias or version) over HTTP, with FastAPI on uvicorn.

Every request resolves alias -> version -> model digest from the registry snapshot, which a
background task refreshes every ``serving.alias_refresh_seconds``; so a promotion or rollback
made anywhere is served within a second, without a restart, and a request in flight keeps
the version it resolved. Predictions are cached under (model digest, row digest) and cache
misses of concurrent requests for one version are scored in one micro-batch.

Errors answer ``{"code": "E_…", "message": …}`` with a 4xx status; nothing a caller sends is
logged (rows can hold personal data): the log has the path, status and timing only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.experiments.outcomes import check_unit_id, parse_outcomes
from hokusai_assets.lib.experiments.spec import Arm
from hokusai_assets.lib.registry.promotion import CHAMPION
from hokusai_assets.lib.serving.batching import MicroBatcher
from hokusai_assets.lib.serving.errors import ServingError
from hokusai_assets.lib.serving.requests import parse_rows
from hokusai_assets.lib.serving.scoring import score_rows
from hokusai_assets.services.experiments import lifecycle
from hokusai_assets.services.experiments.router import ExperimentRouter, Route
from hokusai_assets.services.serving.cache_store import open_store
from hokusai_assets.services.serving.catalogue import ModelCatalogue, Resolved
from hokusai_assets.services.serving.predictions import cached_lookup, fill_misses
from hokusai_assets.services.serving.pseudonyms import RequestPiiKey
from hokusai_assets.settings.load import Settings

log = logging.getLogger("hokusai.serve")

CACHE_URL_ENV = "HOKUSAI_CACHE_URL"
TOKENS_ENV = "HOKUSAI_SERVING_TOKENS"
ADMIN_TOKENS_ENV = "HOKUSAI_ADMIN_TOKENS"
# How long an experiment arm whose model failed to load waits before it is loaded ahead again.
WARM_RETRY_SECONDS = 30.0


class Metrics:
    """The Prometheus series of one app (its own registry, so two apps in a test never mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hokusai_requests", "HTTP requests answered", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "hokusai_request_latency_seconds",
            "Time to answer a request",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.cache_hits = Counter("hokusai_cache_hits", "Rows answered from the prediction cache", registry=self.registry)
        self.cache_misses = Counter("hokusai_cache_misses", "Rows scored by a model", registry=self.registry)
        self.batch_rows = Histogram(
            "hokusai_batch_rows",
            "Rows per scoring call (micro-batches)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.predictions = Counter(
            "hokusai_predictions", "Rows answered, by model version", ["version"], registry=self.registry
        )


def _read_tokens(environ: Mapping[str, str], variable: str, file: str | None) -> set[str]:
    tokens = {t.strip() for t in environ.get(variable, "").split(",") if t.strip()}
    if file:
        path = Path(file).expanduser()
        if not path.is_file():
            raise ServingError(f"token file {path} not found; create it (one token per line, mode 0600)", code="E_SERVE_TOKENS")
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise ServingError(f"token file {path} is readable by others; chmod 600 {path}", code="E_SERVE_TOKENS")
        tokens |= {line.strip() for line in path.read_text().splitlines() if line.strip()}
    return tokens


class Access:
    """Bearer tokens: predictions need a serving (or admin) token and registry changes an admin
    token when ``serving.require_token`` is set."""

    def __init__(self, settings: Settings, environ: Mapping[str, str]) -> None:
        serving = settings.config.serving
        self.required = serving.require_token
        self.tokens = _read_tokens(environ, TOKENS_ENV, serving.token_file)
        self.admin = _read_tokens(environ, ADMIN_TOKENS_ENV, serving.admin_token_file)
        if self.required and not (self.tokens or self.admin):
            raise ServingError(
                f"serving.require_token is set but no token is configured: set {TOKENS_ENV} or serving.token_file",
                code="E_SERVE_TOKENS",
            )

    def check(self, request: Request, admin: bool, why: str = "registry changes through the API") -> None:
        """``why`` says what needs the admin token, in the error when none is configured."""
        if not self.required and not admin:
            return
        if admin and not self.admin:
            # Registry changes over HTTP always need an admin token: `hokusai models` is the local way.
            raise ServingError(
                f"{why} need an admin token: set {ADMIN_TOKENS_ENV} or "
                "serving.admin_token_file (or use hokusai models on this machine)",
                code="E_SERVE_FORBIDDEN",
                status=403,
            )
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ServingError("send Authorization: Bearer <token>", code="E_SERVE_UNAUTHORIZED", status=401)
        allowed = self.admin if admin else self.tokens | self.admin
        if not any(hmac.compare_digest(token.encode(), known.encode()) for known in allowed):
            what = "an admin token" if admin else "a serving token"
            raise ServingError(f"the token is not {what}", code="E_SERVE_FORBIDDEN", status=403)


def _json_body(raw: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ServingError(f"{name} is not a value: send finite numbers", code="E_SERVE_NOT_FINITE", status=422)

    try:
        return json.loads(raw, parse_constant=no_constants)
    except ServingError:
        raise
    except (ValueError, RecursionError):
        raise ServingError("the body is not valid JSON", code="E_SERVE_BAD_JSON", status=400) from None


def _unit_id(value: Any) -> str:
    try:
        return check_unit_id(value)
    except HokusaiError as error:
        raise ServingError(error.message, code="E_SERVE_BODY_SHAPE", status=422) from None


def _same_answer(one: dict, other: dict) -> bool:
    key = "label" if "label" in one else "value"
    return one.get(key) == other.get(key)


def pinned(arm: Arm) -> Resolved:
    """An experiment's arm as the catalogue loads it: by the digest and attested partition
    pinned at the start, named by the alias the experiment was started with (an arm given
    as a version number is answered as by ``?version=``: no alias)."""
    via = "version" if arm.reference == arm.version else arm.reference
    return Resolved(arm.version, arm.model_digest, arm.partition, via)


def create_app(settings: Settings, environ: Mapping[str, str] | None = None) -> FastAPI:
    environ = os.environ if environ is None else environ
    serving = settings.config.serving
    catalogue = ModelCatalogue(settings)
    store = open_store(environ.get(CACHE_URL_ENV), serving.cache_max_entries, serving.cache_ttl_seconds)
    access = Access(settings, environ)
    metrics = Metrics()
    state: dict[str, Any] = {"ready": False, "why": "starting: the registry has not been read yet"}
    experiments = lifecycle.open_store(settings, environ)
    router = ExperimentRouter(experiments, catalogue.name)
    reviewer = f"hokusai serve (pid {os.getpid()})"
    pii_key = RequestPiiKey(settings, environ)

    async def score(resolved: Resolved, rows: list[dict]) -> list[dict]:
        # Loading (verifying the attestation, reading the file) is I/O: in a thread, once per
        # version. Scoring a loaded model is short CPU work: on the loop (lib/serving/batching.py).
        model = catalogue.loaded_model(resolved) or await asyncio.to_thread(catalogue.model, resolved)
        return score_rows(model, rows)

    batcher = MicroBatcher(
        score,
        max_batch_rows=serving.max_batch_rows,
        max_wait_ms=serving.max_batch_wait_ms if serving.batching else 0,
        on_batch=metrics.batch_rows.observe,
    )

    def preload(resolved: Resolved) -> None:
        try:
            catalogue.model(resolved)
            state.update(ready=True, why=f"champion is version {resolved.version}")
        except HokusaiError as error:
            state.update(ready=False, why=error.message)
        except Exception as error:  # noqa: BLE001 - the type in the log, never a traceback
            log.warning("loading version %s failed: %s", resolved.version, type(error).__name__)
            state.update(ready=False, why=f"loading version {resolved.version} failed ({type(error).__name__})")
        finally:
            preloading.clear()

    def warm(resolved: Resolved) -> None:
        try:
            catalogue.model(resolved)
        except Exception as error:  # noqa: BLE001 - the request that needs it will answer the error
            log.warning("loading experiment arm version %s failed: %s", resolved.version, type(error).__name__)
            warm_failed[resolved.model_digest] = time.monotonic()
        finally:
            warming.discard(resolved.model_digest)

    def follow_experiment(reviewed_at: float) -> float:
        """Pick up a started or stopped experiment, write its exposures and counters, load its
        arms' models ahead of their first request, and review it now and then."""
        try:
            router.refresh()
        except Exception as error:  # noqa: BLE001 - routing keeps the last experiment; try again next time
            failure = error.message if isinstance(error, HokusaiError) else type(error).__name__
            if failure != state.get("experiment_store_failure"):  # once per kind of failure, not every second
                log.warning("experiment store refresh failed (%s); trying again at every refresh", failure)
                state["experiment_store_failure"] = failure
            return reviewed_at
        if state.pop("experiment_store_failure", None):
            log.warning("experiment store reachable again")
        experiment = router.experiment
        if experiment is None:
            return reviewed_at
        for arm in (experiment.spec.a, experiment.spec.b):
            resolved = pinned(arm)
            failed_at = warm_failed.get(arm.model_digest)
            if failed_at is not None and time.monotonic() - failed_at < WARM_RETRY_SECONDS:
                continue  # not a new thread and log line every refresh while an arm cannot load
            if arm.model_digest not in catalogue.loaded_digests() and arm.model_digest not in warming:
                warming.add(arm.model_digest)
                threading.Thread(target=warm, args=(resolved,), daemon=True).start()
        if reviewing.is_set() or time.monotonic() - reviewed_at < serving.experiment_review_seconds:
            return reviewed_at
        # Its own thread: a review that promotes talks to MLflow for seconds, and the aliases
        # must go on being refreshed meanwhile.
        reviewing.set()
        threading.Thread(target=review, args=(experiment.id,), name="experiment-review", daemon=True).start()
        return time.monotonic()

    def review(experiment_id: str) -> None:
        try:
            lifecycle.review(settings, experiments, experiment_id, actor=reviewer)
        except Exception as error:  # noqa: BLE001 - a failed review is tried again at the next interval
            log.warning("review of experiment %s failed (%s)", experiment_id, type(error).__name__)
        finally:
            reviewing.clear()

    def refresh_forever(stop: threading.Event) -> None:
        # Its own thread, not the event loop's pool: scoring can never hold up the next look at
        # the aliases, and loading a new champion (verifying its attestation) runs beside it.
        reviewed_at = time.monotonic()
        while not stop.is_set():
            reviewed_at = follow_experiment(reviewed_at)
            try:
                catalogue.refresh()
            except Exception as error:  # noqa: BLE001 - keep serving the last snapshot; try again next time
                log.warning("registry refresh failed (%s); serving the last snapshot", type(error).__name__)
                stop.wait(serving.alias_refresh_seconds)
                continue
            try:
                champion = catalogue.resolve(CHAMPION)
                if champion.model_digest in catalogue.loaded_digests():
                    state.update(ready=True, why=f"champion is version {champion.version}")
                elif not preloading.is_set():
                    preloading.set()
                    threading.Thread(target=preload, args=(champion,), daemon=True).start()
            except HokusaiError as error:
                state.update(ready=False, why=error.message)
            stop.wait(serving.alias_refresh_seconds)

    preloading = threading.Event()
    warming: set[str] = set()
    warm_failed: dict[str, float] = {}  # digest -> when loading it last failed
    reviewing = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        refresher = threading.Thread(target=refresh_forever, args=(stop,), name="registry-refresh", daemon=True)
        refresher.start()
        try:
            yield
        finally:
            stop.set()
            refresher.join(5)
            try:
                router.flush()  # the last exposures and counters of a clean shutdown
            except Exception as error:  # noqa: BLE001 - shutting down: say so, do not hang
                log.warning("could not write the last experiment counters (%s)", type(error).__name__)

    app = FastAPI(
        title="hokusai serve",
        description="Predictions of attested models of one task, by alias or version; the model registry.",
        lifespan=lifespan,
    )

    def answer(error: HokusaiError, status: int) -> JSONResponse:
        return JSONResponse(error.as_dict(), status_code=status)

    @app.exception_handler(ServingError)
    async def serving_error(request: Request, error: ServingError) -> JSONResponse:
        return answer(error, error.status)

    @app.exception_handler(HokusaiError)
    async def domain_error(request: Request, error: HokusaiError) -> JSONResponse:
        status = (
            404 if error.code.endswith(("NO_VERSION", "NO_MODEL", "E_AB_UNKNOWN"))
            else 409 if error.code in ("E_AB_NOT_RUNNING", "E_AB_EVENT_CONFLICT")
            else 422 if error.code == "E_AB_OUTCOME"
            else 409 if error.code.endswith("REFUSED")
            else 503 if error.code.endswith("FAILED") or error.code == "E_AB_STORE"
            else 400
        )
        return answer(error, status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        where = "; ".join(".".join(str(p) for p in e.get("loc", ())) + f": {e.get('msg')}" for e in error.errors()[:3])
        return answer(HokusaiError(f"the request does not fit this endpoint: {where}", code="E_SERVE_BAD_REQUEST"), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "E_SERVE_NOT_FOUND", 405: "E_SERVE_METHOD"}.get(error.status_code, "E_SERVE_HTTP")
        return answer(HokusaiError(str(error.detail), code=code), error.status_code)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as error:  # noqa: BLE001 - one JSON line for the caller, the type (not the data) in the log
            log.error("internal error on %s: %s", request.url.path, type(error).__name__)
            response = answer(HokusaiError("the server failed on this request; see its log", code="E_INTERNAL"), 500)
        route = request.scope.get("route")
        endpoint = route.path if route is not None else "unmatched"
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    def known_model(name: str) -> None:
        if name != catalogue.name:
            raise ServingError(
                f"no model {name[:60]!r} here; this server serves {catalogue.name!r}", code="E_SERVE_UNKNOWN_MODEL", status=404
            )

    async def body_of(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > serving.max_body_bytes:
            raise ServingError(
                f"the body is {int(declared):,} bytes; at most {serving.max_body_bytes:,} (serving.max_body_bytes)",
                code="E_SERVE_BODY_TOO_LARGE",
                status=413,
            )
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > serving.max_body_bytes:
                raise ServingError(
                    f"the body is over {serving.max_body_bytes:,} bytes (serving.max_body_bytes)",
                    code="E_SERVE_BODY_TOO_LARGE",
                    status=413,
                )
        return _json_body(raw)

    async def answers_for(resolved: Resolved, rows: list[dict]) -> list[dict]:
        """Cached answers of ``resolved`` for ``rows``; misses scored in the micro-batcher."""
        if catalogue.loaded_model(resolved) is None:
            # Verified before anything is answered for it, cached answers included.
            await asyncio.to_thread(catalogue.model, resolved)
        if store.kind == "redis":  # a network round trip: off the event loop
            keys, found = await asyncio.to_thread(cached_lookup, store, resolved, rows)
        else:
            keys, found = cached_lookup(store, resolved, rows)
        misses = [row for row, hit in zip(rows, found, strict=True) if hit is None]
        # Batched by version, whichever alias named it.
        scored = await batcher.submit(dataclasses.replace(resolved, via=""), misses) if misses else []
        if store.kind == "redis":
            answers = await asyncio.to_thread(fill_misses, store, keys, found, rows, scored)
        else:
            answers = fill_misses(store, keys, found, rows, scored)
        metrics.cache_hits.inc(len(rows) - len(misses))
        metrics.cache_misses.inc(len(misses))
        return answers

    async def shadow(route: Route, rows: list[dict], served: list[dict]) -> None:
        """B scores what A answered, for B's latency, errors and agreement; the caller never sees it."""
        started = time.perf_counter()
        resolved = pinned(route.shadow)
        warm = catalogue.loaded_model(resolved) is not None  # as for served requests: a first load is not latency

        def elapsed_ms() -> float | None:
            return (time.perf_counter() - started) * 1000 if warm else None

        try:
            scored = await answers_for(resolved, rows)
        except Exception as error:  # noqa: BLE001 - B failing in shadow is a figure, not the caller's problem
            router.observe_shadow(elapsed_ms(), len(rows), 0, error=True)
            log.warning("shadow scoring failed: %s", type(error).__name__)
            return
        agreed = sum(_same_answer(mine, theirs) for mine, theirs in zip(scored, served, strict=True))
        router.observe_shadow(elapsed_ms(), len(rows), agreed)

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request, alias: str | None = None, version: str | None = None) -> Response:
        """Predict for `records` (or `columns` and `rows`) with an alias (default champion) or a version.

        While an A/B experiment runs, a request that names neither is routed by its unit id
        (`unit_id` in the body or the `X-Unit-Id` header) to arm A or B."""
        started = time.perf_counter()
        access.check(request, admin=False)
        known_model(name)
        body = await body_of(request)
        key = pii_key.get()
        if key is None:
            rows = parse_rows(body, settings.schema, serving.max_rows)
        else:  # the PII scan takes milliseconds (Arrow compiles its patterns per call) and frees the GIL
            rows = await asyncio.to_thread(parse_rows, body, settings.schema, serving.max_rows, key)
        route = None
        if alias is None and version is None:
            unit_id = body.get("unit_id", request.headers.get("x-unit-id"))
            route = router.route(None if unit_id is None else _unit_id(unit_id))
        if route is None:
            resolved = catalogue.resolve(alias=alias, version=version)  # once: the request keeps this version
        else:
            resolved = pinned(route.served)  # what the experiment pinned at its start, whatever the aliases say now
        # A request that waits for the model's first load says nothing about its latency.
        warm = catalogue.loaded_model(resolved) is not None

        def elapsed_ms() -> float | None:
            return (time.perf_counter() - started) * 1000 if warm else None

        try:
            answers = await answers_for(resolved, rows)
        except Exception:  # whatever stops an arm answering counts against it (error_rate), then answers as usual
            if route is not None:
                router.observe(route.served_arm, elapsed_ms(), error=True)
            raise
        metrics.predictions.labels(resolved.version).inc(len(rows))
        # One version answers a whole request, so it is named once, beside all its predictions.
        # Serialised here: the answers are plain JSON values already, FastAPI's encoder would only walk them again.
        body = {
            "model": catalogue.name,
            "alias": None if resolved.via == "version" else resolved.via,
            "version": resolved.version,
            "model_digest": resolved.model_digest,
            "experiment": None if route is None else route.experiment_id,
            "arm": None if route is None else route.served_arm,
            "predictions": answers,
        }
        if route is not None:
            router.observe(route.served_arm, elapsed_ms())
            if route.shadow:
                shadow_task = asyncio.create_task(shadow(route, rows, answers))
                shadow_tasks.add(shadow_task)
                shadow_task.add_done_callback(shadow_tasks.discard)
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    shadow_tasks: set[asyncio.Task] = set()  # held so a shadow scoring is not collected mid-flight

    @app.post("/v1/experiments/{experiment_id}/outcomes")
    async def outcomes(experiment_id: str, request: Request) -> dict:
        """Record outcomes: `{"unit_id", "event_id", "value"}` or `{"outcomes": [...]}`; idempotent by event id.
        Answered only once they are committed. When the experiment may promote B on its own,
        outcomes decide a registry change: like any registry change they need an admin token."""
        access.check(request, admin=False)
        experiment = await asyncio.to_thread(experiments.get, experiment_id)
        if experiment.spec.auto_promote:
            access.check(request, admin=True, why="outcomes of an --auto-promote experiment")
        events = parse_outcomes(await body_of(request), experiment.spec.kind)
        statuses = await asyncio.to_thread(lifecycle.record_outcomes, experiments, experiment, events)
        return {
            "experiment": experiment.id,
            "recorded": statuses.count("recorded"),
            "duplicates": statuses.count("duplicate"),
            "events": [{"event_id": e.event_id, "status": st} for e, st in zip(events, statuses, strict=True)],
        }

    @app.get("/v1/experiments/{experiment_id}")
    async def experiment_status(experiment_id: str, request: Request) -> dict:
        """The experiment's arms, test, sample-ratio check, guardrails and decision, computed now."""
        access.check(request, admin=False)
        return await asyncio.to_thread(lifecycle.status, settings, experiment_id, environ)

    @app.get("/v1/models/{name}")
    async def describe(name: str, request: Request) -> dict:
        """The model's aliases and versions, with their digests and attestation figures."""
        access.check(request, admin=False)
        known_model(name)
        versions, aliases = catalogue.snapshot()
        keep = ("version", "aliases", "model_digest", "partition", "accepted", "delta_one_bps", "created")
        return {
            "model": catalogue.name,
            "aliases": aliases,
            "versions": [{k: row.get(k) for k in keep} for row in sorted(versions.values(), key=lambda r: -int(r["version"]))],
        }

    @app.post("/v1/models/{name}/aliases/{alias}")
    async def set_alias(name: str, alias: str, request: Request) -> dict:
        """Point `champion` or an environment alias at a version, through the promotion gates (admin)."""
        from hokusai_assets.services.model_registry import promote_version

        access.check(request, admin=True)
        known_model(name)
        body = await body_of(request)
        if not isinstance(body, dict) or not isinstance(body.get("version"), str | int):
            raise ServingError('send {"version": "N", "actor": "...", "reason": "..."}', code="E_SERVE_BODY_SHAPE", status=422)
        audit = await asyncio.to_thread(
            promote_version,
            settings,
            str(body["version"]),
            actor=str(body.get("actor") or ""),
            reason=str(body.get("reason") or ""),
            approved=bool(body.get("approved", False)),
            alias=alias,
        )
        await asyncio.to_thread(catalogue.refresh)
        return audit

    @app.post("/v1/models/{name}/rollback")
    async def rollback(name: str, request: Request) -> dict:
        """Move champion back to previous-champion (admin)."""
        from hokusai_assets.services.model_registry import rollback_champion

        access.check(request, admin=True)
        known_model(name)
        body = await body_of(request)
        if not isinstance(body, dict):
            raise ServingError('send {"actor": "...", "reason": "..."}', code="E_SERVE_BODY_SHAPE", status=422)
        audit = await asyncio.to_thread(
            rollback_champion, settings, actor=str(body.get("actor") or ""), reason=str(body.get("reason") or "")
        )
        await asyncio.to_thread(catalogue.refresh)
        return audit

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        body = {"ready": state["ready"], "detail": state["why"], "cache": store.kind}
        return JSONResponse(body, status_code=200 if state["ready"] else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.state.catalogue = catalogue
    return app


def require_listenable(host: str, port: int) -> None:
    """Refuse, in one line, an address this process cannot listen on, before uvicorn starts:
    uvicorn would log the reason among its start-up lines and exit 3.

    Each address ``host`` resolves to is bound as asyncio's server will bind it, then let go.
    """
    import errno
    import socket

    where = f"cannot listen on {host}:{port}"
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise HokusaiError(
            f"{where}: the host does not resolve ({reason}); give --host an address of this machine, e.g. 127.0.0.1",
            code="E_SERVE_LISTEN",
        ) from None
    advice = {
        errno.EADDRINUSE: "another process listens there; stop it or choose another --port",
        errno.EACCES: "ports below 1024 need privileges; choose another --port",
        errno.EADDRNOTAVAIL: "that is not an address of this machine; use 127.0.0.1, or 0.0.0.0 for every interface",
    }
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                hint = advice.get(error.errno, "choose another --host or --port")
                raise HokusaiError(f"{where}: {error.strerror}; {hint}", code="E_SERVE_LISTEN") from None


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    app = create_app(settings)
    # access_log off: uvicorn would log query strings; our middleware counts requests instead.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
