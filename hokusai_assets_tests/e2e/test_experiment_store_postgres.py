"""The experiment store on a real PostgreSQL: chosen from the Dagster instance file as
deployed (deploy/dagster.postgres.yaml with the DAGSTER_PG_* variables), and behaving as on
SQLite. The shared checks run on both backends; on PostgreSQL the database is shared by the
module's tests, so each test uses its own model names and experiment ids.
"""

from __future__ import annotations

import secrets
import shutil
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from hokusai_assets.lib.experiments.assignment import ARM_A, ARM_B
from hokusai_assets.lib.experiments.decisions import B_BETTER
from hokusai_assets.lib.experiments.outcomes import OutcomeEvent
from hokusai_assets.lib.experiments.spec import ExperimentError
from hokusai_assets.services.experiments import lifecycle
from hokusai_assets.services.experiments.router import ExperimentRouter
from hokusai_assets.services.experiments.store import ExperimentStore, StoredExperiment, store_url
from hokusai_assets.settings.load import Settings, load_settings
from hokusai_assets_tests.e2e.postgres import PostgresServer, running_postgres
from hokusai_assets_tests.services.experiments.test_store import (
    EXAMPLE_CONFIG,
    POSTGRES_YAML,
    assert_summaries_match,
    feed,
    fixed_salt,
    key_and_arm,
    make_spec,
    stored_events,
    traffic,
)

# One worker builds the module's fixture once (pytest -n 2 --dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("experiment_store_postgres")]


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> PostgresServer:
    with running_postgres(tmp_path_factory.mktemp("experiments-postgres")) as server:
        yield server


def postgres_settings(home: Path, server: PostgresServer) -> tuple[Settings, dict[str, str]]:
    """A home whose Dagster instance file is deploy/dagster.postgres.yaml, and its environment."""
    settings = load_settings(config_path=EXAMPLE_CONFIG, home=home, environ={})
    settings.layout.dagster_home.mkdir(parents=True)
    shutil.copyfile(POSTGRES_YAML, settings.layout.instance_file)
    return settings, server.dagster_env()


@pytest.fixture
def pg_store(postgres: PostgresServer, tmp_path: Path) -> ExperimentStore:
    settings, environ = postgres_settings(tmp_path / "home", postgres)
    opened = lifecycle.open_store(settings, environ)
    assert opened.kind == "postgresql"
    yield opened
    opened.engine.dispose()  # no idle connections left to the server between tests


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> ExperimentStore:
    if request.param == "sqlite":
        return ExperimentStore(f"sqlite:///{tmp_path}/experiments.db")
    return request.getfixturevalue("pg_store")


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def start(store: ExperimentStore, model: str, **overrides) -> StoredExperiment:
    experiment_id = unique("ab")
    return store.create(make_spec(experiment_id, model, **overrides), fixed_salt(experiment_id), "tester")


# --- the store follows the instance file ---------------------------------------------------


def test_store_url_picks_the_instance_postgres_and_creates_the_tables_there(postgres, tmp_path):
    settings, environ = postgres_settings(tmp_path / "home", postgres)
    url = store_url(settings.layout, environ)
    assert url.startswith("postgresql+psycopg2://") and f":{postgres.port}/{postgres.db}" in url
    opened = ExperimentStore.open(settings.layout, environ)
    try:
        assert opened.kind == "postgresql"
        experiment = start(opened, unique("model"))
        connection = postgres.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'hokusai_%%'")
                tables = {row[0] for row in cursor.fetchall()}
                cursor.execute("SELECT status FROM hokusai_experiments WHERE id = %s", (experiment.id,))
                assert cursor.fetchall() == [("running",)]
        finally:
            connection.close()
        assert tables >= {
            "hokusai_experiments",
            "hokusai_exposures",
            "hokusai_outcomes",
            "hokusai_arm_traffic",
            "hokusai_experiment_snapshots",
        }
    finally:
        opened.engine.dispose()
    # Nothing fell back to SQLite under the home.
    assert not settings.layout.experiments_db.exists()
    # Without its variables the instance file is not silently ignored.
    with pytest.raises(ExperimentError) as caught:
        store_url(settings.layout, {})
    assert caught.value.code == "E_AB_STORE" and "DAGSTER_PG_" in caught.value.message


