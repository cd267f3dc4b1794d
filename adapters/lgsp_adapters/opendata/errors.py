"""The errors of CKAN's Action API, each carrying the HTTP status and the
``__type`` CKAN answers with (ckan/views/api.py); one handler renders them."""

from __future__ import annotations

from typing import Any, ClassVar


class ActionError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "Internal Server Error"
    prefix: ClassVar[str] = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def error(self) -> dict[str, Any]:
        text = f"{self.prefix}: {self.message}" if self.message else self.prefix
        return {"__type": self.type, "message": text}


class NotFound(ActionError):
    status = 404
    type = "Not Found Error"
    prefix = "Not found"


class NotAuthorized(ActionError):
    status = 403
    type = "Authorization Error"
    prefix = "Access denied"


class ValidationError(ActionError):
    """CKAN's validation errors: field → [messages], no ``message``."""

    status = 409
    type = "Validation Error"

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(str(errors))
        self.errors = errors

    def error(self) -> dict[str, Any]:
        return {**self.errors, "__type": self.type}


class SearchQueryError(ActionError):
    """Solr's rejection of the query parameters (e.g. a sort order)."""

    status = 400
    type = "Search Query Error"

    def error(self) -> dict[str, Any]:
        return {"__type": self.type, "message": f"Search Query is invalid: {(self.message,)!r}"}


class SearchError(ActionError):
    """Solr's rejection of a query it could not parse."""

    status = 409
    type = "Search Error"

    def error(self) -> dict[str, Any]:
        return {"__type": self.type, "message": f"Search error: {(self.message,)!r}"}


class BadRequest(Exception):
    """CKAN's plain 400, whose body is a JSON string (``"Bad request: ..."``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = f"Bad request: {message}"
