"""The daily reward epoch: after each UTC midnight, close yesterday's epoch and value it."""

from datetime import datetime, timezone

import dagster as dg

from hokusai_assets.defs.jobs import close_reward_epoch
from hokusai_assets.defs.partitions import reward_epochs
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.services.epochs import close_window


@dg.schedule(
    job=close_reward_epoch,
    cron_schedule="15 0 * * *",  # a quarter past midnight: contributions of the day have landed
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="rewards.epoch: daily. Closes yesterday's epoch (d-YYYY-MM-DD) and materialises its chain.",
)
def daily_reward_epoch(context: dg.ScheduleEvaluationContext, hokusai: HokusaiResource):
    scheduled = context.scheduled_execution_time or datetime.now(timezone.utc)
    try:
        window = close_window(hokusai.load(), now=scheduled)
    except HokusaiError as error:  # the config changed under us: say why, request nothing
        return dg.SkipReason(f"error[{error.code}]: {error.message}")
    context.instance.add_dynamic_partitions(reward_epochs.name, [window.epoch])
    return dg.RunRequest(run_key=window.epoch, partition_key=window.epoch)
