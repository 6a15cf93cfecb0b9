"""The PII key request rows are pseudonymised with, so a model reads at serving what intake gave it.

Intake replaced PII in category and text cells by keyed pseudonyms before any model was
trained on them; a request's values go through the same HMAC key (``HOKUSAI_PII_KEY`` or
the key file under ``HOKUSAI_HOME``, as intake loads it), or the model would read values it
never saw. A server never creates the key: a home without one has trained no model on a
pseudonym, and its rows are served as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.services.keys import existing_pii_key
from hokusai_assets.settings.load import Settings


class RequestPiiKey:
    """The home's PII key, read when a task with category or text features first needs it."""

    def __init__(self, settings: Settings, environ: Mapping[str, str]) -> None:
        self._needed = bool(settings.schema.string_feature_names)
        self._layout = settings.layout
        self._environ = environ
        self._key: PiiKey | None = None
        self._lock = threading.Lock()

    def get(self) -> PiiKey | None:
        # Looked up again while absent: intake creates the key with the first contribution,
        # possibly after the server started.
        if self._key is None and self._needed:
            with self._lock:
                if self._key is None:
                    self._key = existing_pii_key(self._layout, self._environ)
        return self._key
