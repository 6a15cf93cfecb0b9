"""A/B experiments in Dagster: ab_experiment_sensor, the ab_experiment partitions and their ab_guardrails check.

Real Dagster instances and a real experiment store (SQLite under a throw-away HOKUSAI_HOME);
experiments are inserted straight into the store, with made-up versions and digests (the
review promotes or rolls back only when the experiment allows it, and none here does).
"""

import base64
import json
import re
import secrets

import dagster as dg
import pytest

from hokusai_assets.defs import ab_sensor
from hokusai_assets.defs.assets.ab_experiments import PNG_SIGNATURE
from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.lib.experiments.plots import effect_plot_png
from hokusai_assets.lib.experiments.spec import Arm, ExperimentSpec, Guardrail
from hokusai_assets.services.experiments.lifecycle import open_store
from hokusai_assets.settings.load import BUNDLED_CONFIG, load_settings
from hokusai_assets_tests.lib.experiments.factories import observe

SENSOR = "ab_experiment_sensor"
JOB = "refresh_ab_experiment"
ASSET = dg.AssetKey("ab_experiment")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("HOKUSAI_EXPERIMENTS_DB_URL", raising=False)
    return load_settings(config_path=BUNDLED_CONFIG, home=tmp_path / "home", environ={})


@pytest.fixture
def defs(settings):
    return build_definitions(settings)


@pytest.fixture
def store(settings):
    return open_store(settings)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def start(store, experiment_id, model="digits", guardrails=(), **spec):
    return store.create(
        ExperimentSpec(
            id=experiment_id,
            name=f"exp-{experiment_id}",
            model=model,
            a=Arm("champion", "3", "sha256:" + "a" * 64, "c-a"),
            b=Arm("challenger", "4", "sha256:" + "b" * 64, "c-b"),
            a_bps=5000,
            metric="conversion",
            kind="binary",
            guardrails=tuple(Guardrail.parse(g) for g in guardrails),
            **spec,
        ),
        secrets.token_bytes(32),
        "tester",
    )


def tick(defs, instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources)
    [sensor] = [s for s in defs.sensors if s.name == SENSOR]
    result = sensor(context)
    if isinstance(result, dg.SensorResult):
        # What the daemon applies: the partitions the result asks for.
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def runs(result):
    return sorted((r.partition_key, r.run_key) for r in result.run_requests or [])


def refresh(defs, instance, experiment_id, tags=None):
    if experiment_id not in instance.get_dynamic_partitions("ab_experiments"):
        instance.add_dynamic_partitions("ab_experiments", [experiment_id])
    result = defs.resolve_job_def(JOB).execute_in_process(
        instance=instance, partition_key=experiment_id, tags=tags, raise_on_error=False
    )
    [materialisation] = result.get_asset_materialization_events()
    [check] = result.get_asset_check_evaluations()
    return result, materialisation.materialization.metadata, check


# ---------------------------------------------------------------------------- the sensor


def test_the_sensor_adds_partitions_and_refreshes_running_experiments_until_one_final_run(defs, store, instance):
    start(store, "ab-0000000001", model="m1")
    start(store, "ab-0000000002", model="m2")

    first = tick(defs, instance)
    [added] = first.dynamic_partitions_requests
    assert added.partitions_def_name == "ab_experiments"
    assert sorted(added.partition_keys) == ["ab-0000000001", "ab-0000000002"]
    assert {r.job_name for r in first.run_requests} == {JOB}
    assert [key for key, _ in runs(first)] == ["ab-0000000001", "ab-0000000002"]

    # Every tick refreshes every running experiment again, under a run key of its own.
    second = tick(defs, instance, first.cursor)
    assert not second.dynamic_partitions_requests
    assert [key for key, _ in runs(second)] == ["ab-0000000001", "ab-0000000002"]
    assert not {k for _, k in runs(first)} & {k for _, k in runs(second)}

    # Stopped: one final run, then nothing more for it.
    assert store.stop("ab-0000000001", "by hand")
    third = tick(defs, instance, second.cursor)
    assert runs(third) == [("ab-0000000001", "ab-0000000001:final"), ("ab-0000000002", "ab-0000000002:3")]
    fourth = tick(defs, instance, third.cursor)
    assert [key for key, _ in runs(fourth)] == ["ab-0000000002"]

    assert store.stop("ab-0000000002", "by hand")
    fifth = tick(defs, instance, fourth.cursor)
    assert runs(fifth) == [("ab-0000000002", "ab-0000000002:final")]
    sixth = tick(defs, instance, fifth.cursor)
    assert not sixth.run_requests and not sixth.dynamic_partitions_requests
    assert "0 running" in sixth.skip_reason.skip_message

    # An experiment started and stopped between two ticks still gets its partition and one run.
    start(store, "ab-0000000003", model="m3")
    assert store.stop("ab-0000000003", "by hand")
    seventh = tick(defs, instance, sixth.cursor)
    assert list(seventh.dynamic_partitions_requests[0].partition_keys) == ["ab-0000000003"]
    assert runs(seventh) == [("ab-0000000003", "ab-0000000003:final")]
    assert not tick(defs, instance, seventh.cursor).run_requests
    assert set(instance.get_dynamic_partitions("ab_experiments")) == {
        "ab-0000000001",
        "ab-0000000002",
        "ab-0000000003",
    }


