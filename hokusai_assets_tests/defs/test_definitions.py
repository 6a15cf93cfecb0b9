import subprocess
import sys

import dagster as dg
import pytest

from hokusai_assets.definitions import defs
from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.defs.jobs import CONTRIBUTION_ASSETS, REFERENCE_ASSETS

# The asset names of shared/DESIGN.md.
DESIGN_ASSETS = {
    "drift_report",
    "contributed_dataset",
    "validated_contribution",
    "integrated_training_set",
    "improved_model",
    "improved_metrics",
    "delta_result",
    "attestation",
    "baseline_training_set",
    "benchmark_dataset",
    "baseline_model",
    "baseline_metrics",
}
# Issue 5 adds the contribution's MLflow run after its attestation.
TRACKING_ASSETS = {"mlflow_run"}
# Issue 17 adds the table of every contribution.
OVERVIEW_ASSETS = {"contributions_overview"}
# Issue 13 adds one chain per reward epoch.
REWARD_ASSETS = {"reward_epoch", "epoch_rows", "epoch_model", "contribution_values", "payouts", "epoch_attestation", "epoch_mlflow_run"}
# Issue 15 adds one partition per A/B experiment.
EXPERIMENT_ASSETS = {"ab_experiment"}
# Issue 16 adds the hyperparameters every model is trained with (tuned once, or as configured).
TUNING_ASSETS = {"tuned_hyperparameters"}
ALL_ASSETS = DESIGN_ASSETS | TRACKING_ASSETS | OVERVIEW_ASSETS | REWARD_ASSETS | EXPERIMENT_ASSETS | TUNING_ASSETS
# What evaluating a contribution runs; closing a reward epoch is a job of its own.
CONTRIBUTION_JOBS = {"prepare_baseline", "evaluate_contribution", "refresh_contributions_overview"}
ALL_JOBS = CONTRIBUTION_JOBS | {"close_reward_epoch", "refresh_ab_experiment"}
ALL_SENSORS = {
    "contribution_sensor",
    "contributions_overview_sensor",
    "contributions_overview_after_failure_sensor",
    "reference_automation_sensor",
    "lost_retry_sensor",
    "ab_experiment_sensor",
    # Issue 18 adds alerts: off without an alerts: section, on with one.
    "alert_events_sensor",
    "alert_run_failure_sensor",
}


def test_code_location_loads_and_validates(monkeypatch, tmp_path):
    monkeypatch.setenv("HOKUSAI_HOME", str(tmp_path))
    monkeypatch.delenv("HOKUSAI_CONFIG_PATH", raising=False)
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    assert {key.to_user_string() for key in loaded.resolve_all_asset_keys()} == ALL_ASSETS
    assert {job.name for job in loaded.jobs} == ALL_JOBS
    assert {sensor.name for sensor in loaded.sensors} == ALL_SENSORS


def test_broken_config_fails_the_load_with_our_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HOKUSAI_CONFIG_PATH", str(tmp_path / "missing.yaml"))
    with pytest.raises(Exception, match="E_CONFIG_MISSING"):
        defs()


def test_jobs_select_the_reference_and_one_contribution_chain(mock_settings):
    built = build_definitions(mock_settings)
    graph = built.resolve_asset_graph()
    evaluate = built.resolve_job_def("evaluate_contribution")
    assert evaluate.partitions_def == dg.DynamicPartitionsDefinition(name="contributions")
    for name in CONTRIBUTION_ASSETS:
        assert graph.get(dg.AssetKey(name)).partitions_def is not None, name
    for name in REFERENCE_ASSETS:
        assert graph.get(dg.AssetKey(name)).partitions_def is None, name


def test_lineage_follows_the_design(mock_settings):
    graph = build_definitions(mock_settings).resolve_asset_graph()

    def parents(name):
        return {key.to_user_string() for key in graph.get(dg.AssetKey(name)).parent_keys}

    assert "contributed_dataset" in parents("validated_contribution")
    assert {"baseline_training_set", "validated_contribution"} <= parents("integrated_training_set")
    # Tuned once, on the baseline: the baseline and every improved model share the choice.
    assert parents("tuned_hyperparameters") == {"baseline_training_set"}
    assert parents("baseline_model") == {"baseline_training_set", "tuned_hyperparameters"}
    assert parents("improved_model") == {"integrated_training_set", "tuned_hyperparameters"}
    assert {"improved_model", "benchmark_dataset"} <= parents("improved_metrics")
    assert {"baseline_metrics", "improved_metrics"} <= parents("delta_result")
    assert "delta_result" in parents("attestation")
    assert {"baseline_training_set", "epoch_rows", "tuned_hyperparameters"} <= parents("epoch_model")
    assert {"reward_epoch", "epoch_rows", "benchmark_dataset"} <= parents("contribution_values")
    assert "contribution_values" in parents("payouts")
    assert {"payouts", "epoch_model", "contribution_values"} <= parents("epoch_attestation")
    assert "epoch_attestation" in parents("epoch_mlflow_run")


def test_the_reward_chain_is_partitioned_by_epoch(mock_settings):
    from hokusai_assets.defs.jobs import REWARD_ASSETS as CHAIN

    built = build_definitions(mock_settings)
    graph = built.resolve_asset_graph()
    assert built.resolve_job_def("close_reward_epoch").partitions_def == dg.DynamicPartitionsDefinition(name="reward_epochs")
    for name in CHAIN:
        assert graph.get(dg.AssetKey(name)).partitions_def == dg.DynamicPartitionsDefinition(name="reward_epochs"), name


