"""The one error type the service raises; the app renders it as the API's error body."""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than success: HTTP status, a stable code and a sentence for a person.

    Messages never repeat what the caller sent (it may be personal data)."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {error}")
        self.status, self.error, self.message, self.extra = status, error, message, extra

    def body(self) -> dict:
        return {"error": self.error, "message": self.message, **self.extra}
