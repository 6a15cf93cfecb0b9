"""Why a headless run failed, as `hokusai evaluate` reports it: a full disk keeps its code
whether our own writer raised it or a library did."""

import errno
import os

import dagster as dg
import pytest

from hokusai_assets.entry.runner import _run_failure
from hokusai_assets.lib.files import disk_full_error


def _failed_run(error: Exception) -> dg.ExecuteInProcessResult:
    @dg.op
    def write_model():
        raise error

    @dg.job
    def evaluate():
        write_model()

    result = evaluate.execute_in_process(raise_on_error=False)
    assert not result.success
    return result


@pytest.mark.parametrize(
    "error",
    [
        # A library's own write, and ours (lib/files.py).
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/srv/hokusai/mlflow/artifacts/model.bin"),
        disk_full_error("/srv/hokusai/storage"),
    ],
    ids=["library", "ours"],
)
def test_a_full_disk_in_a_step_is_E_DISK_FULL_naming_the_step(error):
    failure = _run_failure("evaluate_contribution", _failed_run(error))
    assert failure.code == "E_DISK_FULL"
    assert "no space left on device" in failure.message.lower() and "/srv/hokusai/" in failure.message
    assert "step write_model)" in failure.message and "free space there, then run the command again" in failure.message


def test_any_other_error_is_still_a_failed_run():
    failure = _run_failure("evaluate_contribution", _failed_run(OSError(errno.EACCES, "Permission denied")))
    assert failure.code == "E_RUN_FAILED" and "Permission denied" in failure.message
