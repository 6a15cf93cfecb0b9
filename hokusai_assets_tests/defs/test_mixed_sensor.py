"""The contribution sensor on a mixed-type task: a fitting file gets its full run, a file with
a missing number that has no imputation gets a run of its schema check alone."""

import dagster as dg
import pandas as pd
import pytest

from hokusai_assets.lib.samples.mixed_task import write_mixed_task
from hokusai_assets.settings.load import load_settings
from hokusai_assets_tests.defs.test_sensors import materialise_reference_tables, submit, tick


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def mixed(tmp_path):
    task = write_mixed_task(tmp_path / "task", drift_report=False)
    return task, load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})


def test_the_sensor_screens_mixed_files_by_the_mixed_rules(mixed, instance, tmp_path, capfd):
    task, settings = mixed
    materialise_reference_tables(settings, task)
    frame = pd.read_csv(task.contribution_path)
    unfit = tmp_path / "unfit.csv"
    frame.assign(monthly_spend=frame["monthly_spend"].where(frame.index != 2)).to_csv(unfit, index=False)
    bad = submit(settings, unfit)["partition"]
    good = submit(settings, task.contribution_path)["partition"]
    result = tick(settings, instance)
    said = capfd.readouterr().err
    requests = {r.partition_key: r for r in result.run_requests}
    assert requests[good].asset_selection is None  # missing age, visits, country and comment are fine
    assert requests[bad].asset_check_keys is not None
    assert f"{bad} does not fit the task schema (E_SCHEMA_MISSING_VALUE)" in said


def test_a_mixed_contribution_is_attested_through_the_sensor_and_its_run(mixed, instance):
    """The whole way a dropped file goes: the reference prepared, the sensor's tick, the run it
    asks for, executed as the daemon would, ending in a signed statement for the file."""
    import json

    from hokusai_assets.defs.definitions import build_definitions
    from hokusai_assets_tests.defs.conftest import run_job, run_request, statement_path

    task, settings = mixed
    defs = build_definitions(settings)
    assert run_job(defs, "prepare_baseline", instance).success
    key = submit(settings, task.contribution_path)["partition"]
    [request] = tick(settings, instance).run_requests
    assert request.partition_key == key
    assert run_request(defs, request, instance).success
    statement = json.loads(statement_path(settings, key).read_text())
    predicate = statement["predicate"]
    assert predicate["contribution"]["partition"] == key
    assert predicate["contribution"]["data_root"].startswith("sha256:")
    # The sample contribution helps (it brings the country the baseline never saw): accepted.
    assert predicate["evaluation"]["accepted"] is True and predicate["evaluation"]["delta_one_bps"] > 0