K8S_ENV = (
    "HOKUSAI_K8S_IMAGE",
    "HOKUSAI_K8S_NAMESPACE",
    "HOKUSAI_K8S_SERVICE_ACCOUNT",
    "HOKUSAI_K8S_ENV_CONFIG_MAPS",
    "HOKUSAI_K8S_ENV_SECRETS",
)


def _executor_of(monkeypatch, tmp_path, **environ) -> tuple[dg.JobDefinition, dict]:
    """Load the code location as Dagster does, with HOKUSAI_* set as given."""
    monkeypatch.setenv("HOKUSAI_HOME", str(tmp_path))
    monkeypatch.delenv("HOKUSAI_CONFIG_PATH", raising=False)
    for name in ("HOKUSAI_EXECUTOR", "HOKUSAI_CELERY_BROKER", "HOKUSAI_CELERY_BACKEND", *K8S_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    job = loaded.resolve_job_def("evaluate_contribution")
    return job, dg.validate_run_config(job, {})["execution"]


def test_launched_runs_execute_in_process_unless_the_deployment_says_otherwise(monkeypatch, tmp_path):
    job, execution = _executor_of(monkeypatch, tmp_path)
    assert job.executor_def.name == "in_process" and "in_process" in execution

    job, execution = _executor_of(monkeypatch, tmp_path, HOKUSAI_EXECUTOR="multiprocess")
    assert job.executor_def.name == "multiprocess" and "multiprocess" in execution


def test_the_celery_executor_loads_with_its_broker_from_the_environment(monkeypatch, tmp_path):
    broker, backend = "pyamqp://hokusai:pw-7f1c@rabbitmq:5672//", "redis://redis:6379/0"
    job, execution = _executor_of(
        monkeypatch, tmp_path, HOKUSAI_EXECUTOR="celery", HOKUSAI_CELERY_BROKER=broker, HOKUSAI_CELERY_BACKEND=backend
    )
    assert job.executor_def.name == "celery_executor"
    assert execution["celery_executor"]["broker"] == broker
    assert execution["celery_executor"]["backend"] == backend
    # The job's snapshot (what the instance stores for each run) holds no credential.
    from dagster._serdes import serialize_value

    assert "pw-7f1c" not in serialize_value(job.get_job_snapshot())


def test_a_celery_deployment_without_a_broker_fails_to_load_saying_what_to_set(monkeypatch, tmp_path):
    with pytest.raises(Exception, match="HOKUSAI_CELERY_BROKER and HOKUSAI_CELERY_BACKEND"):
        _executor_of(monkeypatch, tmp_path, HOKUSAI_EXECUTOR="celery")


def test_the_k8s_executor_loads_with_its_image_and_overrides_from_the_environment(monkeypatch, tmp_path):
    job, execution = _executor_of(
        monkeypatch,
        tmp_path,
        HOKUSAI_EXECUTOR="k8s",
        HOKUSAI_K8S_IMAGE="registry.example.com/hokusai-assets:0.1.0",
        HOKUSAI_K8S_NAMESPACE="hokusai",
        HOKUSAI_K8S_SERVICE_ACCOUNT="hokusai-steps",
        HOKUSAI_K8S_ENV_SECRETS="hokusai-secrets, hokusai-extra ,",
    )
    assert job.executor_def.name == "k8s_job_executor"
    config = execution["k8s_job_executor"]
    assert config["job_image"] == "registry.example.com/hokusai-assets:0.1.0"
    assert config["job_namespace"] == "hokusai" and config["service_account_name"] == "hokusai-steps"
    assert config["env_secrets"] == ["hokusai-secrets", "hokusai-extra"]
    # Unset: the run launcher's config maps stay in force, none are added.
    assert "env_config_maps" not in config


def test_the_k8s_executor_with_only_an_image_leaves_the_rest_to_the_run_launcher(monkeypatch, tmp_path):
    image = "registry.example.com/hokusai-assets:0.1.0"
    job, execution = _executor_of(monkeypatch, tmp_path, HOKUSAI_EXECUTOR="k8s", HOKUSAI_K8S_IMAGE=image)
    config = execution["k8s_job_executor"]
    assert config["job_image"] == image
    assert not {"job_namespace", "service_account_name", "env_config_maps", "env_secrets"} & set(config)


def test_a_k8s_deployment_without_an_image_fails_to_load_saying_what_to_set(monkeypatch, tmp_path):
    with pytest.raises(Exception, match="HOKUSAI_EXECUTOR=k8s needs HOKUSAI_K8S_IMAGE") as raised:
        _executor_of(monkeypatch, tmp_path, HOKUSAI_EXECUTOR="k8s")
    assert "E_CONFIG_EXECUTOR" in str(raised.value)


def test_an_unknown_executor_fails_to_load_listing_the_choices(monkeypatch, tmp_path):
    with pytest.raises(Exception, match="in_process, multiprocess, celery, k8s"):
        _executor_of(monkeypatch, tmp_path, HOKUSAI_EXECUTOR="dask")


def test_importing_the_definitions_module_reads_no_config(tmp_path):
    # A broken config must not break the import: it is read when Dagster loads `defs`.
    probe = "import hokusai_assets.definitions as d; print(callable(d.defs))"
    env = {"HOKUSAI_CONFIG_PATH": str(tmp_path / "missing.yaml"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_reward_epochs_are_valued_one_at_a_time_by_the_run_queue(mock_settings, tmp_path, monkeypatch):
    import shutil

    from hokusai_assets.entry.instance import REPO_DAGSTER_YAML

    job = build_definitions(mock_settings).resolve_job_def("close_reward_epoch")
    shutil.copy(REPO_DAGSTER_YAML, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    [limit] = [entry for entry in limits if entry["key"] in job.tags]
    assert limit["limit"] == 1
