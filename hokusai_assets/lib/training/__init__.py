"""Training: the trainers (scikit-learn, torch), integration of a contribution, safe model files."""
