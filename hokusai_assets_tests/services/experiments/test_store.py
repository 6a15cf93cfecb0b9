"""The experiment store on SQLite, the router that writes to it, and the lifecycle functions
that read it (analyse, record_outcomes, review).

Expected arms and keys are computed here with ``assign`` on the experiment's salt (itself
tested against an independent HMAC in lib/experiments); expected counts and means are
worked out from the events each test sends.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from hokusai_assets.lib.experiments.assignment import ARM_A, ARM_B, assign
from hokusai_assets.lib.experiments.decisions import B_BETTER, CONTINUE, GUARDRAIL_BREACH, SAMPLE_RATIO_MISMATCH
from hokusai_assets.lib.experiments.outcomes import OutcomeEvent
from hokusai_assets.lib.experiments.spec import ExperimentError, Guardrail
from hokusai_assets.lib.experiments.statistics import ArmSummary
from hokusai_assets.lib.experiments.traffic import ArmTraffic
from hokusai_assets.services.experiments import lifecycle
from hokusai_assets.services.experiments.router import ExperimentRouter
from hokusai_assets.services.experiments.store import (
    URL_ENV,
    ExperimentStore,
    StoredExperiment,
    outcomes,
    store_url,
)
from hokusai_assets.settings.load import Settings, load_settings
from hokusai_assets_tests.lib.experiments.factories import A, B, fixed_salt, make_spec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_CONFIG = REPO / "hokusai_assets" / "examples" / "digits" / "hokusai.yaml"
POSTGRES_YAML = REPO / "deploy" / "dagster.postgres.yaml"
SQLITE_YAML = REPO / "dagster.yaml"
MODEL = "digits-model"


def start(store: ExperimentStore, experiment_id: str = "ab-1", model: str = MODEL, **overrides) -> StoredExperiment:
    return store.create(make_spec(experiment_id, model, **overrides), fixed_salt(experiment_id), "tester")


def key_and_arm(experiment: StoredExperiment, unit_id: str) -> tuple[str, str]:
    arm, key = assign(experiment.salt, unit_id, experiment.spec.a_bps)
    return key, arm


def expose(store: ExperimentStore, experiment: StoredExperiment, unit_ids) -> dict[str, str]:
    """Write first assignments of ``unit_ids``; unit id -> arm."""
    pairs = {unit: key_and_arm(experiment, unit) for unit in unit_ids}
    store.record_exposures(experiment.id, list(pairs.values()))
    return {unit: arm for unit, (_, arm) in pairs.items()}


def stored_events(store: ExperimentStore, experiment_id: str) -> dict[str, tuple[str, float]]:
    query = sa.select(outcomes.c.event_id, outcomes.c.unit_key, outcomes.c.value).where(
        outcomes.c.experiment_id == experiment_id
    )
    with store.engine.connect() as connection:
        return {row.event_id: (row.unit_key, row.value) for row in connection.execute(query)}


@pytest.fixture
def store(tmp_path: Path) -> ExperimentStore:
    return ExperimentStore(f"sqlite:///{tmp_path}/experiments/experiments.db")


# --- opening the store ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("not a url", "Could not parse SQLAlchemy URL"),
        ("mysql://someone@127.0.0.1/db", "No module named"),  # no driver installed
        ("postgresql+psycopg2://someone:hunter2secret@127.0.0.1:1/db", "Connection refused"),
    ],
)
def test_a_store_that_cannot_be_opened_is_a_clear_error_without_the_password(url, hint):
    store = ExperimentStore(url)  # nothing is opened yet: a server starts without its store
    with pytest.raises(ExperimentError) as caught:
        store.running(MODEL)
    assert caught.value.code == "E_AB_STORE"
    assert hint in caught.value.message and "HOKUSAI_EXPERIMENTS_DB_URL" in caught.value.message
    assert "hunter2secret" not in caught.value.message


def test_a_store_is_opened_on_a_later_use_once_it_can_be(tmp_path):
    blocker = tmp_path / "experiments"
    blocker.write_text("a file where the store's folder goes")
    store = ExperimentStore(f"sqlite:///{blocker}/experiments.db")
    with pytest.raises(ExperimentError) as caught:
        store.running(MODEL)
    assert caught.value.code == "E_AB_STORE"
    blocker.unlink()
    assert store.running(MODEL) is None
    assert start(store).running


OPENER = """
import os, sys, time
from pathlib import Path
from hokusai_assets.services.experiments.store import ExperimentStore
barrier = Path(sys.argv[2])
(barrier / f"ready-{os.getpid()}").touch()
while not (barrier / "go").exists():  # all children open the new store at the same moment
    time.sleep(0.001)
