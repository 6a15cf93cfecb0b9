"""Experiment tracking without MLflow: what one contribution's run is made of."""
