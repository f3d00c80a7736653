"""Managing users and tokens over HTTP: ``/users`` for administrators, ``/whoami`` for anyone
authenticated, and WebHDFS's GET/RENEW/CANCELDELEGATIONTOKEN.

``POST /users`` ``{"name": "alice", "admin": false}`` → 201 ``{"name", "admin", "token"}``;
``GET /users`` lists them; ``DELETE /users/<name>`` revokes the user and all their tokens;
``POST /users/<name>/token`` rotates (a new token, the old one dead at once). The token is shown
once, at creation or rotation: only its keyed hash is stored.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from dfs_common.errors import IllegalArgument, NotFound, NotPermitted, Unsupported
from dfs_common.web import json_response, read_json_object

from .identity import INSECURE, PRINCIPAL, Identity, Principal, Tokens, effective_user, valid_user_name

if TYPE_CHECKING:
    from .handlers.call import Call

MAX_USER_BODY = 64 * 1024


class UserOps:
    """``/users``, ``/whoami`` and the delegation-token ops, over the name node's ``Identity``."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def _tokens(self) -> Tokens:
        tokens = self.identity.tokens
        if tokens is None:
            raise Unsupported("Users and tokens need DFS_SECRET: this cluster runs in insecure mode")
        return tokens

    def _administrator(self, request: Request) -> Principal:
        principal: Principal = request.environ.get(PRINCIPAL, INSECURE)
        if not principal.admin:
            raise NotPermitted(f"Only administrators manage users ({principal.name or 'anonymous'} is not one)")
        return principal

    def on_users(self, request: Request) -> Response:
        """``/users`` and ``/users/<name>[/token]``."""
        parts = [unquote(part) for part in request.path.split("/")[2:]]
        tokens = self._tokens()
        self._administrator(request)
        if parts == [] and request.method == "POST":
            body = read_json_object(request, MAX_USER_BODY)
            name = valid_user_name(body.get("name"))
            admin = body.get("admin", False)
            if not isinstance(admin, bool):
                raise IllegalArgument('"admin" must be true or false')
            return json_response({"name": name, "admin": admin, "token": tokens.create_user(name, admin)}, 201)
        if parts == [] and request.method == "GET":
            return json_response({"users": tokens.users()})
        if len(parts) == 1 and parts[0] and request.method == "DELETE":
            tokens.revoke(parts[0])
            return json_response({"boolean": True})
        if len(parts) == 2 and parts[0] and parts[1] == "token" and request.method == "POST":
            return json_response({"name": parts[0], "token": tokens.rotate(parts[0])})
        if len(parts) <= 2:
            error = Unsupported(f"Method {request.method} not allowed on {request.path[:200]}")
            error.status = 405
            raise error
        raise NotFound(f"No such endpoint: {request.path[:200]}")

    def on_whoami(self, request: Request) -> Response:
        principal: Principal = request.environ.get(PRINCIPAL, INSECURE)
        user, _ = effective_user(request)
        return json_response({"name": user, "admin": principal.admin, "authenticated": principal.kind == "user",
                              "via": principal.via})

    # -- WebHDFS delegation tokens --------------------------------------------------------
    def op_getdelegationtoken(self, call: "Call") -> Response:
        renewer = call.params.user("renewer")
        if self.identity.tokens is None:  # as an HDFS without security: no token, and no error
            return json_response({"Token": None})
        token = self._tokens().delegate(call.caller.user, renewer)
        return json_response({"Token": {"urlString": token}})

    def op_renewdelegationtoken(self, call: "Call") -> Response:
        principal = call.request.environ.get(PRINCIPAL, INSECURE)
        expires = self._tokens().renew(call.params.required("token"), principal)
        return json_response({"long": int(expires * 1000)})

    def op_canceldelegationtoken(self, call: "Call") -> Response:
        principal = call.request.environ.get(PRINCIPAL, INSECURE)
        self._tokens().cancel(call.params.required("token"), principal)
        return json_response({})
