"""MLflow: the tracking store, one run per contribution, the registry, the pyfunc, the warm worker."""
