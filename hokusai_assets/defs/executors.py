"""Which executor runs the steps of a run: chosen per deployment by HOKUSAI_EXECUTOR.

- ``in_process`` (default): every step in the run's own process. One run is one Python
  process that imports the stack once; on a single machine this is what keeps a
  contribution's submit-to-attestation latency low (a process per step costs ~2 s each).
  It also makes a killed run worker a *run* failure, which dagster.yaml's run_retries
  retries, rather than a step failure, which it must not.
- ``multiprocess``: Dagster's default, a process per step, steps in parallel where the
  graph allows.
- ``celery``: steps go to Celery workers (dagster-celery) on other machines; the broker
  and result backend come from HOKUSAI_CELERY_BROKER and HOKUSAI_CELERY_BACKEND, read
  when a run starts, so their credentials never enter run config or the event log.
  Workers are started with deploy/celery.yaml (README: "Several machines").
- ``k8s``: each step is a Kubernetes Job (dagster-k8s's ``k8s_job_executor``), on an
  instance whose run launcher is the K8sRunLauncher of deploy/k8s/dagster.yaml: step pods
  inherit its service account, environment, secrets and the HOKUSAI_HOME volume. The image
  (HOKUSAI_K8S_IMAGE, required) and, to override the launcher's, the namespace, service
  account and extra config maps and secrets come from HOKUSAI_K8S_* (deploy/k8s/README.md).
"""

from collections.abc import Mapping

import dagster as dg

from hokusai_assets.lib.errors import ConfigError

EXECUTOR_ENV = "HOKUSAI_EXECUTOR"
CELERY_BROKER_ENV = "HOKUSAI_CELERY_BROKER"
CELERY_BACKEND_ENV = "HOKUSAI_CELERY_BACKEND"
K8S_IMAGE_ENV = "HOKUSAI_K8S_IMAGE"
K8S_NAMESPACE_ENV = "HOKUSAI_K8S_NAMESPACE"
K8S_SERVICE_ACCOUNT_ENV = "HOKUSAI_K8S_SERVICE_ACCOUNT"
K8S_CONFIG_MAPS_ENV = "HOKUSAI_K8S_ENV_CONFIG_MAPS"  # comma-separated names
K8S_SECRETS_ENV = "HOKUSAI_K8S_ENV_SECRETS"  # comma-separated names
EXECUTOR_NAMES = ("in_process", "multiprocess", "celery", "k8s")


def _celery_executor(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    missing = [name for name in (CELERY_BROKER_ENV, CELERY_BACKEND_ENV) if not environ.get(name)]
    if missing:
        raise ConfigError(
            f"{EXECUTOR_ENV}=celery needs {' and '.join(missing)}: the broker URL (e.g. "
            "pyamqp://user:password@rabbitmq:5672//) and the result backend (e.g. redis://redis:6379/0)",
            code="E_CONFIG_EXECUTOR",
        )
    from dagster_celery import celery_executor  # only deployments that use Celery import it

    return celery_executor.configured(
        {"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}},
        name="celery_executor",
    )


def _names(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def _k8s_executor(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    if not environ.get(K8S_IMAGE_ENV):
        raise ConfigError(
            f"{EXECUTOR_ENV}=k8s needs {K8S_IMAGE_ENV}: the image with this code that step pods run "
            "(e.g. registry.example.com/hokusai-assets:0.1.0); see deploy/k8s/README.md",
            code="E_CONFIG_EXECUTOR",
        )
    from dagster_k8s import k8s_job_executor  # only deployments on Kubernetes import it

    # Scalars are read when a run starts (in the run's pod), as the Celery settings are;
    # an unset optional one leaves the run launcher's value in force.
    config: dict = {"job_image": {"env": K8S_IMAGE_ENV}}
    for field, name in (("job_namespace", K8S_NAMESPACE_ENV), ("service_account_name", K8S_SERVICE_ACCOUNT_ENV)):
        if environ.get(name):
            config[field] = {"env": name}
    # Names of ConfigMaps and Secrets, added to the launcher's (never their contents).
    for field, name in (("env_config_maps", K8S_CONFIG_MAPS_ENV), ("env_secrets", K8S_SECRETS_ENV)):
        if _names(environ.get(name)):
            config[field] = _names(environ.get(name))
    return k8s_job_executor.configured(config, name="k8s_job_executor")


def executor_from_environment(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    """The executor HOKUSAI_EXECUTOR names; a ConfigError that lists the choices otherwise."""
    name = environ.get(EXECUTOR_ENV, "").strip() or "in_process"
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "celery":
        return _celery_executor(environ)
    if name == "k8s":
        return _k8s_executor(environ)
    raise ConfigError(
        f"{EXECUTOR_ENV}={name!r} is not an executor; use one of {', '.join(EXECUTOR_NAMES)}",
        code="E_CONFIG_EXECUTOR",
    )
