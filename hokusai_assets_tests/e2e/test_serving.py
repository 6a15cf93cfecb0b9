"""`hokusai serve` as a user runs it: a real server process on a free loopback port, real
attested models in a real MLflow registry, a real redis-server for the shared cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import httpx
import pandas as pd
import pytest
import yaml

from hokusai_assets.lib.training.model import model_from_bytes
from hokusai_assets.settings.load import load_settings
from hokusai_assets_tests.e2e.serving import RedisServer, Server, two_attested_versions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]


# Module-scoped: under `--dist loadgroup` this module's tests (xdist_group "serving") run one
# after another on one worker, so the servers are built once and stopped when the module
# ends, rather than idling until the session does.
@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Two attested, accepted versions of the mock task's model; version 1 is champion."""
    return two_attested_versions(tmp_path_factory.mktemp("serving"))


@pytest.fixture(scope="module")
def server(registry):
    """One server on the task's own config for the tests that need nothing special (each
    server process costs seconds of imports)."""
    with Server(registry["home"], registry["task"].config_path) as running:
        yield running


def predict(url: str, name: str, body, **params) -> httpx.Response:
    return httpx.post(f"{url}/v1/models/{name}/predict", json=body, params=params, timeout=30)


def benchmark_records(registry, limit: int | None = None) -> tuple[list[dict], pd.DataFrame]:
    settings = registry["settings"]
    frame = pd.read_parquet(settings.layout.table_file("benchmark_dataset"))
    if limit:
        frame = frame.head(limit)
    return json.loads(frame[settings.schema.feature_names].to_json(orient="records")), frame


def stored_model(registry, version: str):
    [row] = [v for v in registry["api"].versions() if v.version == version]
    return model_from_bytes(registry["settings"].layout.model_file("improved_model", row.partition).read_bytes()), row


def test_the_python_api_lists_versions_with_attestation_and_data_roots(registry):
    versions = {v.version: v for v in registry["api"].versions()}
    assert set(versions) == {"1", "2"}
    assert "champion" in versions["1"].aliases
    for v in versions.values():
        assert v.attestation_verified and v.accepted and v.model_digest.startswith("sha256:")
        assert set(v.data_roots) == {"contribution", "baseline_training", "improved_training", "benchmark"}
    assert registry["api"].resolve("champion").version == "1"
    _, frame = benchmark_records(registry, 20)
    # Values with more digits than JSON's default rounding keeps: the model must see them exactly.
    features = registry["settings"].schema.feature_names
    frame = frame.assign(**{c: frame[c] + 1.234567890123e-9 for c in features})
    model, _ = stored_model(registry, "2")
    answers = registry["api"].predict(frame, version="2")
    X = model.features(frame)
    assert [a["label"] for a in answers] == list(model.estimator.predict(X))
    classes = [str(c) for c in model.estimator.classes_]
    assert [[a["probabilities"][c] for c in classes] for a in answers] == model.estimator.predict_proba(X).tolist()
    assert {a["version"] for a in answers} == {"2"}


def test_an_environment_alias_goes_through_the_gates(registry, tmp_path):
    api = registry["api"]
    audit = api.promote("2", alias="staging", actor="test", reason="try it")
    assert audit["outcome"] == "assigned" and api.resolve("staging").version == "2"
    with pytest.raises(Exception, match="E_REGISTRY_ALIAS"):
        api.promote("2", alias="previous-champion", actor="test", reason="no")


