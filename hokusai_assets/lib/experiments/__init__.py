"""A/B experiments between model versions: assignment, statistics, decisions."""
