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
"""

from collections.abc import Mapping

import dagster as dg

from hokusai_assets.lib.errors import ConfigError

EXECUTOR_ENV = "HOKUSAI_EXECUTOR"
CELERY_BROKER_ENV = "HOKUSAI_CELERY_BROKER"
CELERY_BACKEND_ENV = "HOKUSAI_CELERY_BACKEND"
EXECUTOR_NAMES = ("in_process", "multiprocess", "celery")


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


def executor_from_environment(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    """The executor HOKUSAI_EXECUTOR names; a ConfigError that lists the choices otherwise."""
    name = environ.get(EXECUTOR_ENV, "").strip() or "in_process"
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "celery":
        return _celery_executor(environ)
    raise ConfigError(
        f"{EXECUTOR_ENV}={name!r} is not an executor; use one of {', '.join(EXECUTOR_NAMES)}",
        code="E_CONFIG_EXECUTOR",
    )
