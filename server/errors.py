"""Errors that become a JSON answer ``{"error": code, "detail": message}``."""

from __future__ import annotations


class ApiError(Exception):
    """A request the server refuses; ``status`` is a 4xx code, ``code`` machine-readable."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, {"WWW-Authenticate": "Bearer"})


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)


def invalid(detail: str, status: int = 422) -> ApiError:
    return ApiError(status, "invalid_request", detail)
