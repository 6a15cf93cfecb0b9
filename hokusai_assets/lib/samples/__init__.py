"""Sample data generated deterministically: the dry run's mock task, the bundled digits example."""
