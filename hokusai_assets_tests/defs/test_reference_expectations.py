"""The reference assets' declared expectation, evaluated by Dagster's own automation evaluator:
built once, and again when the reference fingerprint (their code version) changes."""

import dagster as dg
import pytest
import yaml

from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.defs.jobs import REFERENCE_ASSETS
from hokusai_assets.settings.load import load_settings

from .conftest import run_job


def requested(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
    return {key.to_user_string() for key in REFERENCE_ASSETS_KEYS if result.get_num_requested(key)}


REFERENCE_ASSETS_KEYS = [dg.AssetKey(name) for name in REFERENCE_ASSETS]


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_reference_carries_its_fingerprint_as_code_version_and_says_what_it_expects(mock_settings):
    graph = build_definitions(mock_settings).resolve_asset_graph()
    version = mock_settings.reference_fingerprint().removeprefix("sha256:")[:16]
    for key in REFERENCE_ASSETS_KEYS:
        node = graph.get(key)
        assert node.code_version == version
        assert node.automation_condition.get_label() == "reference is current"
    # Contribution assets are rebuilt per contribution by the sensor, not by a condition.
    assert graph.get(dg.AssetKey("delta_result")).automation_condition is None


def test_reference_is_built_once_and_again_only_when_its_fingerprint_changes(mock_settings, mock_task, tmp_path, instance):
    defs = build_definitions(mock_settings)
    first = dg.evaluate_automation_conditions(defs, instance)
    assert requested(first) == set(REFERENCE_ASSETS)  # never built: the whole reference is asked for
    # Asked for once: the next evaluation, before the run has even started, asks for nothing.
    second = dg.evaluate_automation_conditions(defs, instance, cursor=first.cursor)
    assert requested(second) == set()

    assert run_job(defs, "prepare_baseline", instance).success
    built = dg.evaluate_automation_conditions(defs, instance, cursor=second.cursor)
    assert requested(built) == set()

    # A config change moves the fingerprint, hence the code version: the reference is stale.
    config = yaml.safe_load(mock_task.config_path.read_text())
    config["training"]["seed"] += 1
    mock_task.config_path.write_text(yaml.safe_dump(config))
    changed = load_settings(config_path=mock_task.config_path, home=tmp_path / "home", environ={})
    assert changed.reference_fingerprint() != mock_settings.reference_fingerprint()
    stale = dg.evaluate_automation_conditions(build_definitions(changed), instance, cursor=built.cursor)
    assert requested(stale) == set(REFERENCE_ASSETS)