print(ExperimentStore(sys.argv[1]).list("m"))
"""


def test_processes_creating_a_new_store_at_once_all_open_it(tmp_path):
    url = f"sqlite:///{tmp_path}/new/experiments.db"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    children = [
        subprocess.Popen([sys.executable, "-c", OPENER, url, str(barrier)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    # Released together once every child has imported (however long that takes on a busy machine).
    deadline = time.time() + 120
    while len(list(barrier.glob("ready-*"))) < len(children) and time.time() < deadline:
        time.sleep(0.05)
    (barrier / "go").touch()
    results = [(child.wait(120), child.stdout.read(), child.stderr.read()) for child in children]
    assert [(code, out.strip()) for code, out, _ in results] == [(0, "[]")] * 6, [err[-500:] for *_, err in results]


# --- experiments ---------------------------------------------------------------------------


def test_one_running_experiment_per_model_until_it_is_stopped(store):
    first = start(store, "ab-1")
    assert first.running and store.running(MODEL).id == "ab-1"
    with pytest.raises(ExperimentError) as caught:
        start(store, "ab-2")
    assert caught.value.code == "E_AB_RUNNING" and "ab-1" in caught.value.message
    assert [e.id for e in store.list(MODEL)] == ["ab-1"]  # the refused one left nothing behind

    beside = start(store, "ab-3", model="other-model")  # another model may run beside it
    assert beside.running and store.running("other-model").id == "ab-3"

    assert store.stop("ab-1", "enough data") is True
    assert store.stop("ab-1", "again") is False  # conditional: only one stopper wins
    stopped = store.get("ab-1")
    assert not stopped.running and stopped.stop_reason == "enough data" and stopped.stopped_at
    assert store.running(MODEL) is None

    again = start(store, "ab-2")
    assert again.running and store.running(MODEL).id == "ab-2"
    assert {e.id for e in store.list(MODEL)} == {"ab-1", "ab-2"}
    assert store.running("other-model").id == "ab-3"


def test_two_simultaneous_starts_for_one_model_let_exactly_one_win(store):
    barrier = threading.Barrier(6)
    won, refused = [], []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            won.append(start(store, f"ab-race-{i}").id)
        except ExperimentError as error:
            refused.append(error.code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(won) == 1 and refused == ["E_AB_RUNNING"] * 5
    assert store.running(MODEL).id == won[0]


def test_get_by_id_or_name_keeps_spec_and_salt_and_the_summary_hides_the_salt(store):
    spec = make_spec("ab-1", guardrails=(Guardrail.parse("latency_p99_ms<=50"),), auto_rollback=True)
    salt = secrets.token_bytes(32)
    store.create(spec, salt, "alice")
    got = store.get("ab-1")
    assert got.spec == spec and got.salt == salt and got.created_by == "alice"
    assert store.get(spec.name).id == "ab-1"
    assert salt.hex() not in json.dumps(got.summary())
    with pytest.raises(ExperimentError) as caught:
        store.get("ab-missing")
    assert caught.value.code == "E_AB_UNKNOWN"


# --- exposures and outcomes ----------------------------------------------------------------


def test_exposures_keep_the_first_assignment_only(store):
    experiment = start(store)
    store.record_exposures(experiment.id, [("k1", ARM_A)])
    store.record_exposures(experiment.id, [("k1", ARM_B), ("k2", ARM_B)])
    store.record_exposures(experiment.id, [("k1", ARM_B)])
    assert store.exposure_counts(experiment.id) == {ARM_A: 1, ARM_B: 1}


def test_outcomes_are_idempotent_by_event_id(store):
    experiment = start(store, kind="continuous")
    events = [OutcomeEvent(f"user{i}", f"e{i}", float(i)) for i in range(5)]
    assert lifecycle.record_outcomes(store, experiment, events) == ["recorded"] * 5
    assert lifecycle.record_outcomes(store, experiment, events) == ["duplicate"] * 5
    mixed = [events[1], OutcomeEvent("user9", "e9", 9.0)]
    assert lifecycle.record_outcomes(store, experiment, mixed) == ["duplicate", "recorded"]
    assert store.outcome_count(experiment.id) == 6
    values = store.unit_values(experiment.id, "continuous")
    assert sorted(values[ARM_A] + values[ARM_B]) == [0.0, 1.0, 2.0, 3.0, 4.0, 9.0]  # each counted once


@pytest.mark.parametrize(
    "conflicting",
    [OutcomeEvent("user1", "e1", 0.0), OutcomeEvent("user2", "e1", 1.0)],
    ids=["another value", "another unit"],
)
def test_an_event_id_with_another_value_or_unit_refuses_the_whole_batch(store, conflicting):
    experiment = start(store)
    lifecycle.record_outcomes(store, experiment, [OutcomeEvent("user1", "e1", 1.0)])
    before = (store.outcome_count(experiment.id), store.exposure_counts(experiment.id))
    batch = [OutcomeEvent("user3", "e3", 1.0), conflicting, OutcomeEvent("user4", "e4", 0.0)]
    with pytest.raises(ExperimentError) as caught:
        lifecycle.record_outcomes(store, experiment, batch)
    assert caught.value.code == "E_AB_EVENT_CONFLICT"
    assert "user" not in caught.value.message  # names the event, never the unit
    assert (store.outcome_count(experiment.id), store.exposure_counts(experiment.id)) == before
    assert set(stored_events(store, experiment.id)) == {"e1"}


def test_one_event_id_twice_in_a_batch_is_refused(store):
    experiment = start(store)
    with pytest.raises(ExperimentError) as caught:
        lifecycle.record_outcomes(store, experiment, [OutcomeEvent("u1", "e1", 1.0), OutcomeEvent("u1", "e1", 1.0)])
    assert caught.value.code == "E_AB_EVENT_CONFLICT"
    assert store.outcome_count(experiment.id) == 0


def test_an_outcome_of_a_never_exposed_unit_exposes_it_in_its_arm(store):
    experiment = start(store)
    units = [f"late{i}" for i in range(40)]
    lifecycle.record_outcomes(store, experiment, [OutcomeEvent(u, f"e-{u}", 1.0) for u in units])
    arms = [key_and_arm(experiment, u)[1] for u in units]
    assert store.exposure_counts(experiment.id) == {ARM_A: arms.count(ARM_A), ARM_B: arms.count(ARM_B)}
    assert 0 < arms.count(ARM_A) < len(units)  # both arms took part
    # The stored rows carry the unit's key and arm, not its id.
    assert {key for key, _ in stored_events(store, experiment.id).values()} == {
        key_and_arm(experiment, u)[0] for u in units
    }


def test_outcomes_for_a_stopped_experiment_are_refused(store):
    experiment = start(store)
    store.stop(experiment.id, "done")
    with pytest.raises(ExperimentError) as caught:
        lifecycle.record_outcomes(store, store.get(experiment.id), [OutcomeEvent("u1", "e1", 1.0)])
    assert caught.value.code == "E_AB_NOT_RUNNING"
    assert store.outcome_count(experiment.id) == 0


def test_binary_unit_values_count_every_exposed_unit(store):
    experiment = start(store)
    units = [f"user{i}" for i in range(60)]
    arms = expose(store, experiment, units)
    # user0..9 convert once, user10..19 send a 0 and then a 1, user20..29 only a 0, the rest nothing;
    # plus ten units never exposed before their conversion.
    events = [OutcomeEvent(f"user{i}", f"c{i}", 1.0) for i in range(10)]
    events += [OutcomeEvent(f"user{i}", f"z{i}", 0.0) for i in range(10, 30)]
    events += [OutcomeEvent(f"user{i}", f"c{i}", 1.0) for i in range(10, 20)]
    events += [OutcomeEvent(f"new{i}", f"n{i}", 1.0) for i in range(10)]
    lifecycle.record_outcomes(store, experiment, events)
    arms.update({f"new{i}": key_and_arm(experiment, f"new{i}")[1] for i in range(10)})
    converted = {f"user{i}" for i in range(20)} | {f"new{i}" for i in range(10)}
    expected = defaultdict(list)
    for unit, arm in arms.items():
        expected[arm].append(1.0 if unit in converted else 0.0)
    values = store.unit_values(experiment.id, "binary")
    assert {arm: sorted(v) for arm, v in values.items()} == {arm: sorted(expected[arm]) for arm in (ARM_A, ARM_B)}
    assert_summaries_match(store, experiment.id, "binary", expected)


def test_continuous_unit_values_average_each_units_outcomes(store):
    experiment = start(store, kind="continuous")
    units = [f"user{i}" for i in range(30)]
    arms = expose(store, experiment, units)  # user20..29 are exposed and send nothing
    sent = defaultdict(list)
    events = []
    for i in range(20):
        for j in range(i % 3 + 1):
            value = float(i * 10 + j * 7)
            sent[f"user{i}"].append(value)
            events.append(OutcomeEvent(f"user{i}", f"e{i}-{j}", value))
    lifecycle.record_outcomes(store, experiment, events)
    expected = defaultdict(list)
    for unit, values in sent.items():
        expected[arms[unit]].append(sum(values) / len(values))
    got = store.unit_values(experiment.id, "continuous")
    for arm in (ARM_A, ARM_B):
        assert sorted(got[arm]) == pytest.approx(sorted(expected[arm]))
    assert_summaries_match(store, experiment.id, "continuous", expected)


def assert_summaries_match(store: ExperimentStore, experiment_id: str, kind: str, expected: dict) -> None:
    """The summaries the database computes equal numpy's of the same per-unit values."""
    summaries = store.arm_summaries(experiment_id, kind)
    for arm in (ARM_A, ARM_B):
        reference = ArmSummary.of(expected[arm])
        assert summaries[arm].n == reference.n
        assert summaries[arm].mean == pytest.approx(reference.mean, rel=1e-12, nan_ok=True)  # NaN: an empty arm
        assert summaries[arm].variance == pytest.approx(reference.variance, rel=1e-9)


