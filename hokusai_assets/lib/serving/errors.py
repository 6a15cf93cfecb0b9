"""The serving errors: each answers one HTTP status with ``{"code": "E_…", "message": …}``."""

from __future__ import annotations

from hokusai_assets.lib.errors import HokusaiError


class ServingError(HokusaiError):
    """A request the server refuses; ``status`` is the HTTP status it answers."""

    code = "E_SERVE"

    def __init__(self, message: str, *, code: str, status: int = 400) -> None:
        super().__init__(message, code=code)
        self.status = status
