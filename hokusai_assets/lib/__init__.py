"""The domain: plain Python in subpackages by domain. Imports no Dagster, MLflow, click or FastAPI,
and nothing above it; every rule of the domain has exactly one home here."""
