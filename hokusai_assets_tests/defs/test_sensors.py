import json

import dagster as dg
import pandas as pd
import pytest

from hokusai_assets.defs import sensors
from hokusai_assets.defs.sensors import build_contribution_sensor, intake_tick
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.services.intake import submit_file
from hokusai_assets.services.quarantine import list_quarantine
from hokusai_assets.services.store import ContributionStore
from hokusai_assets_tests.small_disk import fill, free_again, left_behind, small_disk

WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def mark_reference_current(settings, instance):
    """What a successful prepare_baseline run records, without running it."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization("baseline_metrics", metadata={"reference_fingerprint": settings.reference_fingerprint()})
    )


def tick(settings, instance, cursor=None, reference_current=True):
    if reference_current:
        mark_reference_current(settings, instance)
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = intake_tick(context, settings, ContributionStore.open(settings.layout, environ={}))
    # Apply what the daemon would apply: the partitions the result asks for.
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def submit(settings, path):
    return submit_file(settings, path, Contributor(wallet=WALLET))


def test_submitted_file_becomes_one_partition_and_one_run(mock_settings, mock_task, instance):
    submitted = submit(mock_settings, mock_task.contribution_path)
    result = tick(mock_settings, instance)
    key = submitted["partition"]
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [(key, key)]
    [request] = result.dynamic_partitions_requests
    assert request.partitions_def_name == "contributions" and list(request.partition_keys) == [key]
    assert json.loads(result.cursor) == {"scan": {}, "held": []}
    assert list(mock_settings.layout.inbox.iterdir()) == [], "the clear copy leaves the inbox once stored"
    store = ContributionStore.open(mock_settings.layout, environ={})
    assert store.read_bytes(key) == mock_task.contribution_path.read_bytes()


def test_next_tick_requests_nothing_new(mock_settings, mock_task, instance):
    submit(mock_settings, mock_task.contribution_path)
    first = tick(mock_settings, instance)
    second = tick(mock_settings, instance, cursor=first.cursor)
    assert not second.run_requests and not second.dynamic_partitions_requests


def test_same_bytes_again_are_reported_as_a_duplicate_without_a_run(mock_settings, mock_task, instance):
    key = submit(mock_settings, mock_task.contribution_path)["partition"]
    first = tick(mock_settings, instance)
    submit(mock_settings, mock_task.contribution_path)
    again = tick(mock_settings, instance, cursor=first.cursor)
    assert not again.run_requests
    [event] = again.asset_events
    assert event.partition == key and event.metadata["code"].value == "E_INTAKE_DUPLICATE"
    [reason] = list_quarantine(mock_settings.layout.quarantine)[:1]
    assert reason["code"] == "E_INTAKE_DUPLICATE" and reason["partition"] == key


def test_a_tick_that_died_after_storing_is_made_good_by_the_next(mock_settings, mock_task, instance):
    # The daemon stored the file, then died before its SensorResult was applied.
    store = ContributionStore.open(mock_settings.layout, environ={})
    stored, _ = store.put(mock_task.contribution_path, Contributor(wallet=WALLET))
    restarted = tick(mock_settings, instance, cursor=None)
    assert [r.partition_key for r in restarted.run_requests] == [stored.key]
    assert [r.run_key for r in restarted.run_requests] == [stored.key]  # one run, however often asked


def test_restart_keeps_the_stability_cursor(mock_settings, tmp_path, instance):
    mock_settings.layout.inbox.mkdir(parents=True)
    hand_placed = mock_settings.layout.inbox / "manual.csv"
    hand_placed.write_text("f01,label\n0.5,1\n")
    (mock_settings.layout.inbox / "manual.csv.contributor.json").write_text(json.dumps({"wallet": WALLET}))
    first = tick(mock_settings, instance)
    assert not first.run_requests and "manual.csv" in json.loads(first.cursor)["scan"]
    # A restarted daemon resumes from the stored cursor: the file has held still, so it goes in.
    second = tick(mock_settings, instance, cursor=first.cursor)
    assert len(second.run_requests) == 1


def test_bad_file_is_quarantined_and_the_tick_goes_on(mock_settings, mock_task, instance, tmp_path):
    mock_settings.layout.inbox.mkdir(parents=True)
    (mock_settings.layout.inbox / "notes.txt").write_bytes(b"hello")
    submit(mock_settings, mock_task.contribution_path)
    result = tick(mock_settings, instance)
    assert len(result.run_requests) == 1
    quarantined = [e for e in result.asset_events if e.metadata["outcome"].value == "quarantined"]
    assert [e.metadata["code"].value for e in quarantined] == ["E_FORMAT_UNSUPPORTED"]
    [reason] = list_quarantine(mock_settings.layout.quarantine)
    assert (mock_settings.layout.quarantine / reason["file"]).read_bytes() == b"hello"


def test_a_full_store_disk_stops_the_intake_and_keeps_what_the_tick_did(mock_settings, mock_task, instance, capfd):
    inbox = mock_settings.layout.inbox
    inbox.mkdir(parents=True)
    # Placed by hand (no digest in its sidecar): taken only once it has held still across two looks.
    (inbox / "manual.csv").write_text("f01,label\n0.5,1\n")
    (inbox / "manual.csv.contributor.json").write_text(json.dumps({"wallet": WALLET}))
    first = tick(mock_settings, instance)
    assert "manual.csv" in json.loads(first.cursor)["scan"]
    submit(mock_settings, mock_task.contribution_path)
    (inbox / "notes.txt").write_bytes(b"hello")  # a bad file: quarantined before any store write
    good = sorted(p for p in inbox.iterdir() if p.name != "notes.txt")
    store_dir = mock_settings.layout.store_dir
    ContributionStore.open(mock_settings.layout, environ={})  # its key, outside the small disk
    with small_disk(store_dir, 256):
        fill(store_dir)
        full = tick(mock_settings, instance, cursor=first.cursor)
        # The tick returns: the file it quarantined is reported (so its alert follows) ...
        [event] = full.asset_events
        assert event.metadata["outcome"].value == "quarantined" and event.metadata["code"].value == "E_FORMAT_UNSUPPORTED"
        assert [r["code"] for r in list_quarantine(mock_settings.layout.quarantine)] == ["E_FORMAT_UNSUPPORTED"]
        assert not full.run_requests and not full.dynamic_partitions_requests
        assert "E_DISK_FULL" in capfd.readouterr().err
        # ... and the good files, not at fault, stay in the inbox, the hand-placed one still known as stable.
        assert sorted(inbox.iterdir()) == good and left_behind(store_dir) == []
        assert json.loads(full.cursor)["scan"]["manual.csv"] == json.loads(first.cursor)["scan"]["manual.csv"]
        free_again(store_dir)
        later = tick(mock_settings, instance, cursor=full.cursor)
        assert len(later.run_requests) == 2 and later.asset_events == []
        assert list(inbox.iterdir()) == []


def test_sensor_definition_targets_the_jobs_and_runs_by_default(mock_settings):
    sensor = build_contribution_sensor(mock_settings)
    assert sorted(target.job_name for target in sensor.targets) == ["evaluate_contribution", "prepare_baseline"]
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == mock_settings.config.intake.sensor_interval_seconds


def test_contribution_runs_wait_for_a_current_reference(mock_settings, mock_task, instance):
    submit(mock_settings, mock_task.contribution_path)
    first = tick(mock_settings, instance, reference_current=False)
    # The partition is registered at once, but the one run asked for prepares the reference.
    [request] = first.run_requests
    assert request.job_name == "prepare_baseline" and request.run_key.startswith("reference-")
    [key] = first.dynamic_partitions_requests[0].partition_keys
    assert json.loads(first.cursor)["held"] == [key]
    # Still stale: the same reference run (same run_key, so Dagster launches it once), still held.
    second = tick(mock_settings, instance, cursor=first.cursor, reference_current=False)
    assert [r.run_key for r in second.run_requests] == [request.run_key]
    # The reference is current now: the held contribution gets its run.
    third = tick(mock_settings, instance, cursor=second.cursor)
    assert [(r.job_name, r.partition_key, r.run_key) for r in third.run_requests] == [
        ("evaluate_contribution", key, key)
    ]
    assert json.loads(third.cursor)["held"] == []


def materialise_reference_tables(settings, task):
    """The two reference tables where prepare_baseline's IO manager writes them."""
    for asset, name in (("baseline_training_set", "baseline.parquet"), ("benchmark_dataset", "benchmark.parquet")):
        target = settings.layout.table_file(asset)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((task.config_path.parent / name).read_bytes())


