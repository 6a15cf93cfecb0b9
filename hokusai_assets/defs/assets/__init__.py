"""The assets of the lineage graph, by stage: contributions, training, models, evaluation, monitoring, attestation, experiment."""