# --- the same behaviour on both backends ---------------------------------------------------


def test_one_running_experiment_per_model(store):
    model, other = unique("model"), unique("model")
    first = start(store, model)
    with pytest.raises(ExperimentError) as caught:
        start(store, model)
    assert caught.value.code == "E_AB_RUNNING" and first.id in caught.value.message
    assert start(store, other).running
    assert store.stop(first.id, "done") is True and store.stop(first.id, "again") is False
    second = start(store, model)
    assert store.running(model).id == second.id and store.running(other) is not None


def test_simultaneous_starts_let_exactly_one_win(store):
    model = unique("model")
    barrier = threading.Barrier(4)
    won, refused = [], []

    def attempt() -> None:
        barrier.wait()
        try:
            won.append(start(store, model).id)
        except ExperimentError as error:
            refused.append(error.code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(won) == 1 and refused == ["E_AB_RUNNING"] * 3
    assert store.running(model).id == won[0]


def test_outcomes_are_idempotent_and_a_conflict_refuses_the_batch(store):
    experiment = start(store, unique("model"), kind="continuous")
    # Values that are not exact in binary: a single-precision column would turn a resend into a conflict.
    events = [OutcomeEvent("user1", "e1", 0.1), OutcomeEvent("user2", "e2", 1 / 3), OutcomeEvent("user1", "e3", 2.5)]
    assert lifecycle.record_outcomes(store, experiment, events) == ["recorded"] * 3
    assert lifecycle.record_outcomes(store, experiment, events) == ["duplicate"] * 3
    assert store.outcome_count(experiment.id) == 3
    with pytest.raises(ExperimentError) as caught:
        lifecycle.record_outcomes(
            store, experiment, [OutcomeEvent("user5", "e5", 1.0), OutcomeEvent("user2", "e2", 0.3)]
        )
    assert caught.value.code == "E_AB_EVENT_CONFLICT"
    assert set(stored_events(store, experiment.id)) == {"e1", "e2", "e3"}
    assert sum(store.exposure_counts(experiment.id).values()) == 2
    store.stop(experiment.id, "done")
    with pytest.raises(ExperimentError) as caught:
        lifecycle.record_outcomes(store, store.get(experiment.id), [OutcomeEvent("user6", "e6", 1.0)])
    assert caught.value.code == "E_AB_NOT_RUNNING"


def test_unit_values(store):
    binary = start(store, unique("model"))
    units = [f"user{i}" for i in range(40)]
    store.record_exposures(binary.id, [key_and_arm(binary, u) for u in units])
    lifecycle.record_outcomes(
        store,
        binary,
        [OutcomeEvent(f"user{i}", f"z{i}", 0.0) for i in range(10)]
        + [OutcomeEvent(f"user{i}", f"c{i}", 1.0) for i in range(5, 15)],
    )
    expected = {ARM_A: [], ARM_B: []}
    for i, unit in enumerate(units):
        expected[key_and_arm(binary, unit)[1]].append(1.0 if 5 <= i < 15 else 0.0)
    values = store.unit_values(binary.id, "binary")
    assert {arm: sorted(v) for arm, v in values.items()} == {arm: sorted(v) for arm, v in expected.items()}
    assert_summaries_match(store, binary.id, "binary", expected)

    continuous = start(store, unique("model"), kind="continuous")
    store.record_exposures(continuous.id, [key_and_arm(continuous, u) for u in units])
    lifecycle.record_outcomes(
        store,
        continuous,
        [OutcomeEvent("user1", "a", 1.0), OutcomeEvent("user1", "b", 4.0), OutcomeEvent("user2", "c", 0.5)],
    )
    values = store.unit_values(continuous.id, "continuous")
    expected = {ARM_A: [], ARM_B: []}
    expected[key_and_arm(continuous, "user1")[1]].append(2.5)
    expected[key_and_arm(continuous, "user2")[1]].append(0.5)
    assert {arm: sorted(v) for arm, v in values.items()} == {arm: sorted(v) for arm, v in expected.items()}
    assert_summaries_match(store, continuous.id, "continuous", expected)  # PostgreSQL's arithmetic too


def test_traffic_adds_up_across_servers_and_is_replaced_per_server(store):
    experiment = start(store, unique("model"))
    store.save_traffic(experiment.id, "s1", {ARM_A: traffic(10, 2.0), ARM_B: traffic(5, 40.0, errors=1)})
    store.save_traffic(experiment.id, "s2", {ARM_A: traffic(3, 2.0), ARM_B: traffic(4, 40.0)})
    store.save_traffic(experiment.id, "s1", {ARM_A: traffic(12, 2.0), ARM_B: traffic(7, 40.0, errors=2)})
    total = store.traffic(experiment.id)
    assert (total[ARM_A].requests, total[ARM_B].requests, total[ARM_B].errors) == (15, 11, 2)
    assert total[ARM_B].latency_quantile_ms(0.99) == 50.0


def test_concurrent_overlapping_outcomes_are_stored_once(store):
    """Two clients send overlapping batches (same event ids, same units) at once. A batch the
    store refuses for a transient reason (see the deadlock test below) is sent again, as a
    client does after a 5xx; in the end every event is stored exactly once with its value."""
    experiment = start(store, unique("model"), kind="continuous")
    barrier = threading.Barrier(2)
    errors, retried = [], []

    def send(ids: list[int]) -> None:
        barrier.wait()
        try:
            for begin in range(0, len(ids), 25):
                batch = [OutcomeEvent(f"user{i % 30}", f"e{i}", float(i)) for i in ids[begin : begin + 25]]
                for attempt in range(20):
                    try:
                        lifecycle.record_outcomes(store, experiment, batch)
                        break
                    except sa.exc.OperationalError:
                        retried.append(attempt)
                else:
                    raise AssertionError("a batch was refused 20 times")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=send, args=(ids,)) for ids in (list(range(400)), list(range(399, 199, -1)))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    stored = stored_events(store, experiment.id)
    assert set(stored) == {f"e{i}" for i in range(400)} and store.outcome_count(experiment.id) == 400
    assert all(value == float(event_id[1:]) for event_id, (_, value) in stored.items())
    assert store.exposure_counts(experiment.id)[ARM_A] + store.exposure_counts(experiment.id)[ARM_B] == 30


