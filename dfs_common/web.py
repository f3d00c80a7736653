"""What both WSGI apps share: JSON responses, the one error answer, WebHDFS parameter parsing."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from .errors import DFSError, IllegalArgument, NotFound, Unsupported, to_remote_exception

log = logging.getLogger("dfs.web")

_STATUS_ERRORS: dict[int, type[DFSError]] = {404: NotFound, 405: Unsupported}


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
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise IllegalArgument(f"{what} must be JSON") from None
    if not isinstance(body, dict):
        raise IllegalArgument(f"{what} must be a JSON object")
    return body


def answer(handler: Callable[[Request], Response], request: Request) -> Response:
    """Run ``handler``, turning every failure into a RemoteException body: the one place errors
    become HTTP answers. Unexpected exceptions are logged and answered 500, never a crash."""
    try:
        return handler(request)
    except DFSError as error:
        return error_response(error)
    except HTTPException as error:
        cls = _STATUS_ERRORS.get(error.code or 500, IllegalArgument if (error.code or 500) < 500 else DFSError)
        wrapped = cls(error.description or error.name)
        wrapped.status = error.code or 500
        return error_response(wrapped)
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
        raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {value!r}')

    def integer(self, name: str, default: int | None = None, minimum: int | None = None,
                base: int = 10) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value, base)
        except ValueError:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {value[:40]!r}') from None
        if minimum is not None and number < minimum:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {number} < {minimum}')
        return number

    def permission(self, name: str = "permission", default: int | None = None) -> int | None:
        mode = self.integer(name, default, minimum=0, base=8)
        if mode is not None and mode > 0o7777:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "{name}": {oct(mode)}')
        return mode