def test_predictions_are_the_models_own_and_name_version_digest_and_cache(registry, server):
    records, frame = benchmark_records(registry)
    model, row = stored_model(registry, "1")
    name = registry["settings"].config.registered_model_name
    first = predict(server.url, name, {"records": records})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["version"], body["model_digest"], body["alias"]) == ("1", row.model_digest, "champion")
    X = model.features(frame)
    assert [p["label"] for p in body["predictions"]] == model.estimator.predict(X).tolist()
    proba = model.estimator.predict_proba(X)
    classes = [str(c) for c in model.estimator.classes_]
    assert [[p["probabilities"][c] for c in classes] for p in body["predictions"]] == proba.tolist()
    assert not any(p["from_cache"] for p in body["predictions"])
    # The columns/rows shape, the same rows: all from the cache now.
    features = registry["settings"].schema.feature_names
    again = predict(server.url, name, {"columns": features, "rows": [[r[f] for f in features] for r in records]}).json()
    assert all(p["from_cache"] for p in again["predictions"])
    assert [p["label"] for p in again["predictions"]] == [p["label"] for p in body["predictions"]]
    # A version by number, and the registry as the server sees it.
    by_version = predict(server.url, name, {"records": records[:3]}, version="2").json()
    assert by_version["version"] == "2" and by_version["alias"] is None
    described = httpx.get(f"{server.url}/v1/models/{name}").json()
    assert described["aliases"]["champion"] == "1" and {v["version"] for v in described["versions"]} == {"1", "2"}
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    # With no admin token configured, the registry cannot be changed over HTTP at all.
    refused = httpx.post(f"{server.url}/v1/models/{name}/rollback", json={"actor": "x", "reason": "y"})
    assert (refused.status_code, refused.json()["code"]) == (403, "E_SERVE_FORBIDDEN")
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_a_promotion_and_a_rollback_are_served_within_a_second(registry, server):
    """A client loops while the champion changes from the CLI; no answer that started more than
    1 s after a switch carries the old model's digest."""
    records, _ = benchmark_records(registry, 5)
    name = registry["settings"].config.registered_model_name
    digests = {v.version: v.model_digest for v in registry["api"].versions()}
    _, frame = benchmark_records(registry, 5)
    expected = {}
    for version in ("1", "2"):
        model, row = stored_model(registry, version)
        expected[row.model_digest] = model.estimator.predict(model.features(frame)).tolist()
    seen: list[tuple[float, str, bool]] = []
    wrong: list[str] = []
    stop = threading.Event()


    def loop():
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                answer = client.post(f"{server.url}/v1/models/{name}/predict", json={"records": records}).json()
                seen.append((started, answer["model_digest"], any(p["from_cache"] for p in answer["predictions"])))
                if [p["label"] for p in answer["predictions"]] != expected[answer["model_digest"]]:
                    wrong.append(answer["model_digest"])  # an answer of one model under the other's digest

    def hokusai(*args):
        done = subprocess.run(
            [sys.executable, "-m", "hokusai_assets.entry.cli", *args, "--config", str(registry["task"].config_path),
             "--home", str(registry["home"])],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return time.monotonic()

    client = threading.Thread(target=loop)
    client.start()
    try:
        time.sleep(1.0)
        promoted = hokusai("models", "promote", "2", "--actor", "test", "--reason", "switch")
        time.sleep(2.0)
        rolling_back = time.monotonic()  # from here the old champion is right again
        rolled_back = hokusai("models", "rollback", "--actor", "test", "--reason", "switch back")
        time.sleep(2.0)
    finally:
        stop.set()
        client.join(30)

    assert len(seen) > 20 and wrong == []

    def last_stale(switch: float, until: float, old: str) -> float:
        return max((t - switch for t, d, _ in seen if switch < t < until and d == old), default=0.0)

    # The CLI changes the alias before it exits: measured from its exit, staleness is an upper bound.
    assert last_stale(promoted, rolling_back, digests["1"]) <= 1.0
    assert last_stale(rolled_back, float("inf"), digests["2"]) <= 1.0
    assert {d for t, d, _ in seen if promoted + 1.0 < t < rolling_back} == {digests["2"]}
    assert {d for t, d, _ in seen if t > rolled_back + 1.0} == {digests["1"]}
    # Before the switch, the same rows were answered from the cache: a cache hit never crosses models.
    assert any(cached for t, d, cached in seen if t < promoted and d == digests["1"])


BAD_REQUESTS = [
    ("not json", b"{records: [", {}, 400, "E_SERVE_BAD_JSON"),
    ("not an object", b"[1, 2]", {}, 422, "E_SERVE_BODY_SHAPE"),
    ("missing feature", None, {}, 422, "E_SERVE_MISSING_FEATURE"),
    ("extra feature", None, {}, 422, "E_SERVE_EXTRA_FEATURE"),
    ("wrong type", None, {}, 422, "E_SERVE_TYPE"),
    ("NaN", None, {}, 422, "E_SERVE_NOT_FINITE"),
    ("too many rows", None, {}, 413, "E_SERVE_TOO_MANY_ROWS"),
    ("body too large", None, {}, 413, "E_SERVE_BODY_TOO_LARGE"),
    ("unknown model", None, {"name": "nope"}, 404, "E_SERVE_UNKNOWN_MODEL"),
    ("unknown alias", None, {"alias": "nope"}, 404, "E_SERVE_UNKNOWN_ALIAS"),
    ("unknown version", None, {"version": "99"}, 404, "E_SERVE_UNKNOWN_VERSION"),
]


def bad_body(case: str, good: dict, features: list[str]) -> bytes:
    row = dict(good)
    if case == "missing feature":
        row.pop(features[0])
    elif case == "extra feature":
        row["surprise"] = 1.0
    elif case == "wrong type":
        row[features[0]] = "someone@example.com"
    elif case == "NaN":  # JSON has no NaN; Python's json module would accept the literal
        row[features[0]] = 12345.678
        return json.dumps({"records": [row]}).replace("12345.678", "NaN").encode()
    elif case == "too many rows":
        return json.dumps({"records": [row] * 1001}).encode()
    elif case == "body too large":
        return json.dumps({"records": [row] * 900, "pad": "x" * 1_100_000}).encode()
    return json.dumps({"records": [row]}).encode()


def test_every_bad_request_gets_its_code_and_the_server_keeps_serving(registry, server):
    records, _ = benchmark_records(registry, 1)
    settings = registry["settings"]
    name, features = settings.config.registered_model_name, settings.schema.feature_names
    with httpx.Client(timeout=30) as client:
        for case, raw, where, status, code in BAD_REQUESTS:
            body = raw if raw is not None else bad_body(case, records[0], features)
            params = {k: v for k, v in where.items() if k != "name"}
            answer = client.post(
                f"{server.url}/v1/models/{where.get('name', name)}/predict",
                content=body,
                params=params,
                headers={"content-type": "application/json"},
            )
            assert (answer.status_code, answer.json()["code"]) == (status, code), (case, answer.text)
            assert "someone@example.com" not in answer.text
            good = client.post(f"{server.url}/v1/models/{name}/predict", json={"records": records})
            assert good.status_code == 200, (case, good.text)
    log = server.log.read_text()
    assert "someone@example.com" not in log and "Traceback" not in log


def test_a_token_is_required_when_configured(registry, tmp_path):
    config = yaml.safe_load(registry["task"].config_path.read_text())
    config["serving"] = {"require_token": True}
    locked = registry["task"].config_path.with_name("locked.yaml")
    locked.write_text(yaml.safe_dump(config))
    records, _ = benchmark_records(registry, 1)
    name = registry["settings"].config.registered_model_name
    env = {"HOKUSAI_SERVING_TOKENS": "reader-token", "HOKUSAI_ADMIN_TOKENS": "admin-token"}
    with Server(registry["home"], locked, env=env) as server:
        url = f"{server.url}/v1/models/{name}/predict"
        assert httpx.post(url, json={"records": records}).json()["code"] == "E_SERVE_UNAUTHORIZED"
        assert httpx.get(f"{server.url}/v1/models/{name}").json()["code"] == "E_SERVE_UNAUTHORIZED"
        no_header = httpx.post(f"{server.url}/v1/models/{name}/rollback", json={"actor": "x", "reason": "y"})
        assert (no_header.status_code, no_header.json()["code"]) == (401, "E_SERVE_UNAUTHORIZED")
        wrong = httpx.post(url, json={"records": records}, headers={"Authorization": "Bearer guess"})
        assert (wrong.status_code, wrong.json()["code"]) == (403, "E_SERVE_FORBIDDEN")
        right = httpx.post(url, json={"records": records}, headers={"Authorization": "Bearer reader-token"})
        assert right.status_code == 200
        change = f"{server.url}/v1/models/{name}/aliases/production"
        body = {"version": "1", "actor": "test", "reason": "release"}
        refused = httpx.post(change, json=body, headers={"Authorization": "Bearer reader-token"})
        assert (refused.status_code, refused.json()["code"]) == (403, "E_SERVE_FORBIDDEN")
        done = httpx.post(change, json=body, headers={"Authorization": "Bearer admin-token"}, timeout=60)
        assert done.status_code == 200 and done.json()["outcome"] == "assigned", done.text
        served = httpx.post(url, json={"records": records}, params={"alias": "production"},
                            headers={"Authorization": "Bearer reader-token"}).json()
        assert served["version"] == "1" and served["alias"] == "production"


def test_two_servers_share_one_redis_cache(registry, tmp_path):
    records, _ = benchmark_records(registry, 4)
    name = registry["settings"].config.registered_model_name
    with RedisServer(tmp_path / "redis") as redis_server:
        env = {"HOKUSAI_CACHE_URL": redis_server.url}
        with Server(registry["home"], registry["task"].config_path, env=env) as a, Server(
            registry["home"], registry["task"].config_path, env=env
        ) as b:
            first = predict(a.url, name, {"records": records}).json()
            assert not any(p["from_cache"] for p in first["predictions"])
            second = predict(b.url, name, {"records": records}).json()
            assert all(p["from_cache"] for p in second["predictions"])
            assert second["predictions"] == [{**p, "from_cache": True} for p in first["predictions"]]
            assert httpx.get(f"{b.url}/readyz").json()["cache"] == "redis"


def metric(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} " if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_what_was_sent(registry, server):
    records, _ = benchmark_records(registry, 3)
    records = [{k: v + 0.001 for k, v in r.items()} for r in records]  # rows no earlier test sent
    name = registry["settings"].config.registered_model_name
    route = "/v1/models/{name}/predict"
    series = [
        ("hokusai_requests_total", {"endpoint": route, "status": "200"}),
        ("hokusai_requests_total", {"endpoint": route, "status": "404"}),
        ("hokusai_cache_misses_total", {}),
        ("hokusai_cache_hits_total", {}),
        ("hokusai_predictions_total", {"version": "1"}),
        ("hokusai_request_latency_seconds_count", {"endpoint": route}),
        ("hokusai_batch_rows_sum", {}),
    ]

    def read():
        text = httpx.get(f"{server.url}/metrics").text
        return [metric(text, name_, **labels) for name_, labels in series]

    before = read()
    for _ in range(4):
        assert predict(server.url, name, {"records": records}).status_code == 200
    assert predict(server.url, name, {"records": records}, alias="nope").status_code == 404
    counted = [after - was for after, was in zip(read(), before, strict=True)]
    # 4 answered and 1 refused; 3 rows scored once (one batch of 3), then 9 from the cache.
    assert counted == [4, 1, 3, 9, 12, 5, 3]


def test_a_model_file_that_is_not_the_attested_one_is_never_loaded(registry, tmp_path):
    from hokusai_assets.lib.serving.errors import ServingError
    from hokusai_assets.services.serving.catalogue import ModelCatalogue

    copy = tmp_path / "home"
    shutil.copytree(registry["home"], copy, ignore=shutil.ignore_patterns("*.log"))
    settings = load_settings(config_path=registry["task"].config_path, home=copy, environ={})
    catalogue = ModelCatalogue(settings)
    catalogue.refresh()
    resolved = catalogue.resolve(version="2")
    model_file = settings.layout.model_file("improved_model", resolved.partition)
    swapped = settings.layout.model_file("improved_model", catalogue.resolve(version="1").partition)
    model_file.write_bytes(swapped.read_bytes())  # a valid model file, but not the one attested
    with pytest.raises(ServingError) as caught:
        catalogue.model(resolved)
    assert caught.value.code == "E_SERVE_MODEL_UNVERIFIED" and "not the attested model" in caught.value.message
    # The registry's digest tag moved to match the swapped file: the attestation still binds the old one.
    from mlflow.tracking import MlflowClient

    from hokusai_assets.lib.commitments.digests import file_digest
    from hokusai_assets.services.tracking.tags import TAG_MODEL_DIGEST

    MlflowClient(settings.layout.tracking_uri({})).set_model_version_tag(
        settings.config.registered_model_name, "2", TAG_MODEL_DIGEST, file_digest(model_file)
    )
    catalogue.refresh()
    with pytest.raises(ServingError) as caught:
        catalogue.model(catalogue.resolve(version="2"))
    assert caught.value.code == "E_SERVE_MODEL_UNVERIFIED" and "attestation does not check out" in caught.value.message
    assert catalogue.loaded_digests() == []


def test_serve_says_clearly_when_its_redis_is_unreachable(registry):
    from hokusai_assets_tests.e2e.platform import free_port

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "MLFLOW_"))}
    environ.update(HOKUSAI_HOME=str(registry["home"]), HOKUSAI_CACHE_URL=f"redis://127.0.0.1:{free_port()}/0")
    done = subprocess.run(
        [sys.executable, "-m", "hokusai_assets.entry.cli", "serve", "--config", str(registry["task"].config_path),
         "--port", str(free_port())],
        capture_output=True, text=True, env=environ, timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error[E_SERVE_CACHE]: HOKUSAI_CACHE_URL: cannot reach Redis" in done.stderr
