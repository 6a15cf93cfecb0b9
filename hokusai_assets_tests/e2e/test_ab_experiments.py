"""A/B experiments as users run them: `hokusai ab` from the shell, real `hokusai serve`
processes routing real requests between two attested versions, outcomes posted over HTTP,
the server's own review rolling back or promoting, and the audit log."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time

import httpx
import pytest

from hokusai_assets.api import Experiments
from hokusai_assets.lib.experiments.assignment import assign
from hokusai_assets.services.experiments.lifecycle import open_store
from hokusai_assets_tests.e2e.platform import wait_for
from hokusai_assets_tests.e2e.serving import Server, two_attested_versions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ab_experiments")]

REVIEW_SECONDS = 0.3


# Module-scoped: this module's tests run one after another on one worker (xdist_group), so the
# lab and its server are stopped when the module ends rather than idling until the session does.
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two attested versions (1 champion, 2 challenger) and servers that review experiments often."""
    lab = two_attested_versions(
        tmp_path_factory.mktemp("ab"), {"serving": {"experiment_review_seconds": REVIEW_SECONDS}}
    )
    lab["experiments"] = Experiments(settings=lab["settings"])
    lab["name"] = lab["settings"].config.registered_model_name
    records = json.loads(
        __import__("pandas")
        .read_parquet(lab["settings"].layout.table_file("benchmark_dataset"))[lab["settings"].schema.feature_names]
        .head(3)
        .to_json(orient="records")
    )
    lab["records"] = records
    return lab


ADMIN_TOKEN = "test-admin-" + "7" * 24  # made up per test session's server; outcomes of --auto-promote need it


@pytest.fixture(scope="module")
def server(lab):
    with Server(lab["home"], lab["task"].config_path, env={"HOKUSAI_ADMIN_TOKENS": ADMIN_TOKEN}) as running:
        yield running


@pytest.fixture
def experiment(lab):
    """Start one (kwargs for Experiments.start) and stop it afterwards if it still runs."""
    started = []

    def start(name: str, **options):
        options = {"metric": "conversion", "kind": "binary", "actor": "test", **options}
        started.append(lab["experiments"].start(name, **options))
        return started[-1]

    yield start
    for one in started:
        if lab["experiments"].status(one["id"])["experiment"]["status"] == "running":
            lab["experiments"].stop(one["id"], actor="test", reason="test over")


def hokusai(lab, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hokusai_assets.entry.cli", *args, "--config", str(lab["task"].config_path),
         "--home", str(lab["home"])],
        capture_output=True, text=True, timeout=120,
    )


