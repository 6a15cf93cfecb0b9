"""hokusai_assets: how much a contributed dataset improves a model, measured on Dagster and attested.

Layers, one folder each, imports only downward (import-linter contracts in pyproject.toml):
``entry/`` and ``definitions.py`` > ``defs/`` > ``services/`` > ``settings/`` > ``lib/``.
"""
