"""Step retries for assets that touch the outside: files the task points at, the store, MLflow.

What fails there for a moment (a network mount, a tracking server restarting) is worth a
second try; what we reject on purpose (a HokusaiError: a bad file, a damaged store entry, a
refused config) fails the same way every time, so it stops the step at once, unretried,
with its code. Run-level retries (dagster.yaml's run_retries) are separate: they cover a
run whose process died, never a step that failed.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from hokusai_assets.lib.errors import HokusaiError

OUTSIDE_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=1.0, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def deliberate_errors_not_retried() -> Iterator[None]:
    """Turn a HokusaiError into a Failure that the step's retry policy does not retry."""
    try:
        yield
    except HokusaiError as error:
        # "[E_CODE] message" is what the runner and the UI read the code from.
        raise dg.Failure(description=str(error), metadata={"code": error.code}, allow_retries=False) from error