@pytest.mark.parametrize("path", ["outcomes", "exposures"])
def test_concurrent_writes_over_the_same_units_in_other_orders_do_not_deadlock(pg_store, path):
    experiment = start(pg_store, unique("model"))
    barrier = threading.Barrier(2, timeout=60)
    errors = []

    def write(order: list[int], tag: str) -> None:
        try:
            for round_ in range(10):
                barrier.wait()
                units = [f"r{round_}-user{i}" for i in order]
                if path == "outcomes":
                    events = [OutcomeEvent(unit, f"{tag}-{unit}", 1.0) for unit in units]
                    lifecycle.record_outcomes(pg_store, experiment, events)
                else:  # two servers flushing the exposures of the same units, first seen in other orders
                    pg_store.record_exposures(experiment.id, [key_and_arm(experiment, unit) for unit in units])
        except Exception as error:  # noqa: BLE001 - reported below
            if not isinstance(error, threading.BrokenBarrierError):  # the other thread failed first
                errors.append(f"{type(error).__name__}: {str(error)[:100]}")
            barrier.abort()

    order = list(range(50))
    threads = [threading.Thread(target=write, args=args) for args in ((order, "x"), (order[::-1], "y"))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert sum(pg_store.exposure_counts(experiment.id).values()) == 500


def test_routing_and_analysis_end_to_end(store):
    model = unique("model")
    experiment = start(store, model)
    first, second = ExperimentRouter(store, model), ExperimentRouter(store, model)
    first.refresh()
    second.refresh()
    for i in range(100):
        assert first.route(f"user{i}").arm == second.route(f"user{i}").arm == key_and_arm(experiment, f"user{i}")[1]
    first.refresh()
    second.refresh()
    assert sum(store.exposure_counts(experiment.id).values()) == 100
    feed(store, experiment, 600)
    analysis = lifecycle.analyse(store, store.get(experiment.id))
    assert analysis["decision"]["outcome"] == B_BETTER
    assert sum(analysis["sample_ratio"]["observed"]) == 600
    assert store.add_snapshot(experiment.id, analysis) == 1 and store.add_snapshot(experiment.id, analysis) == 2
    assert [s["seq"] for s in store.snapshots(experiment.id)] == [1, 2]
