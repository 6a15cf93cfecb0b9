"""The verifier: ``verifier.verify_attestation`` runs the checks of ``signed_checks``,
``evaluation_checks`` and ``file_checks`` (see ``verifier.py`` for the list); ``proofs``
gives and checks row proofs. Needs lib/ and its libraries only: no Dagster, no instance."""