def test_arm_summaries_keep_their_precision_with_a_large_mean(store):
    """Values near 1e9 differing by a few units: a one-pass sum of squares would lose the variance."""
    experiment = start(store, kind="continuous")
    values = {f"user{i}": 1e9 + (i % 7) for i in range(400)}
    lifecycle.record_outcomes(store, experiment, [OutcomeEvent(u, f"e-{u}", v) for u, v in values.items()])
    expected = defaultdict(list)
    for unit, value in values.items():
        expected[key_and_arm(experiment, unit)[1]].append(value)
    assert_summaries_match(store, experiment.id, "continuous", expected)


def test_arm_summaries_before_any_data_are_empty_arms(store):
    experiment = start(store, kind="continuous")
    expose(store, experiment, ["user1"])  # exposed, no outcome: nothing to analyse for a continuous metric
    summaries = store.arm_summaries(experiment.id, "continuous")
    assert [(s.n, math.isnan(s.mean), s.variance) for s in summaries.values()] == [(0, True, 0.0)] * 2
    binary = store.arm_summaries(experiment.id, "binary")  # as binary, the exposed unit counts as a 0
    assert sorted((s.n, s.variance) for s in binary.values()) == [(0, 0.0), (1, 0.0)]


# --- traffic -------------------------------------------------------------------------------


def traffic(requests: int, latency_ms: float, errors: int = 0) -> ArmTraffic:
    counters = ArmTraffic()
    for i in range(requests):
        counters.observe(latency_ms, error=i < errors)
    return counters


def test_traffic_of_two_servers_adds_up_and_a_second_save_replaces_the_first(store):
    experiment = start(store)
    store.save_traffic(experiment.id, "server-1", {ARM_A: traffic(10, 2.0), ARM_B: traffic(5, 40.0, errors=1)})
    store.save_traffic(experiment.id, "server-2", {ARM_A: traffic(3, 2.0), ARM_B: traffic(4, 40.0)})
    total = store.traffic(experiment.id)
    assert (total[ARM_A].requests, total[ARM_B].requests, total[ARM_B].errors) == (13, 9, 1)
    # Server 1 flushes its cumulative counters again: they replace, not add to, its first flush.
    store.save_traffic(experiment.id, "server-1", {ARM_A: traffic(12, 2.0), ARM_B: traffic(7, 40.0, errors=2)})
    total = store.traffic(experiment.id)
    assert (total[ARM_A].requests, total[ARM_B].requests, total[ARM_B].errors) == (15, 11, 2)
    assert total[ARM_A] == traffic(12, 2.0).add(traffic(3, 2.0))
    assert sum(total[ARM_B].latency_counts) == 11
    assert store.traffic("ab-other") == {ARM_A: ArmTraffic(), ARM_B: ArmTraffic()}