def predict(client: httpx.Client, url: str, lab, unit_id: str | None = None, header: bool = False, **params):
    body = {"records": lab["records"]}
    headers = {}
    if unit_id is not None and header:
        headers["X-Unit-Id"] = unit_id
    elif unit_id is not None:
        body["unit_id"] = unit_id
    response = client.post(f"{url}/v1/models/{lab['name']}/predict", json=body, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def served_by_experiment(url: str, lab, experiment_id: str | None) -> None:
    """Wait until the server routes for ``experiment_id`` (None: for no experiment); it looks at
    the store every 0.25 s."""
    with httpx.Client(timeout=30) as client:
        wait_for(lambda: predict(client, url, lab, "probe")["experiment"] == experiment_id, 20, "the server to route")


def audit_lines(lab) -> list[dict]:
    log = lab["settings"].layout.registry_audit_log
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def test_the_cli_starts_lists_shows_and_stops_one_experiment_per_model(lab):
    started = hokusai(lab, "ab", "start", "cli-check", "--a", "champion", "--b", "2", "--split", "90/10",
                      "--metric", "conversion", "--kind", "binary", "--guardrail", "latency_p99_ms<=50",
                      "--guardrail", "error_rate<=0.01", "--min-units", "200", "--json")
    assert started.returncode == 0, started.stderr
    summary = json.loads(started.stdout)
    spec = summary["spec"]
    assert summary["id"].startswith("ab-") and summary["status"] == "running" and "salt" not in started.stdout
    assert (spec["a"]["version"], spec["b"]["version"], spec["split"], spec["a_bps"]) == ("1", "2", "90/10", 9000)
    assert spec["guardrails"] == ["latency_p99_ms<=50", "error_rate<=0.01"]

    second = hokusai(lab, "ab", "start", "another", "--metric", "conversion", "--kind", "binary")
    assert second.returncode == 2 and second.stderr.startswith("error[E_AB_RUNNING]") and summary["id"] in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "Traceback" not in second.stderr

    status = json.loads(hokusai(lab, "ab", "status", "--json").stdout)
    assert status["experiment"]["id"] == summary["id"] and status["decision"]["outcome"] == "continue"
    assert [arm["version"] for arm in status["arms"]] == ["1", "2"]
    listed = json.loads(hokusai(lab, "ab", "list", "--json").stdout)
    assert listed[0]["id"] == summary["id"]

    stopped = hokusai(lab, "ab", "stop", "cli-check", "--reason", "checked", "--actor", "ana")
    assert stopped.returncode == 0 and summary["id"] in stopped.stdout
    again = hokusai(lab, "ab", "stop", summary["id"], "--reason", "twice")
    assert again.returncode == 2 and again.stderr.startswith("error[E_AB_NOT_RUNNING]")
    text = hokusai(lab, "ab", "status", summary["id"])
    assert "stopped by ana: checked" in text.stdout

    for bad, code in (
        (["--split", "100/0"], "E_AB_SPLIT"),
        (["--guardrail", "p99<=50"], "E_AB_GUARDRAIL"),
        (["--b", "staging-nope"], "E_AB_ARM"),
        (["--b", "1"], "E_AB_SAME_VERSION"),
    ):
        refused = hokusai(lab, "ab", "start", "bad", "--metric", "conversion", "--kind", "binary", *bad)
        assert refused.returncode == 2 and refused.stderr.startswith(f"error[{code}]"), (bad, refused.stderr)
    actions = [(line["action"], line["outcome"]) for line in audit_lines(lab) if line.get("experiment") == summary["id"]]
    assert actions == [("experiment:start", "started"), ("experiment:stop", "stopped")]


def test_assignment_is_sticky_across_two_servers_and_a_restart(lab, server, experiment):
    started = experiment("sticky", split="50/50", a="champion", b="2")  # B named by its version number
    salt = open_store(lab["settings"]).get(started["id"]).salt
    units = [f"user-{i}" for i in range(120)]
    with Server(lab["home"], lab["task"].config_path) as other, httpx.Client(timeout=30) as client:
        for url in (server.url, other.url):
            served_by_experiment(url, lab, started["id"])
        first = {u: predict(client, server.url, lab, u) for u in units}
        second = {u: predict(client, other.url, lab, u, header=True) for u in units}
    for unit in units:
        expected_arm, _ = assign(salt, unit, 5000)
        assert first[unit]["arm"] == second[unit]["arm"] == expected_arm
        assert first[unit]["version"] == {"a": "1", "b": "2"}[expected_arm] == second[unit]["version"]
        assert first[unit]["experiment"] == started["id"]
        # Named as the experiment names the arm: A by its alias, B by version only (no alias).
        assert first[unit]["alias"] == second[unit]["alias"] == {"a": "champion", "b": None}[expected_arm]
    assert 30 < sum(answer["arm"] == "b" for answer in first.values()) < 90

    with Server(lab["home"], lab["task"].config_path) as restarted, httpx.Client(timeout=30) as client:
        served_by_experiment(restarted.url, lab, started["id"])
        assert all(predict(client, restarted.url, lab, u)["arm"] == first[u]["arm"] for u in units[:40])
        # Without a unit id: the control, counted apart, never an exposure.
        anonymous = predict(client, restarted.url, lab)
        assert (anonymous["arm"], anonymous["version"]) == ("a", "1")
        # Naming an alias or version bypasses the experiment.
        pinned = predict(client, restarted.url, lab, "user-1", version="2")
        assert (pinned["experiment"], pinned["version"]) == (None, "2")

    def exposures_settled():
        counts = lab["experiments"].status(started["id"])["arms"]
        return sum(arm["exposed_units"] for arm in counts) == len(units) + 1  # + the "probe" unit
    wait_for(exposures_settled, 10, "every unit's exposure to be written")
    arms = lab["experiments"].status(started["id"])["arms"]
    assert arms[0]["anonymous_requests"] >= 1
    # Every process's counters add up: 120 requests on each of the first two servers, 40 after the restart.
    assert arms[0]["requests"] + arms[1]["requests"] >= 2 * len(units) + 40


def test_shadow_traffic_never_changes_what_the_client_receives(lab, server, experiment):
    units = [f"shadow-{i}" for i in range(60)]
    served_by_experiment(server.url, lab, None)  # the previous test's experiment is over
    with httpx.Client(timeout=30) as client:
        before = {u: predict(client, server.url, lab, u) for u in units}
        started = experiment("shadow", split="50/50", shadow=True)
        served_by_experiment(server.url, lab, started["id"])
        during = {u: predict(client, server.url, lab, u) for u in units}
    for unit in units:
        assert during[unit]["experiment"] == started["id"] and during[unit]["arm"] == "a"
        assert during[unit]["version"] == before[unit]["version"] == "1"
        assert during[unit]["model_digest"] == before[unit]["model_digest"]
        assert [p["label"] for p in during[unit]["predictions"]] == [p["label"] for p in before[unit]["predictions"]]

    def shadow_scored():
        return lab["experiments"].status(started["id"])["arms"][1]["shadow_rows"] > 0
    wait_for(shadow_scored, 10, "B's shadow scores to be counted")
    b = lab["experiments"].status(started["id"])["arms"][1]
    assert b["shadow_rows"] % len(lab["records"]) == 0 and 0 <= b["shadow_agreement"] <= 1
    assert lab["experiments"].status(started["id"])["decision"]["outcome"] == "continue"


def test_no_acknowledged_outcome_is_lost_when_the_server_is_killed(lab, experiment):
    started = experiment("durability", split="50/50")
    acknowledged: list[str] = []
    failures: list[str] = []
    running = Server(lab["home"], lab["task"].config_path).__enter__()
    served_by_experiment(running.url, lab, started["id"])

    def post_outcomes():
        with httpx.Client(timeout=10) as client:
            for i in range(100_000):
                event = {"unit_id": f"u-{i % 50}", "event_id": f"evt-{i}", "value": i % 2}
                try:
                    answer = client.post(f"{running.url}/v1/experiments/{started['id']}/outcomes", json=event)
                except httpx.HTTPError:
                    return
                if answer.status_code == 200:
                    acknowledged.append(event["event_id"])
                else:
                    failures.append(answer.text)

    poster = threading.Thread(target=post_outcomes)
    poster.start()
    try:
        wait_for(lambda: len(acknowledged) >= 150, 60, "outcomes to be acknowledged")
    finally:
        running.kill()
        poster.join(30)
    assert failures == [] and len(acknowledged) >= 150
    stored = open_store(lab["settings"]).outcome_count(started["id"])
    assert stored >= len(acknowledged)
    # Sending every acknowledged event again after a restart records none twice.
    with Server(lab["home"], lab["task"].config_path) as restarted, httpx.Client(timeout=30) as client:
        batch = [{"unit_id": f"u-{i % 50}", "event_id": f"evt-{i}", "value": i % 2} for i in range(len(acknowledged))]
        for start in range(0, len(batch), 1000):
            answer = client.post(f"{restarted.url}/v1/experiments/{started['id']}/outcomes",
                                 json={"outcomes": batch[start:start + 1000]}).json()
            assert answer["recorded"] == 0 and answer["duplicates"] == len(batch[start:start + 1000])
        conflict = client.post(f"{restarted.url}/v1/experiments/{started['id']}/outcomes",
                               json={"unit_id": "u-0", "event_id": "evt-0", "value": 1})
        assert (conflict.status_code, conflict.json()["code"]) == (409, "E_AB_EVENT_CONFLICT")
        bad = client.post(f"{restarted.url}/v1/experiments/{started['id']}/outcomes",
                          json={"unit_id": "u-0", "event_id": "x", "value": 0.5})
        assert (bad.status_code, bad.json()["code"]) == (422, "E_AB_OUTCOME")
        unknown = client.post(f"{restarted.url}/v1/experiments/ab-nope/outcomes", json={"unit_id": "u", "event_id": "e", "value": 1})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "E_AB_UNKNOWN")
    assert open_store(lab["settings"]).outcome_count(started["id"]) == stored


