"""What `hokusai serve` and the Python API need from the outside: the registry's versions,
verified model files, and the prediction cache's stores (in process or Redis)."""
