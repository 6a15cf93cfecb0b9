"""Domain logic of hokusai_assets: plain Python, no Dagster, MLflow or CLI imports."""