def test_a_guardrail_breach_rolls_back_when_asked_and_only_then(lab, server, experiment):
    # No model answers in under 0.5 ms here, so this guardrail is breached once B has 20 requests.
    breach = {"split": "50/50", "guardrails": ["latency_p99_ms<=0.1"], "guardrail_min_requests": 20}
    units = [f"guard-{i}" for i in range(120)]

    def drive(experiment_id: str) -> None:
        served_by_experiment(server.url, lab, experiment_id)
        with httpx.Client(timeout=30) as client:
            for unit in units:
                predict(client, server.url, lab, unit)

    kept = experiment("breach-only", **breach)
    drive(kept["id"])
    wait_for(lambda: lab["experiments"].status(kept["id"])["experiment"]["decision"] is not None
             and lab["experiments"].status(kept["id"])["experiment"]["decision"]["outcome"] == "guardrail_breach",
             20, "the server's review to see the breach")
    time.sleep(3 * REVIEW_SECONDS)
    assert lab["experiments"].status(kept["id"])["experiment"]["status"] == "running"  # no --auto-rollback
    lab["experiments"].stop(kept["id"], actor="test", reason="next")

    rolled = experiment("breach-rollback", auto_rollback=True, **breach)
    drive(rolled["id"])
    wait_for(lambda: lab["experiments"].status(rolled["id"])["experiment"]["status"] == "stopped", 20, "the rollback")
    status = lab["experiments"].status(rolled["id"])
    assert status["experiment"]["stop_reason"].startswith("automatic rollback: latency_p99_ms of B")
    served_by_experiment(server.url, lab, None)
    with httpx.Client(timeout=30) as client:
        assert all(predict(client, server.url, lab, u)["version"] == "1" for u in units[:30])

    lines = audit_lines(lab)
    kept_actions = [(l["action"], l["outcome"]) for l in lines if l.get("experiment") == kept["id"]]
    rolled_actions = [(l["action"], l["outcome"]) for l in lines if l.get("experiment") == rolled["id"]]
    assert ("experiment:decision", "guardrail_breach") in kept_actions
    assert not any(action == "experiment:rollback" for action, _ in kept_actions)
    assert rolled_actions.count(("experiment:rollback", "rolled_back")) == 1
    rollback = next(l for l in lines if l.get("experiment") == rolled["id"] and l["action"] == "experiment:rollback")
    assert rollback["actor"].startswith("hokusai serve (pid ")


