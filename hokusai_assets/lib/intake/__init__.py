"""Intake: reading and conforming tables, PII pseudonymisation, the checks a contribution must pass."""