def test_a_file_that_does_not_fit_the_schema_gets_a_run_of_its_schema_check_alone(
    mock_settings, mock_task, instance, tmp_path, capfd
):
    materialise_reference_tables(mock_settings, mock_task)
    unlabelled = tmp_path / "unlabelled.csv"
    pd.read_csv(mock_task.contribution_path).drop(columns=["label"]).to_csv(unlabelled, index=False)
    bad = submit(mock_settings, unlabelled)["partition"]
    good = submit(mock_settings, mock_task.contribution_path)["partition"]
    result = tick(mock_settings, instance)
    said = capfd.readouterr().err  # the tick's log: what the tick history shows
    requests = {r.partition_key: r for r in result.run_requests}
    assert requests[good].asset_selection is None and requests[good].asset_check_keys is None
    misfit = requests[bad]
    assert misfit.job_name == "evaluate_contribution" and misfit.run_key == bad
    assert misfit.asset_selection == [dg.AssetKey("contributed_dataset"), dg.AssetKey("validated_contribution")]
    assert misfit.asset_check_keys == [dg.AssetCheckKey(dg.AssetKey("validated_contribution"), "schema_valid")]
    assert f"{bad} does not fit the task schema (E_SCHEMA_MISSING_COLUMN): its run checks that alone" in said
    assert "inbox: 2 taken, 0 quarantined, 0 waiting; 2 new partition(s); 2 contribution run(s) requested" in said