def test_a_winning_b_is_promoted_through_the_gate_with_the_experiment_in_the_audit(lab, server, experiment):
    started = experiment("promote-b", split="50/50", auto_promote=True, min_units=60)
    served_by_experiment(server.url, lab, started["id"])
    rng = random.Random(3)
    outcomes = []
    with httpx.Client(timeout=30) as client:
        for i in range(400):
            unit = f"buyer-{i}"
            arm = predict(client, server.url, lab, unit)["arm"]
            if rng.random() < (0.6 if arm == "b" else 0.05):
                outcomes.append({"unit_id": unit, "event_id": f"order-{i}", "value": 1})
        url = f"{server.url}/v1/experiments/{started['id']}/outcomes"
        # These outcomes can make B the champion: like any registry change over HTTP, an admin token.
        anonymous = client.post(url, json={"outcomes": outcomes})
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "E_SERVE_UNAUTHORIZED"
        wrong = client.post(url, json={"outcomes": outcomes}, headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 403 and wrong.json()["code"] == "E_SERVE_FORBIDDEN"
        assert lab["experiments"].status(started["id"])["arms"][1]["mean"] == 0  # nothing recorded
        answer = client.post(url, json={"outcomes": outcomes}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == 200 and answer.json()["recorded"] == len(outcomes)
    # The experiment stops first (so exactly one reviewer promotes), then the promotion is made and recorded.
    def promotion_recorded():
        return "promotion" in (lab["experiments"].status(started["id"])["experiment"]["decision"] or {})

    wait_for(promotion_recorded, 60, "the promotion")
    try:
        assert lab["experiments"].status(started["id"])["experiment"]["status"] == "stopped"
        decision = lab["experiments"].status(started["id"])["experiment"]["decision"]
        assert decision["outcome"] == "b_better" and decision["promotion"] == "version 2 is champion"
        assert lab["api"].resolve("champion").version == "2"
        promotion = [l for l in audit_lines(lab) if l["action"] == "promote" and l["outcome"] == "promoted"][-1]
        assert promotion["experiment"]["id"] == started["id"] and promotion["to_version"] == "2"
        assert promotion["experiment"]["test"]["decisive"] is True and promotion["attestation_verified"] is True
        assert promotion["experiment"]["arms"][1]["units_analysed"] >= 60
    finally:
        lab["api"].rollback(actor="test", reason="restore version 1 for the other tests")


def test_a_server_whose_experiment_store_is_down_still_serves_predictions(lab):
    down = "postgresql+psycopg2://hokusai:secret@127.0.0.1:1/experiments"  # nothing listens on port 1
    with Server(lab["home"], lab["task"].config_path, env={"HOKUSAI_EXPERIMENTS_DB_URL": down}) as running:
        with httpx.Client(timeout=30) as client:
            answer = predict(client, running.url, lab, "user-1")
            assert answer["version"] == "1" and answer["experiment"] is None  # the champion, unrouted
            outcome = client.post(f"{running.url}/v1/experiments/ab-any/outcomes",
                                  json={"unit_id": "user-1", "event_id": "e1", "value": 1})
            assert outcome.status_code == 503 and outcome.json()["code"] == "E_AB_STORE"
            assert "secret" not in outcome.text
    log = running.log.read_text()
    assert log.count("experiment store refresh failed") == 1  # said once, not at every refresh
    assert "secret" not in log  # the URL is logged with its password hidden
    assert "Traceback" not in log
