"""The names of the MLflow tags hokusai writes on runs and model versions: what the registry reads back."""

TAG_DAGSTER_RUN = "dagster_run_id"  # the tag dagster-mlflow uses, so both agree
TAG_PARTITION = "hokusai.partition"
TAG_KIND = "hokusai.kind"
TAG_MODEL_DIGEST = "hokusai.model_digest"
TAG_BASELINE_DIGEST = "hokusai.baseline_model_digest"
TAG_DELTA_ONE_BPS = "hokusai.delta_one_bps"
TAG_DELTA_ONE_SCORE = "hokusai.delta_one_score"
TAG_ACCEPTED = "hokusai.accepted"
TAG_PROMOTED_BY = "hokusai.promoted_by"
TAG_PROMOTION_REASON = "hokusai.promotion_reason"
TAG_PROMOTED_AT = "hokusai.promoted_at"
TAG_PREVIOUS_CHAMPION = "hokusai.previous_champion"  # the champion this version replaced
TAG_DEMOTED_BY = "hokusai.demoted_by"
TAG_DEMOTED_AT = "hokusai.demoted_at"
TAG_DEMOTION_REASON = "hokusai.demotion_reason"