# --- router --------------------------------------------------------------------------------


def test_assignment_is_sticky_across_two_routers_on_one_store(store):
    experiment = start(store)
    first = ExperimentRouter(store, MODEL)
    second = ExperimentRouter(ExperimentStore(store.url), MODEL)  # another "process" on the same store
    first.refresh()
    second.refresh()
    units = [f"user{i}@example.com" for i in range(300)]
    for unit in units:
        one, other = first.route(unit), second.route(unit)
        expected_arm = key_and_arm(experiment, unit)[1]
        assert one.arm == other.arm == expected_arm
        assert one.served == (A if expected_arm == ARM_A else B)  # the pinned arm: version, digest, partition
        assert not one.anonymous and one.shadow is None and one.served_arm == one.arm
        assert first.route(unit) == one  # and again in the same process
    assert {first.route(u).arm for u in units} == {ARM_A, ARM_B}


def test_exposures_are_written_only_on_flush_or_refresh(store):
    experiment = start(store)
    first, second = ExperimentRouter(store, MODEL), ExperimentRouter(store, MODEL)
    first.refresh()
    second.refresh()
    units = [f"user{i}" for i in range(50)]
    for unit in units:
        first.route(unit)
        first.route(unit)
    assert store.exposure_counts(experiment.id) == {ARM_A: 0, ARM_B: 0}
    first.flush()
    arms = [key_and_arm(experiment, u)[1] for u in units]
    expected = {ARM_A: arms.count(ARM_A), ARM_B: arms.count(ARM_B)}
    assert store.exposure_counts(experiment.id) == expected
    # The other process sees the same units and some new ones: only the new ones are added.
    more = [f"user{i}" for i in range(40, 70)]
    for unit in more:
        second.route(unit)
    assert store.exposure_counts(experiment.id) == expected
    second.refresh()
    arms = [key_and_arm(experiment, f"user{i}")[1] for i in range(70)]
    assert store.exposure_counts(experiment.id) == {ARM_A: arms.count(ARM_A), ARM_B: arms.count(ARM_B)}


def test_a_failed_flush_keeps_the_exposures_for_the_next_one(store, monkeypatch):
    experiment = start(store)
    router = ExperimentRouter(store, MODEL)
    router.refresh()
    for i in range(10):
        router.route(f"user{i}")

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "record_exposures", broken)
    with pytest.raises(sa.exc.OperationalError):
        router.flush()
    monkeypatch.undo()
    router.flush()
    assert sum(store.exposure_counts(experiment.id).values()) == 10


