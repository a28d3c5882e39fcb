"""Typed exceptions: what went wrong, in one line a person can act on.

``InvalidRequest`` is raised before anything is sent (no money spent).  ``APIError`` and its
subclasses carry the API's own message, status, code and request id, made from the
``openai`` SDK's exceptions or from an OpenAI-compatible gateway's
``{"success": false, "error": {"code", "message"}, "trace_id"}`` body.  No message, repr or
attribute ever holds the API key: every text passes through ``redact`` first, which masks what
is shaped like a key, and the session that knows the key masks it too (``DalleError.hide``).

This module holds no state: which keys are secret is the session's to know, and it passes them in.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Self

_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|sess-[A-Za-z0-9_\-]{8,})")


#: A key shorter than this is not a secret worth masking everywhere: masking a short word such as the
#: offline backend's "offline" would mangle ordinary messages ("(*** fault injection)").
MIN_SECRET_LENGTH = 12
_NOT_SECRETS = frozenset({"offline"})


def worth_hiding(secret: str | None) -> bool:
    """Whether ``secret`` is a key to mask wherever it would show (a short word such as "offline" is not)."""
    return secret is not None and len(secret) >= MIN_SECRET_LENGTH and secret not in _NOT_SECRETS


def is_secret(value: object, secrets: Collection[str]) -> bool:
    """Whether ``value`` is, or contains, one of ``secrets`` (so it must never be sent or shown).

    Containers are searched all the way down (a dict's keys and values, lists, tuples, sets), since
    ``metadata={"k": key}`` travels in the request body and lands in the gallery just as ``user=key`` would.
    """
    return bool(secrets) and _holds_secret(value, secrets, set())


def _holds_secret(value: object, secrets: Collection[str], seen: set[int]) -> bool:
    if isinstance(value, str):
        return any(secret in value for secret in secrets)
    if isinstance(value, bytes | bytearray):
        return any(secret.encode() in value for secret in secrets)
    if not isinstance(value, Mapping | list | tuple | set | frozenset) or id(value) in seen:
        return False
    seen.add(id(value))  # a container that holds itself is searched once
    items = [part for pair in value.items() for part in pair] if isinstance(value, Mapping) else list(value)
    return any(_holds_secret(item, secrets, seen) for item in items)


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """``text`` with each of ``secrets``, and anything shaped like a key, masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _KEY_PATTERN.sub(lambda m: m.group(0)[:3] + "***", text)


def _redacted(value: Any, secrets: Collection[str] = (), within: frozenset[int] = frozenset()) -> Any:
    """An error attribute with any key in it masked, at any depth: ``configure(model=[key])`` keeps ``["***"]``.

    Strings are masked as ``redact`` masks text, and bytes that hold a known key become masked text; dicts,
    lists, tuples and sets are rebuilt as plain ones around their masked items; anything else is kept as it is.
    """
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, bytes | bytearray):
        return redact(bytes(value).decode("utf-8", "replace"), secrets) if is_secret(value, secrets) else value
    if not isinstance(value, Mapping | list | tuple | set | frozenset):
        return value
    if id(value) in within:  # a container that holds itself
        return "..."
    within = within | {id(value)}
    if isinstance(value, Mapping):
        return {_redacted(key, secrets, within): _redacted(item, secrets, within) for key, item in value.items()}
    items = [_redacted(item, secrets, within) for item in value]
    if isinstance(value, tuple):
        return tuple(items)
    if isinstance(value, set | frozenset):
        return frozenset(items) if isinstance(value, frozenset) else set(items)
    return items


def detach(error: BaseException) -> BaseException:
    """Cut ``error`` loose from the exceptions it was raised while handling.

    ``raise ... from None`` hides the chain from tracebacks, yet ``__context__`` still holds the
    SDK's exception, whose request carries the ``Authorization`` header; error reporters that
    walk the chain would find the key there.
    """
    error.__context__ = None
    error.__cause__ = None
    return error


