"""Domain errors raised by selectors and services; each transport maps them once."""


class DomainError(Exception):
    """A refusal a client can be told about: `code` is the contract's error code."""

    code = "invalid_frame"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Invalid(DomainError):
    code = "invalid_frame"
    status = 400