def test_a_stop_reaches_routing_even_while_writes_fail(store, monkeypatch):
    experiment = start(store)
    router = ExperimentRouter(store, MODEL)
    router.refresh()
    router.route("user1")
    monkeypatch.setattr(store, "record_exposures", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    store.stop(experiment.id, "manual")
    with pytest.raises(OSError):
        router.refresh()  # the failure is still reported, to be logged...
    assert router.route("user2") is None  # ...and the stop has been seen


def test_exposures_waiting_for_a_failing_store_are_bounded_and_not_forgotten(store, monkeypatch):
    from hokusai_assets.services.experiments import router as router_module

    monkeypatch.setattr(router_module, "MAX_PENDING_EXPOSURES", 5)
    experiment = start(store)
    router = ExperimentRouter(store, MODEL)
    router.refresh()
    for i in range(8):
        router.route(f"user{i}")
    assert len(router._pending) == 5
    router.flush()
    for i in range(8):  # the three left out are queued by their next request
        router.route(f"user{i}")
    router.flush()
    assert sum(store.exposure_counts(experiment.id).values()) == 8


def test_a_request_that_waited_for_a_first_load_counts_for_errors_not_latency():
    traffic = ArmTraffic()
    traffic.observe(None, error=False)
    traffic.observe(None, error=True)
    traffic.observe(2.0)
    assert (traffic.requests, traffic.errors, sum(traffic.latency_counts)) == (3, 1, 1)
    assert traffic.guardrail_values() == {"latency_p50_ms": 2.0, "latency_p99_ms": 2.0, "error_rate": 1 / 3}


def test_anonymous_requests_are_served_a_and_counted_apart(store):
    experiment = start(store)
    router = ExperimentRouter(store, MODEL)
    router.refresh()
    for _ in range(7):
        route = router.route(None)
        assert route.anonymous and route.arm == ARM_A and route.served == A
        assert route.shadow is None
        router.observe(route.served_arm, 1.0)
    named = router.route("user1")
    router.observe(named.served_arm, 1.0)
    router.flush()
    counted = store.traffic(experiment.id)
    assert counted[ARM_A].anonymous == 7 and counted[ARM_B].anonymous == 0
    assert counted[ARM_A].requests + counted[ARM_B].requests == 8
    assert sum(store.exposure_counts(experiment.id).values()) == 1  # only the named unit


def test_router_traffic_is_cumulative_per_process_and_adds_up_across_processes(store):
    experiment = start(store)
    first, second = ExperimentRouter(store, MODEL), ExperimentRouter(store, MODEL)
    first.refresh()
    second.refresh()
    for _ in range(5):
        first.observe(ARM_B, 30.0, error=False)
    first.flush()
    for _ in range(3):
        first.observe(ARM_B, 30.0, error=True)
    first.flush()  # cumulative 8 from this process, not 5 + 8
    for _ in range(4):
        second.observe(ARM_B, 300.0)
    second.observe(ARM_A, 1.0)
    second.refresh()
    total = store.traffic(experiment.id)
    assert (total[ARM_B].requests, total[ARM_B].errors, total[ARM_A].requests) == (12, 3, 1)
    assert total[ARM_B].latency_quantile_ms(0.5) == 30.0 and total[ARM_B].latency_quantile_ms(0.99) == 300.0


def test_shadow_serves_a_to_every_unit_and_scores_b_in_shadow(store):
    experiment = start(store, shadow=True)
    router = ExperimentRouter(store, MODEL)
    router.refresh()
    seen = set()
    for i in range(200):
        route = router.route(f"user{i}")
        arm = key_and_arm(experiment, f"user{i}")[1]
        seen.add(arm)
        assert route.arm == arm and route.served == A and route.served_arm == ARM_A
        assert route.shadow == (B if arm == ARM_B else None)
    assert seen == {ARM_A, ARM_B}
    router.observe_shadow(12.0, rows=10, agreed=7)
    router.flush()
    analysis = lifecycle.analyse(store, store.get(experiment.id))
    b_row = next(arm for arm in analysis["arms"] if arm["arm"] == ARM_B)
    assert b_row["shadow_rows"] == 10 and b_row["shadow_agreement"] == pytest.approx(0.7)
    assert sum(store.exposure_counts(experiment.id).values()) == 200


def test_after_stop_the_router_stops_routing_on_refresh_and_follows_a_new_experiment(store):
    first = start(store, "ab-1")
    router = ExperimentRouter(store, MODEL)
    assert router.route("user1") is None  # nothing picked up yet
    router.refresh()
    assert router.experiment.id == first.id and router.route("user1").experiment_id == first.id
    store.stop(first.id, "done")
    router.refresh()
    assert router.experiment is None and router.route("user1") is None and router.route(None) is None
    assert store.exposure_counts(first.id) == {**{ARM_A: 0, ARM_B: 0}, key_and_arm(first, "user1")[1]: 1}
    second = start(store, "ab-2", a_bps=9000)
    router.refresh()
    route = router.route("user1")
    assert route.experiment_id == second.id and route.arm == key_and_arm(second, "user1")[1]


def test_unit_ids_are_never_written_in_clear(store, tmp_path):
    experiment = start(store)
    router = ExperimentRouter(store, MODEL)
    router.refresh()
    units = [f"person{i}.secret@example.org" for i in range(30)]
    for unit in units:
        router.observe(router.route(unit).served_arm, 1.0)
    router.flush()
    lifecycle.record_outcomes(store, experiment, [OutcomeEvent(u, f"e{i}", 1.0) for i, u in enumerate(units)])
    lifecycle.analyse(store, store.get(experiment.id))
    files = list((tmp_path / "experiments").iterdir())  # the database, its WAL and shared memory
    raw = b"".join(f.read_bytes() for f in files)
    assert b"secret@example.org" not in raw and b"person1" not in raw
    assert key_and_arm(experiment, units[0])[0].encode() in raw  # the pseudonym is what is stored


# --- concurrency and durability -------------------------------------------------------------


def test_two_threads_with_overlapping_event_ids_store_every_event_once(store):
    experiment = start(store, kind="continuous")
    barrier = threading.Barrier(2)
    errors = []

    def send(ids: range) -> None:
        barrier.wait()
        try:
            ordered = list(ids)
            for begin in range(0, len(ordered), 25):
                chunk = ordered[begin : begin + 25]
                lifecycle.record_outcomes(
                    store, experiment, [OutcomeEvent(f"user{i % 40}", f"e{i}", float(i % 7)) for i in chunk]
                )
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=send, args=(r,)) for r in (range(0, 600), range(599, 299, -1))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    stored = stored_events(store, experiment.id)
    assert set(stored) == {f"e{i}" for i in range(600)} and store.outcome_count(experiment.id) == 600
    assert all(value == float(int(event_id[1:]) % 7) for event_id, (_, value) in stored.items())