class DalleError(Exception):
    """Base of every dalle_nb error."""

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def hide(self, secrets: Collection[str]) -> Self:
        """Mask ``secrets`` wherever this error shows them (its message, args and fields); returns the error.

        Made, an error masks only what is shaped like a key (``sk-...``): which other keys are secret (an
        Azure key, a gateway's) only a session knows, and it masks them in the errors that leave it.
        """
        if secrets:
            for name, value in list(vars(self).items()):
                if is_secret(value, secrets):
                    setattr(self, name, _redacted(value, secrets))
            self.args = tuple(_redacted(arg, secrets) for arg in self.args)
        return self

    def one_line(self) -> str:
        """The line a person sees under a cell or in a panel: what went wrong and what to do."""
        return self.message


class InvalidRequest(DalleError, ValueError):
    """The request breaks a rule and was not sent: ``field``, ``value`` and ``allowed`` say which."""

    def __init__(self, message: str, *, field: str | None = None, value: object = None, allowed: object = ()) -> None:
        super().__init__(message)
        self.field = field
        self.value = _redacted(value)
        self.allowed = _redacted(allowed)

    @classmethod
    def from_param(cls, error: Any) -> InvalidRequest:
        """From ``dalle_nb.models.ParamError``: OpenAI's own words, and what to do where the table knows."""
        hint = getattr(error, "hint", "")
        message = f"{error.message} {hint}" if hint else error.message
        return cls(message, field=error.field, value=error.value, allowed=error.allowed)


