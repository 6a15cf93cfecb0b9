"""The model registry's rules: promotion evidence, rollbacks, the audit record."""
