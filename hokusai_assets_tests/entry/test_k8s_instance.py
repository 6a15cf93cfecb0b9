"""deploy/k8s: the instance file for Kubernetes, checked without a cluster.

The file must pass Dagster's instance schema, its run launcher's config must pass the
K8sRunLauncher's own schema with the environment the pods get, and the launcher must be
buildable from it (against a kubeconfig that names a cluster nobody is asked about). The
cluster objects it names are the ones deploy/k8s/cluster.yaml creates.
"""

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer
from dagster_k8s import K8sRunLauncher
from dagster_postgres.utils import pg_config

from hokusai_assets.entry.instance import MANAGED_MARKER, REPO_DAGSTER_YAML

K8S_DIR = REPO_DAGSTER_YAML.parent / "deploy" / "k8s"
K8S_YAML = K8S_DIR / "dagster.yaml"
POSTGRES_YAML = REPO_DAGSTER_YAML.parent / "deploy" / "dagster.postgres.yaml"
# What the ConfigMap `hokusai-env` and the Secret `hokusai-secrets` put in every pod.
POD_ENV = {
    "HOKUSAI_K8S_IMAGE": "registry.example.com/hokusai-assets:0.1.0",
    "HOKUSAI_K8S_NAMESPACE": "hokusai",
    "DAGSTER_PG_HOST": "postgresql",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USERNAME": "hokusai",
    "DAGSTER_PG_PASSWORD": "pw-3c9e",
    "DAGSTER_PG_DB": "hokusai_dagster",
}
# A kubeconfig for a cluster that does not exist: loading it reads the file, nothing more.
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: nobody, user: {token: not-a-token}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
current-context: nowhere
"""


@pytest.fixture
def pod_env(monkeypatch):
    for name, value in POD_ENV.items():
        monkeypatch.setenv(name, value)


def _resolved(schema, value):
    """``value`` validated against ``schema`` and with its {env: NAME} sources read."""
    processed = process_config(schema, value)
    assert processed.success, [error.message for error in processed.errors]
    return processed.value


def _cluster_objects() -> dict[tuple[str, str], dict]:
    documents = [doc for doc in yaml.safe_load_all((K8S_DIR / "cluster.yaml").read_text()) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


def test_the_k8s_instance_file_passes_dagsters_instance_schema(tmp_path: Path, pod_env):
    (tmp_path / "dagster.yaml").write_bytes(K8S_YAML.read_bytes())
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    postgres = _resolved(pg_config(), config["storage"]["postgres"])
    assert postgres["postgres_db"]["password"] == "pw-3c9e"  # from the environment, never the file
    assert "pw-3c9e" not in K8S_YAML.read_text()
    for section in ("compute_logs", "local_artifact_storage"):  # the run queue: built in the last test
        entry = config[section]
        cls = class_from_code_pointer(entry["module"], entry["class"])
        _resolved(cls.config_type(), entry["config"])


def test_the_run_launcher_is_a_k8s_run_launcher_built_from_the_pods_environment(tmp_path: Path, pod_env):
    entry = yaml.safe_load(K8S_YAML.read_text())["run_launcher"]
    assert class_from_code_pointer(entry["module"], entry["class"]) is K8sRunLauncher
    config = _resolved(K8sRunLauncher.config_type(), entry["config"])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    # In the cluster it loads the pod's in-cluster config; here, the file above.
    launcher = K8sRunLauncher.from_config_value(
        None, {**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    )
    assert launcher.job_image == POD_ENV["HOKUSAI_K8S_IMAGE"]
    assert launcher.job_namespace == POD_ENV["HOKUSAI_K8S_NAMESPACE"]
    assert launcher.env_config_maps == ["hokusai-env"] and launcher.env_secrets == ["hokusai-secrets"]
    # Run and step pods share HOKUSAI_HOME: the claim is mounted where hokusai-env says the home is.
    [volume] = launcher.volumes
    [mount] = launcher.volume_mounts
    assert mount["name"] == volume["name"]
    objects = _cluster_objects()
    assert objects["ConfigMap", "hokusai-env"]["data"]["HOKUSAI_HOME"] == mount["mount_path"]
    for section in ("compute_logs", "local_artifact_storage"):  # DAGSTER_HOME is a read-only ConfigMap
        assert yaml.safe_load(K8S_YAML.read_text())[section]["config"]["base_dir"].startswith(mount["mount_path"])
    claim = objects["PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    # The launcher's account may start and watch the Jobs of runs and steps.
    assert ("ServiceAccount", launcher.service_account_name) in objects
    [binding] = [doc for (kind, _), doc in objects.items() if kind == "RoleBinding"]
    assert {"kind": "ServiceAccount", "name": launcher.service_account_name} in binding["subjects"]
    role = objects["Role", binding["roleRef"]["name"]]
    jobs = next(rule for rule in role["rules"] if "jobs" in rule["resources"])
    assert {"create", "get", "list", "watch", "delete"} <= set(jobs["verbs"])
    # Every variable the instance file reads is provided by hokusai-env, or is the database password.
    provided = set(objects["ConfigMap", "hokusai-env"]["data"]) | {"DAGSTER_PG_PASSWORD"}
    assert set(POD_ENV) <= provided


def test_a_missing_variable_fails_the_launcher_config_naming_it(monkeypatch, pod_env):
    monkeypatch.delenv("HOKUSAI_K8S_IMAGE")
    entry = yaml.safe_load(K8S_YAML.read_text())["run_launcher"]
    processed = process_config(K8sRunLauncher.config_type(), entry["config"])
    assert not processed.success
    assert any("HOKUSAI_K8S_IMAGE" in error.message for error in processed.errors)


def test_the_k8s_variant_keeps_the_repo_settings_and_the_postgres_storage():
    repo = yaml.safe_load(REPO_DAGSTER_YAML.read_text())
    k8s = yaml.safe_load(K8S_YAML.read_text())
    assert k8s.pop("storage") == yaml.safe_load(POSTGRES_YAML.read_text())["storage"]
    assert {k8s.pop(section)["class"] for section in ("run_launcher", "compute_logs", "local_artifact_storage")} == {
        "K8sRunLauncher",
        "LocalComputeLogManager",
        "LocalArtifactStorage",
    }
    # A pod may pull its image before it starts: the cluster gives a run longer to start.
    k8s_start, repo_start = (c["run_monitoring"].pop("start_timeout_seconds") for c in (k8s, repo))
    assert k8s_start >= repo_start
    # The cluster's launcher checks run pods itself; the repo's checks worker pids on one machine.
    assert repo.pop("run_launcher")["class"] == "LocalRunLauncher"
    assert k8s == repo
    assert not K8S_YAML.read_bytes().startswith(MANAGED_MARKER)  # `hokusai` never replaces it


def test_the_instance_the_k8s_file_describes_loads_its_settings_without_a_cluster(tmp_path: Path, pod_env):
    """Everything but the storage (a server) and the launcher (a cluster) as Dagster builds it."""
    k8s = yaml.safe_load(K8S_YAML.read_text())
    del k8s["storage"], k8s["run_launcher"]
    for section in ("compute_logs", "local_artifact_storage"):
        k8s[section]["config"]["base_dir"] = str(tmp_path / section)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(k8s))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_monitoring_enabled
        assert instance.compute_log_manager.__class__.__name__ == "LocalComputeLogManager"
