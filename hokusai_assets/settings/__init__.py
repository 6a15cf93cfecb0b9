"""Settings: hokusai.yaml validated, the home chosen, and the one map of paths under it. May import lib/.

Kept empty: ``settings.layout`` is imported before Dagster and MLflow and must stay light.
"""