class GalleryError(DalleError):
    """A picture could not be saved or indexed; ``path`` says where its bytes are (None: only in memory)."""

    def __init__(self, message: str, *, path: Any = None, record_id: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.record_id = record_id


class APIError(DalleError):
    """The API refused or failed; ``message`` is the API's own words."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = _redacted(param)
        self.request_id = request_id
        self.kind = kind

    def __str__(self) -> str:
        return self.message

    def hint(self) -> str:
        """What a person can do about it, in a few words."""
        return ""

    def one_line(self) -> str:
        """The line shown under a cell: status, the API's message, and what to do."""
        head = " ".join(
            part for part in ("API error", str(self.status or ""), f"[{self.code}]" if self.code else "") if part
        )
        hint = self.hint()
        return f"{head}: {self.message}" + (f" — {hint}" if hint else "")

    def refusal(self) -> str:
        """The failure as a person reads it under a magic or in a panel: who refused, the API's words, what to do."""
        code = " ".join(str(part) for part in (self.status, self.code) if part)
        return f"Refused by the API{f' ({code})' if code else ''}: {self.message}{self._then()}"

    def _then(self) -> str:
        hint = self.hint()
        return f" — {hint}" if hint else ""


class AuthenticationError(APIError):
    def hint(self) -> str:
        return "check OPENAI_API_KEY, or call dalle_nb.configure(offline=True) to use the offline backend"


class PermissionDenied(APIError):
    def hint(self) -> str:
        return "this key's project has no access to that model or feature"


class RateLimitError(APIError):
    def hint(self) -> str:
        return "wait a moment and retry, or lower concurrency with dalle_nb.configure(concurrency=...)"


class ContentPolicyError(APIError):
    def hint(self) -> str:
        return "rephrase the prompt"


class NotFound(APIError):
    def hint(self) -> str:
        return "check the model name (dalle_nb.models.MODELS lists them)"


class ServerError(APIError):
    def hint(self) -> str:
        return "the service failed; retry later"


class BackendUnreachable(APIError):
    def hint(self) -> str:
        return "check the network, the base URL and any proxy"

    def refusal(self) -> str:
        return f"No answer from the API: {self.message}{self._then()}"


class IncompleteStream(BackendUnreachable):
    """A stream ended before its final picture, after it had opened: never sent again, since the
    picture may already have been billed (a failure before the answer opens is retried as any).

    Its last partial picture, if any came, is on the ``Failure`` as ``.partial``: a preview,
    never the result.
    """

    def hint(self) -> str:
        return "the connection ended early; retry, or ask without stream"


class RequestTimeout(BackendUnreachable):
    def hint(self) -> str:
        return "the request timed out; retry, or raise the timeout with dalle_nb.configure(timeout=...)"


_POLICY_CODES = {"content_policy_violation", "moderation_blocked", "image_content_policy_violation"}


def error_class(status: int | None, code: str | None) -> type[APIError]:
    if code in _POLICY_CODES:
        return ContentPolicyError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDenied
    if status == 404:
        return NotFound
    if status == 429:
        return RateLimitError
    if status is not None and status >= 500:
        return ServerError
    return APIError


def from_sdk(exc: BaseException) -> APIError:
    """An ``APIError`` from any exception of the ``openai`` SDK."""
    import openai  # the SDK loads with the first request, not at import

    if isinstance(exc, openai.APITimeoutError):
        return RequestTimeout("The request timed out before the API answered.", kind="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return BackendUnreachable(f"Could not reach the API: {exc.message}", kind="connection")
    if isinstance(exc, openai.APIResponseValidationError):
        return ServerError(
            "The API answered with a body that is not a valid Images response.",
            status=exc.status_code,
            kind="bad_response",
        )
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        gateway = gateway_error(exc.status_code, _json_body(exc.response))
        if gateway is not None:
            gateway.request_id = gateway.request_id or exc.request_id
            return gateway
        message = body.get("message") if isinstance(body, Mapping) else None
        if not isinstance(message, str) or not message:
            message = body if isinstance(body, str) and body else f"HTTP {exc.status_code} from the API"
        code = exc.code
        cls = error_class(exc.status_code, code)
        return cls(
            str(message),
            status=exc.status_code,
            code=code,
            param=exc.param,
            request_id=exc.request_id,
            kind=getattr(exc, "type", None),
        )
    if isinstance(exc, openai.APIError):
        body = exc.body
        message = body.get("message") if isinstance(body, Mapping) else None
        code = body.get("code") if isinstance(body, Mapping) else None
        return error_class(None, code)(str(message or exc.message), code=code)
    return APIError(f"{type(exc).__name__}: {exc}")


def _json_body(response: Any) -> object:
    try:
        return response.json()
    except Exception:
        return None


def gateway_error(status: int | None, body: object) -> APIError | None:
    """An ``APIError`` from a gateway body ``{"success": false, "error": {...}, "trace_id"}``, else None."""
    if not isinstance(body, Mapping) or body.get("success") is not False:
        return None
    error = body.get("error")
    if isinstance(error, Mapping):
        message = str(error.get("message") or "The gateway reported an error.")
        code = error.get("code")
    else:
        message, code = str(error or "The gateway reported an error."), None
    code_text = None if code is None else str(code)
    trace = body.get("trace_id")
    return error_class(status, code_text)(
        message, status=status, code=code_text, request_id=None if trace is None else str(trace)
    )


def from_body(status: int | None, body: object, *, request_id: str | None = None) -> APIError:
    """An ``APIError`` from an answer read as data rather than raised by the SDK: an OpenAI error body
    ``{"error": {"message", "code", "param"}}`` (a failed line of a batch), a bare ``{"code", "message"}`` (a line
    that never ran: ``batch_expired``), or a gateway body ``{"success": false, ...}``."""
    gateway = gateway_error(status, body)
    if gateway is not None:
        gateway.request_id = gateway.request_id or request_id
        return gateway
    error = body.get("error", body) if isinstance(body, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    code = error.get("code")
    code_text = None if code is None else str(code)
    message = str(error.get("message") or (f"HTTP {status} from the API" if status else "The request failed."))
    param = error.get("param")
    return error_class(status, code_text)(
        message, status=status, code=code_text, param=None if param is None else str(param), request_id=request_id
    )