@contextmanager
def paused_before_insert_into(engine: sa.Engine, table: str, parties: int = 2, timeout: float = 2.0):
    """Hold each thread's INSERT INTO ``table`` until ``parties`` threads have reached theirs
    (or ``timeout`` passes): forces the interleaving "both read, then both write"."""
    barrier = threading.Barrier(parties, timeout=timeout)

    def hold(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT") and f"INTO {table} " in statement + " ":
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass  # the other thread could not get here first (e.g. it waits on our lock): go on

    sa.event.listen(engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", hold)


def run_together(*calls) -> list:
    """Run the calls in threads at once; each result, or the exception it raised."""
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as error:  # noqa: BLE001 - returned to the test
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    return results


def test_a_conflicting_event_id_sent_concurrently_is_still_refused(store):
    experiment = start(store, kind="continuous")
    send = [
        lambda: lifecycle.record_outcomes(store, experiment, [OutcomeEvent("user1", "e1", 1.0)]),
        lambda: lifecycle.record_outcomes(store, experiment, [OutcomeEvent("user1", "e1", 5.0)]),
    ]
    with paused_before_insert_into(store.engine, "hokusai_outcomes"):
        results = run_together(*send)
    refused = [r for r in results if isinstance(r, ExperimentError)]
    assert [r for r in results if isinstance(r, list)] == [["recorded"]], results
    assert [r.code for r in refused] == ["E_AB_EVENT_CONFLICT"], results


CHILD = """
import sys
from hokusai_assets.lib.experiments.outcomes import OutcomeEvent
from hokusai_assets.services.experiments import lifecycle
from hokusai_assets.services.experiments.store import ExperimentStore

store = ExperimentStore(sys.argv[1])
experiment = store.get(sys.argv[2])
i = 0
while True:
    lifecycle.record_outcomes(store, experiment, [OutcomeEvent(f"user{i}", f"e{i}", 1.0)])
    print("acked", f"e{i}", flush=True)
    i += 1
"""


def test_every_acknowledged_outcome_survives_a_sigkill(store):
    experiment = start(store)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store.url, experiment.id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    acked = []
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 150 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acked.append(line.split()[1])
        assert len(acked) >= 150, "the child stopped acknowledging"
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: it is writing the next ones
    finally:
        if child.poll() is None:
            child.kill()
        remaining, errors = child.communicate(timeout=30)
    assert "Traceback" not in errors, errors
    assert child.returncode == -signal.SIGKILL
    acked += [line.split()[1] for line in remaining.splitlines() if line.startswith("acked ")]
    stored = set(stored_events(store, experiment.id))
    assert set(acked) <= stored
    assert len(stored) <= len(acked) + 1  # at most the one committed as it was killed
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


# --- where the store lives -----------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(config_path=EXAMPLE_CONFIG, home=tmp_path / "home", environ={})


def test_the_store_is_sqlite_under_the_home_by_default(settings):
    assert store_url(settings.layout, {}) == f"sqlite:///{settings.layout.experiments_db}"
    settings.layout.dagster_home.mkdir(parents=True)
    shutil.copyfile(SQLITE_YAML, settings.layout.instance_file)  # the repo's instance: SQLite
    assert store_url(settings.layout, {}) == f"sqlite:///{settings.layout.experiments_db}"
    opened = lifecycle.open_store(settings, {})
    assert opened.kind == "sqlite" and settings.layout.experiments_db.is_file()


def test_the_store_follows_a_postgres_instance_file(settings):
    settings.layout.dagster_home.mkdir(parents=True)
    shutil.copyfile(POSTGRES_YAML, settings.layout.instance_file)
    environ = {
        "DAGSTER_PG_HOST": "db.internal",
        "DAGSTER_PG_PORT": "6543",
        "DAGSTER_PG_USERNAME": "hokusai@corp",
        "DAGSTER_PG_PASSWORD": "p@ss:w/rd #1",
        "DAGSTER_PG_DB": "hokusai_dagster",
    }
    url = sa.make_url(store_url(settings.layout, environ))
    assert url.drivername == "postgresql+psycopg2"
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "db.internal",
        6543,
        "hokusai@corp",
        "p@ss:w/rd #1",
        "hokusai_dagster",
    )
    missing = {k: v for k, v in environ.items() if k != "DAGSTER_PG_PASSWORD"}
    with pytest.raises(ExperimentError) as caught:
        store_url(settings.layout, missing)
    assert caught.value.code == "E_AB_STORE" and "DAGSTER_PG_PASSWORD" in caught.value.message
    override = f"sqlite:///{settings.home}/elsewhere.db"
    assert store_url(settings.layout, {**environ, URL_ENV: override}) == override


# --- snapshots ----------------------------------------------------------------------------


@pytest.fixture
def thirty_snapshots(store) -> tuple[ExperimentStore, str]:
    for i in range(30):
        assert store.add_snapshot("ab-1", {"look": i}) == i + 1
    store.add_snapshot("ab-other", {"look": 0})
    return store, "ab-1"


def test_snapshots_come_back_in_order_and_thinned_to_first_and_last(thirty_snapshots):
    store, experiment_id = thirty_snapshots
    everything = store.snapshots(experiment_id)
    assert [s["seq"] for s in everything] == list(range(1, 31))
    assert [s["look"] for s in everything] == list(range(30))
    assert store.last_snapshot(experiment_id)["seq"] == 30 and store.last_snapshot("ab-none") is None
    assert store.snapshots(experiment_id, at_most=30) == everything
    assert store.snapshots(experiment_id, at_most=100) == everything
    for at_most in range(2, 30):
        seqs = [s["seq"] for s in store.snapshots(experiment_id, at_most=at_most)]
        assert seqs[0] == 1 and seqs[-1] == 30 and seqs == sorted(set(seqs)), (at_most, seqs)
        gaps = [b - a for a, b in zip(seqs, seqs[1:])]
        # Evenly spread: one stride throughout, the step to the last one no longer than it.
        assert len(set(gaps[:-1])) <= 1 and gaps[-1] <= max(gaps), (at_most, seqs)


def test_snapshots_never_return_more_than_at_most(thirty_snapshots):
    store, experiment_id = thirty_snapshots
    too_many = {
        at_most: len(store.snapshots(experiment_id, at_most=at_most))
        for at_most in range(2, 31)
        if len(store.snapshots(experiment_id, at_most=at_most)) > at_most
    }
    assert too_many == {}


# --- analyse and review --------------------------------------------------------------------


def convert(unit_index: int, arm: str) -> bool:
    """10% of A's units convert, 40% of B's."""
    return unit_index % 10 < (1 if arm == ARM_A else 4)


def feed(store: ExperimentStore, experiment: StoredExperiment, count: int) -> dict[str, list[float]]:
    """Expose ``count`` units and send the conversions; per arm, the expected per-unit values."""
    units = [f"user{i}" for i in range(count)]
    arms = expose(store, experiment, units)
    events = [OutcomeEvent(u, f"buy-{u}", 1.0) for i, u in enumerate(units) if convert(i, arms[u])]
    lifecycle.record_outcomes(store, experiment, events)
    expected = {ARM_A: [], ARM_B: []}
    for i, unit in enumerate(units):
        expected[arms[unit]].append(1.0 if convert(i, arms[unit]) else 0.0)
    return expected


def test_analyse_reports_the_stores_numbers_and_reads_only(store):
    experiment = start(store, guardrails=(Guardrail.parse("latency_p99_ms<=50"),), guardrail_min_requests=5)
    expected = feed(store, experiment, 600)
    store.save_traffic(experiment.id, "s", {ARM_A: traffic(20, 400.0), ARM_B: traffic(30, 10.0, errors=3)})
    analysis = lifecycle.analyse(store, store.get(experiment.id))
    by_arm = {row["arm"]: row for row in analysis["arms"]}
    for arm in (ARM_A, ARM_B):
        assert by_arm[arm]["exposed_units"] == by_arm[arm]["units_analysed"] == len(expected[arm])
        assert by_arm[arm]["mean"] == pytest.approx(sum(expected[arm]) / len(expected[arm]))
    assert analysis["outcomes"] == int(sum(expected[ARM_A]) + sum(expected[ARM_B]))
    assert analysis["sample_ratio"]["observed"] == [len(expected[ARM_A]), len(expected[ARM_B])]
    # Guardrails read B's traffic only: A's slow requests do not breach anything.
    assert analysis["guardrails"]["values_of_b"] == {"latency_p50_ms": 10.0, "latency_p99_ms": 10.0, "error_rate": 0.1}
    assert analysis["guardrails"]["b_requests"] == 30
    assert analysis["decision"]["outcome"] == B_BETTER
    assert analysis["test"]["effect"] == pytest.approx(by_arm[ARM_B]["mean"] - by_arm[ARM_A]["mean"])
    stored = store.get(experiment.id)
    assert stored.decision is None and store.snapshots(experiment.id) == [] and stored.running


def test_analyse_flags_a_sample_ratio_mismatch_before_anything_else(store):
    experiment = start(store)
    units = [f"user{i}" for i in range(2000)]
    arms = {u: key_and_arm(experiment, u) for u in units}
    # Exposures of B are lost for 3 units in 4 (a logging bug), on a 50/50 split.
    kept = [(key, arm) for i, (key, arm) in enumerate(arms.values()) if arm == ARM_A or i % 4 == 0]
    store.record_exposures(experiment.id, kept)
    analysis = lifecycle.analyse(store, store.get(experiment.id))
    assert analysis["decision"]["outcome"] == SAMPLE_RATIO_MISMATCH
    assert analysis["sample_ratio"]["p_value"] < 0.001


def audit_lines(settings: Settings) -> list[dict]:
    log = settings.layout.registry_audit_log
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def actions(settings: Settings, action: str) -> list[dict]:
    return [line for line in audit_lines(settings) if line["action"] == action]


def test_review_keeps_a_snapshot_once_the_interval_has_passed(settings, monkeypatch):
    store = lifecycle.open_store(settings, {})
    experiment = start(store, model=settings.config.registered_model_name)
    lifecycle.review(settings, store, experiment.id, "reviewer")
    lifecycle.review(settings, store, experiment.id, "reviewer")
    assert len(store.snapshots(experiment.id)) == 1
    monkeypatch.setattr(lifecycle, "SNAPSHOT_EVERY_SECONDS", 0.0)
    lifecycle.review(settings, store, experiment.id, "reviewer")
    assert [s["seq"] for s in store.snapshots(experiment.id)] == [1, 2]


def test_review_keeps_snapshots_and_audits_each_change_of_decision_once(settings):
    store = lifecycle.open_store(settings, {})
    experiment = start(store, model=settings.config.registered_model_name, auto_rollback=True)

    lifecycle.review(settings, store, experiment.id, "reviewer")
    assert [line["outcome"] for line in actions(settings, "experiment:decision")] == [CONTINUE]
    lifecycle.review(settings, store, experiment.id, "reviewer")
    assert len(actions(settings, "experiment:decision")) == 1  # unchanged: not audited again

    feed(store, experiment, 600)
    analysis = lifecycle.review(settings, store, experiment.id, "reviewer")
    assert analysis["decision"]["outcome"] == B_BETTER
    decisions = actions(settings, "experiment:decision")
    assert [line["outcome"] for line in decisions] == [CONTINUE, B_BETTER]
    assert decisions[-1]["experiment"] == experiment.id and decisions[-1]["actor"] == "reviewer"
    assert decisions[-1]["test"]["effect"] == pytest.approx(analysis["test"]["effect"])
    assert store.get(experiment.id).decision["outcome"] == B_BETTER
    assert store.get(experiment.id).running  # no auto_promote: B better is only reported

    lifecycle.review(settings, store, experiment.id, "reviewer")
    assert len(actions(settings, "experiment:decision")) == 2
    # A snapshot at the first review and at each change of decision; the reviews in between,
    # within SNAPSHOT_EVERY_SECONDS, keep none.
    snapshots = store.snapshots(experiment.id)
    assert [s["seq"] for s in snapshots] == [1, 2]
    assert [s["decision"]["outcome"] for s in snapshots] == [CONTINUE, B_BETTER]
    assert all(s["test"]["p_value_running"] <= s["test"]["p_value"] for s in snapshots)
    assert actions(settings, "experiment:rollback") == []


def breached(store: ExperimentStore, settings: Settings, **overrides) -> StoredExperiment:
    experiment = start(
        store,
        model=settings.config.registered_model_name,
        guardrails=(Guardrail.parse("latency_p99_ms<=50"),),
        guardrail_min_requests=10,
        **overrides,
    )
    store.save_traffic(experiment.id, "s", {ARM_A: traffic(20, 3.0), ARM_B: traffic(20, 200.0)})
    return experiment


def test_auto_rollback_on_a_breach_stops_the_experiment_exactly_once(settings):
    store = lifecycle.open_store(settings, {})
    experiment = breached(store, settings, auto_rollback=True)
    router = ExperimentRouter(store, experiment.spec.model)
    router.refresh()
    assert router.route("user1") is not None

    analysis = lifecycle.review(settings, store, experiment.id, "reviewer")
    assert analysis["decision"]["outcome"] == GUARDRAIL_BREACH
    stopped = store.get(experiment.id)
    assert not stopped.running and stopped.stop_reason.startswith("automatic rollback")
    rollbacks = actions(settings, "experiment:rollback")
    assert len(rollbacks) == 1 and rollbacks[0]["outcome"] == "rolled_back"
    assert f"B (version {B.version}) no longer served" in rollbacks[0]["reason"]
    assert "latency_p99_ms of B is 200" in rollbacks[0]["reason"]

    lifecycle.review(settings, store, experiment.id, "another reviewer")
    assert len(actions(settings, "experiment:rollback")) == 1
    assert len(actions(settings, "experiment:decision")) == 1
    assert len(store.snapshots(experiment.id)) == 1  # a stopped experiment is not reviewed again
    assert store.stop(experiment.id, "manual") is False
    router.refresh()
    assert router.route("user1") is None  # all traffic back to the model's own champion


def test_the_same_breach_without_auto_rollback_leaves_it_running(settings):
    store = lifecycle.open_store(settings, {})
    experiment = breached(store, settings, auto_rollback=False, auto_promote=True)
    for _ in range(2):
        analysis = lifecycle.review(settings, store, experiment.id, "reviewer")
        assert analysis["decision"]["outcome"] == GUARDRAIL_BREACH
    assert store.get(experiment.id).running
    assert [line["outcome"] for line in actions(settings, "experiment:decision")] == [GUARDRAIL_BREACH]
    assert actions(settings, "experiment:rollback") == []


def test_a_breach_under_a_sample_ratio_mismatch_still_rolls_back(settings):
    store = lifecycle.open_store(settings, {})
    experiment = breached(store, settings, auto_rollback=True)
    store.record_exposures(experiment.id, [(f"a{i}", ARM_A) for i in range(600)] + [(f"b{i}", ARM_B) for i in range(400)])
    analysis = lifecycle.review(settings, store, experiment.id, "reviewer")
    decision = analysis["decision"]
    assert decision["outcome"] == SAMPLE_RATIO_MISMATCH  # the split is broken: that comes first...
    assert decision["breaches"] == ["latency_p99_ms of B is 200, the guardrail is latency_p99_ms<=50"]
    assert "and latency_p99_ms of B is 200" in decision["detail"]
    assert not store.get(experiment.id).running  # ...but a slow B is still taken out of traffic
    assert [line["outcome"] for line in actions(settings, "experiment:rollback")] == ["rolled_back"]


def test_two_reviewers_at_once_both_complete(settings):
    store = lifecycle.open_store(settings, {})
    experiment = breached(store, settings, auto_rollback=True)
    with paused_before_insert_into(store.engine, "hokusai_experiment_snapshots"):
        results = run_together(
            lambda: lifecycle.review(settings, store, experiment.id, "server 1"),
            lambda: lifecycle.review(settings, store, experiment.id, "server 2"),
        )
    assert [type(r).__name__ for r in results] == ["dict", "dict"], results
    assert [s["seq"] for s in store.snapshots(experiment.id)] == [1, 2]
    assert len(actions(settings, "experiment:rollback")) == 1


def test_a_b_win_refused_by_the_registry_gate_stops_the_experiment_and_says_why(settings, monkeypatch):
    """The gate itself is tested with a real registry (e2e/test_ab_experiments.py); here the
    registry refuses, as it does when B's attestation no longer verifies."""
    from hokusai_assets.lib.registry.promotion import RegistryError
    from hokusai_assets.services import model_registry

    asked = []

    def refuse(settings, version, **kwargs):
        asked.append((version, kwargs["context"]["experiment"]["id"]))
        raise RegistryError("refusing to promote: its attestation has not been verified", code="E_REGISTRY_REFUSED")

    monkeypatch.setattr(model_registry, "promote_version", refuse)
    store = lifecycle.open_store(settings, {})
    experiment = start(store, model=settings.config.registered_model_name, auto_promote=True)
    feed(store, experiment, 600)
    lifecycle.review(settings, store, experiment.id, "reviewer")
    lifecycle.review(settings, store, experiment.id, "another reviewer")  # stopped already: no second attempt
    stopped = store.get(experiment.id)
    assert asked == [(experiment.spec.b.version, experiment.id)]
    assert not stopped.running and stopped.stop_reason.startswith("B better: ")
    assert stopped.decision["outcome"] == B_BETTER
    assert stopped.decision["promotion"].startswith("refused: refusing to promote")


def test_a_b_win_whose_promotion_fails_unexpectedly_is_recorded_and_the_review_completes(settings, monkeypatch):
    from hokusai_assets.services import model_registry

    expected = []

    def unreachable(settings, version, **kwargs):
        expected.append(kwargs["expected_champion"])
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(model_registry, "promote_version", unreachable)
    store = lifecycle.open_store(settings, {})
    experiment = start(store, model=settings.config.registered_model_name, auto_promote=True)
    feed(store, experiment, 600)
    analysis = lifecycle.review(settings, store, experiment.id, "reviewer")
    assert analysis["decision"]["outcome"] == B_BETTER
    assert expected == [A.version]  # A is the champion arm: B may replace only that version
    stopped = store.get(experiment.id)
    assert not stopped.running
    assert stopped.decision["promotion"] == "failed: ConnectionError: tracking server unreachable"
