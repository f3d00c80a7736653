"""What both WSGI apps share: JSON responses, the one error answer, WebHDFS parameter parsing."""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, overload
from urllib.parse import urlparse

from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from .errors import (DFSError, IllegalArgument, MethodNotAllowed, NotFound, RangeNotSatisfiable, TooLarge,
                     to_remote_exception)

log = logging.getLogger("dfs.web")

# werkzeug's own HTTP errors (no route, wrong method, a body over its limit) as our classes;
# any other 4xx is a 400, any 5xx a 500.
_STATUS_ERRORS: dict[int, type[DFSError]] = {404: NotFound, 405: MethodNotAllowed, 413: TooLarge,
                                              416: RangeNotSatisfiable}

# What a stat can carry (st_size, st_mtime_ns are signed 64-bit) and LMDB's packed keys hold: no
# integer parameter means anything beyond it, so every one is bounded by it unless told tighter.
MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)
_MAX_DIGITS = 64  # longer than any bounded integer in any base: refused before int() parses it
MAX_USER_NAME = 256  # LOGIN_NAME_MAX on Linux, with room for a realm


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status,
                    mimetype="application/json", headers=dict(headers or {}))


def error_response(error: DFSError) -> Response:
    return json_response(to_remote_exception(error), status=error.status)


def read_json_object(request: Request, max_bytes: int, what: str = "Request body") -> dict[str, Any]:
    """The request's JSON object body; anything else (too big, not JSON, nested past Python's
    recursion limit, not an object) is an IllegalArgument, never a 500."""
    if (request.content_length or 0) > max_bytes:
        raise IllegalArgument(f"{what} larger than {max_bytes} bytes")
    try:
        body = json.loads(request.get_data(cache=False) or b"null", parse_constant=_refuse_constant,
                          parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise IllegalArgument(f"{what} must be JSON (strict: finite numbers only)") from None
    if not isinstance(body, dict):
        raise IllegalArgument(f"{what} must be a JSON object")
    return body


def _refuse_constant(name: str) -> float:
    """Python's json accepts NaN and Infinity, which JSON does not have: refuse them."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float, unless it overflows to infinity (``1e400``)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def is_http_url(value: str) -> bool:
    """An http(s) URL with a host and, if any, a valid port. A malformed one (``http://[::1``,
    ``http://h:99999``) is False, never an exception: it names a node no request can reach."""
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def answer(handler: Callable[[Request], Response], request: Request) -> Response:
    """Run ``handler``, turning every failure into a RemoteException body: the one place errors
    become HTTP answers. Unexpected exceptions are logged and answered 500, never a crash."""
    try:
        return handler(request)
    except DFSError as error:
        return error_response(error)
    except HTTPException as error:
        code = error.code or 500
        cls = _STATUS_ERRORS.get(code, IllegalArgument if code < 500 else DFSError)
        return error_response(cls(error.description or error.name))
    except (ParseException, NoMoreData) as error:  # gunicorn reading a malformed or cut-off body
        return error_response(IllegalArgument(f"Malformed request body: {type(error).__name__}: {error}"[:300]))
    except Exception as error:  # noqa: BLE001 - the last line of defence of a server
        log.exception("unexpected error on %s %s", request.method, request.full_path)
        return error_response(DFSError(f"Internal error: {type(error).__name__}: {error}"))


class Params:
    """WebHDFS query parameters: names case-insensitive, booleans in any case, unknown ones ignored."""

    def __init__(self, args: Mapping[str, str]) -> None:
        self._values = {key.lower(): value for key, value in args.items()}

    def raw(self, name: str) -> str | None:
        return self._values.get(name.lower())

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        return default if value is None else value

    def required(self, name: str) -> str:
        value = self.raw(name)
        if value is None or value == "":
            raise IllegalArgument(f'Missing webhdfs parameter "{name}"')
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {value[:40]!r}')

    def user(self, name: str = "user.name") -> str | None:
        """A user name (``user.name``, ``doas``, ``owner``, ``group``) that a password database and a
        stat could hold: printable, no NUL or control character, at most 256 characters."""
        value = self.raw(name)
        if value is None or value == "":
            return None
        if len(value) > MAX_USER_NAME or not value.isprintable():
            raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {value[:40]!r} '
                                  f"(printable, at most {MAX_USER_NAME} characters)")
        return value

    @overload
    def integer(self, name: str, default: int, minimum: int | None = MIN_INT64,
                maximum: int = MAX_INT64, base: int = 10) -> int: ...

    @overload
    def integer(self, name: str, default: None = None, minimum: int | None = MIN_INT64,
                maximum: int = MAX_INT64, base: int = 10) -> int | None: ...

    def integer(self, name: str, default: int | None = None, minimum: int | None = MIN_INT64,
                maximum: int = MAX_INT64, base: int = 10) -> int | None:
        """An integer in [minimum, maximum]: signed 64-bit unless the caller bounds it tighter."""
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value, base) if len(value) <= _MAX_DIGITS else None
        except ValueError:
            number = None
        if number is None:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {value[:40]!r}')
        low = MIN_INT64 if minimum is None else minimum
        if not low <= number <= maximum:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {value[:40]} '
                                  f"(must be between {low} and {maximum})")
        return number

    @overload
    def permission(self, name: str = "permission", *, default: int) -> int: ...

    @overload
    def permission(self, name: str, default: int) -> int: ...

    @overload
    def permission(self, name: str = "permission", default: None = None) -> int | None: ...

    def permission(self, name: str = "permission", default: int | None = None) -> int | None:
        return self.integer(name, default, minimum=0, maximum=0o7777, base=8)