def test_a_refresh_still_under_way_is_not_asked_for_again(defs, store, instance, monkeypatch):
    start(store, "ab-0000000001")
    first = tick(defs, instance)
    job = defs.resolve_job_def(JOB)
    instance.create_run_for_job(job, tags={"dagster/partition": "ab-0000000001"}, status=dg.DagsterRunStatus.STARTED)
    second = tick(defs, instance, first.cursor)
    assert not second.run_requests
    assert "still refreshing: ab-0000000001" in second.skip_reason.skip_message

    # A run unfinished for longer than a refresh ever takes is taken for dead: refreshed again.
    monkeypatch.setattr(ab_sensor, "STALE_AFTER", -ab_sensor.STALE_AFTER)
    third = tick(defs, instance, second.cursor)
    assert [key for key, _ in runs(third)] == ["ab-0000000001"]


def test_the_sensor_skips_with_a_reason_when_the_store_cannot_be_read(defs, instance, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("HOKUSAI_EXPERIMENTS_DB_URL", f"sqlite:///{not_a_folder}/experiments.db")
    result = tick(defs, instance, cursor=json.dumps({"tick": 4, "running": ["ab-0000000001"]}))
    assert isinstance(result, dg.SkipReason)
    assert "experiment store cannot be read" in result.skip_message


# ---------------------------------------------------------------------------- the asset and its check


def test_a_refresh_shows_arms_effect_decision_and_plot_and_keeps_a_snapshot(defs, settings, store, instance):
    experiment = start(store, "ab-1f2e3d4c5b", guardrails=("latency_p99_ms<=50",))
    observe(store, experiment.id)
    assert store.snapshots(experiment.id) == []

    result, metadata, check = refresh(defs, instance, experiment.id, tags={"dagster/sensor_name": SENSOR})
    assert result.success
    history = store.snapshots(experiment.id)
    assert len(history) == 1 and metadata["reviews"].value == 1

    arms = metadata["arms"].value
    assert re.search(r"\| A \| 3 \| champion \| 50% \| 1000 \| 1000 \|", arms)
    assert re.search(r"\| B \| 4 \| challenger \| 50% \| 1000 \| 1000 \|", arms)
    assert "p99 latency (ms)" in arms and "shadow agreement" in arms
    effect, low, high = (metadata[name].value for name in ("effect", "ci_low", "ci_high"))
    assert low < effect < high and low > 0  # B converts at 30%, A at 10%
    assert effect == pytest.approx(history[0]["test"]["effect"])
    assert 0 < metadata["p_value"].value < 0.05
    assert metadata["decision"].value == "b_better" and "B - A" in metadata["decision_detail"].value
    assert metadata["sample_ratio_p_value"].value > 0.5
    assert metadata["status"].value == "running"

    # The chart: inline in the markdown, and the same bytes in the file under HOKUSAI_HOME.
    inline = base64.b64decode(
        re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", metadata["effect_over_time"].value)[1]
    )
    assert inline.startswith(PNG_SIGNATURE)
    path = settings.layout.experiment_plot_file(experiment.id)
    assert metadata["plot"].value == str(path) and path.read_bytes() == inline
    assert inline == effect_plot_png(history, experiment.spec)  # deterministic

    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN

    # The decision was audited under the sensor's name.
    [audited] = [json.loads(line) for line in settings.layout.registry_audit_log.read_text().splitlines()]
    assert audited["action"] == "experiment:decision" and audited["actor"] == f"dagster: {SENSOR}"

    # Again within the minute, same decision: no second snapshot. Stopped: analysed, shown as
    # stopped, no snapshot added.
    assert refresh(defs, instance, experiment.id)[1]["reviews"].value == 1
    store.stop(experiment.id, "stopped by tester: enough")
    result, metadata, _ = refresh(defs, instance, experiment.id)
    assert result.success and metadata["status"].value == "stopped" and metadata["reviews"].value == 1
    assert metadata["stop_reason"].value == "stopped by tester: enough"
    assert len(store.snapshots(experiment.id)) == 1


def test_ab_guardrails_warns_on_a_sample_ratio_mismatch_without_failing_the_run(defs, store, instance):
    experiment = start(store, "ab-0000000005")
    observe(store, experiment.id, exposed_a=5000, exposed_b=4000)
    result, metadata, check = refresh(defs, instance, experiment.id)
    assert result.success
    assert metadata["decision"].value == "sample_ratio_mismatch"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("sample-ratio mismatch: 5000 units exposed to A and 4000 to B")
    assert check.metadata["code"].value == "E_AB_SAMPLE_RATIO_MISMATCH"


def test_ab_guardrails_warns_on_a_guardrail_breach_without_failing_the_run(defs, store, instance):
    experiment = start(store, "ab-0000000006", guardrails=("latency_p99_ms<=1",))
    observe(store, experiment.id, latency_b_ms=20.0)
    result, metadata, check = refresh(defs, instance, experiment.id)
    assert result.success
    assert metadata["decision"].value == "guardrail_breach"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == "guardrail breach: latency_p99_ms of B is 20, the guardrail is latency_p99_ms<=1"
    assert check.metadata["code"].value == "E_AB_GUARDRAIL_BREACH"
    assert store.get(experiment.id).running  # no --auto-rollback: it warns, nothing more