def test_a_screen_that_cannot_read_the_reference_falls_back_to_the_full_run(mock_settings, mock_task, instance, capfd):
    materialise_reference_tables(mock_settings, mock_task)
    mock_settings.layout.table_file("benchmark_dataset").write_bytes(b"not parquet")
    key = submit(mock_settings, mock_task.contribution_path)["partition"]
    [request] = tick(mock_settings, instance).run_requests
    assert request.partition_key == key and request.asset_selection is None  # the run will say what is wrong
    assert f"{key}: could not screen against the task schema" in capfd.readouterr().err


def test_a_tick_that_runs_nothing_says_what_it_did_as_its_skip_reason(mock_settings, instance):
    mock_settings.layout.inbox.mkdir(parents=True)
    (mock_settings.layout.inbox / "notes.txt").write_bytes(b"hello")
    result = tick(mock_settings, instance)
    assert not result.run_requests
    assert result.skip_reason.skip_message == "inbox: 0 taken, 1 quarantined, 0 waiting; 0 new partition(s); nothing to run"


def unlabelled_copies(task, folder, count: int):
    rows = pd.read_csv(task.contribution_path).drop(columns=["label"])
    for i in range(count):  # different bytes, so different partitions
        path = folder / f"unlabelled-{i}.csv"
        rows.iloc[i:].to_csv(path, index=False)
        yield path


def test_the_tick_names_a_few_screened_out_files_and_counts_the_rest(mock_settings, mock_task, instance, tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(sensors, "NAMED_MISFITS", 1)
    materialise_reference_tables(mock_settings, mock_task)
    keys = sorted(submit(mock_settings, path)["partition"] for path in unlabelled_copies(mock_task, tmp_path, 3))
    result = tick(mock_settings, instance)
    said = capfd.readouterr().err
    assert all(request.asset_check_keys for request in result.run_requests)
    assert sum(f"{key} does not fit the task schema" in said for key in keys) == 1
    assert "; 2 more do not fit the task schema" in said


def test_files_past_the_screening_budget_get_full_runs(mock_settings, mock_task, instance, tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(sensors, "SCREEN_BUDGET_SECONDS", 0.0)
    materialise_reference_tables(mock_settings, mock_task)
    for path in unlabelled_copies(mock_task, tmp_path, 2):
        submit(mock_settings, path)
    result = tick(mock_settings, instance)
    # Unscreened, they are judged by the whole run instead, which rejects them the same way.
    assert [request.asset_check_keys for request in result.run_requests] == [None, None]
    assert "2 not screened within 0 s: full runs" in capfd.readouterr().err
