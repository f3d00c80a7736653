"""Who is calling: the name node's one authentication choke point.

``Identity.admit`` runs before any handler, for every request (so an endpoint added later is
covered without doing anything): it reads the credential, decides the ``Principal`` and refuses
what the path does not allow. With ``DFS_SECRET``:

- ``/internal/…`` needs a node's signature (``dfs_common.auth``): only nodes that know the secret
  heartbeat, confirm blocks, report or complain about a replica;
- everything else but ``PUBLIC`` needs a user: ``Authorization: Bearer <token>`` or WebHDFS's
  ``delegation=<token>``. ``user.name`` then means nothing; ``doas`` is for administrators.

Tokens (``Tokens``) are stored as their keyed hash and compared in constant time; failed attempts
are rate limited per address (``FailureLimiter``). Without a secret the cluster is in the insecure
development mode: ``user.name`` is believed, as plain HDFS does, and the log says so at start.
"""
from __future__ import annotations

import base64
import hmac
import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from dfs_common.auth import IdScrambler, RequestVerifier, bearer_of, derive, mac, new_token
from dfs_common.errors import AlreadyExists, IllegalArgument, NotFound, NotPermitted, TooManyAttempts, Unauthenticated
from dfs_common.settings import Settings
from dfs_common.signed_urls import UrlSigner
from dfs_common.web import MAX_USER_NAME, Params

from .store import Store, Txn

log = logging.getLogger("dfs.name_node.identity")

PRINCIPAL = "dfs.principal"  # the environ key handlers read the admitted principal from
PUBLIC = frozenset({"/ping_alive"})  # answered to anyone: load balancers and readiness probes
USER_TOKEN, DELEGATION_TOKEN, GRANT = "dfs1", "dfsd", "dfsg"
MAX_DELEGATION_LIFE = 7 * 86400.0  # HDFS's dfs.namenode.delegation.token.max-lifetime
# The window in which DFS_AUTH_FAILURES failed tokens from one address get it refused outright.
FAILURE_LIMIT, FAILURE_WINDOW = 20, 10.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated party: a user (``kind`` "user"), a node ("node"), nobody ("anonymous"),
    or, in insecure mode, whoever ``user.name`` claims ("insecure")."""

    kind: str
    name: str = ""
    admin: bool = False
    via: str = ""

    @property
    def is_user(self) -> bool:
        return self.kind in ("user", "insecure")


ANONYMOUS = Principal("anonymous", via="none")
INSECURE = Principal("insecure", via="user.name")


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def valid_user_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_USER_NAME or not name.isprintable() \
            or "/" in name or name.strip() != name:
        raise IllegalArgument(f'A user "name" is 1 to {MAX_USER_NAME} printable characters, no "/" '
                              f"and no surrounding blanks, not {str(name)[:40]!r}")
    return name


class Tokens:
    """Users and their tokens in LMDB (tables ``users`` and ``tokens``); only keyed hashes of the
    secret part of each token are kept, so a copy of the database lets nobody in."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._key = derive(settings.secret, "token")
        self._grant_key = derive(settings.secret, "grant")
        self._admin = mac(self._key, settings.admin_token.encode()) if settings.admin_token else None

    # -- checking ---------------------------------------------------------------------------
    def principal(self, token: str) -> Principal:
        """Who ``token`` belongs to; ``Unauthenticated`` if nobody (unknown, revoked, expired)."""
        if self._admin is not None and hmac.compare_digest(self._admin, mac(self._key, token.encode())):
            return Principal("user", self.settings.superuser, admin=True, via="admin token")
        prefix, _, rest = token.partition(".")
        if prefix == GRANT:
            return self._grant_principal(rest)
        token_id, _, secret_part = rest.partition(".")
        if prefix in (USER_TOKEN, DELEGATION_TOKEN) and token_id and secret_part:
            with self.store.read() as txn:
                record = _load(txn, "tokens", token_id)
                user = _load(txn, "users", record["user"]) if record else None
            if record is not None and hmac.compare_digest(record["digest"], mac(self._key, secret_part.encode())):
                if record.get("expires") is not None and record["expires"] < time.time():
                    raise Unauthenticated("Token expired")
                if record["kind"] == "user" and user is not None:
                    return Principal("user", record["user"], admin=bool(user.get("admin")), via="token")
                if record["kind"] == "delegation":
                    return Principal("user", record["user"], via="delegation token")
        raise Unauthenticated("Invalid, revoked or expired token")

    # -- users ------------------------------------------------------------------------------
    def create_user(self, name: str, admin: bool = False) -> str:
        with self.store.write() as txn:
            if _load(txn, "users", name) is not None:
                raise AlreadyExists(f"User {name} already exists")
            user = {"admin": admin, "created": time.time(), "epoch": 0}
            token = self._issue(txn, name, user)
        log.info("user %s created%s", name, " (administrator)" if admin else "")
        return token

    def rotate(self, name: str) -> str:
        with self.store.write() as txn:
            user = _load(txn, "users", name)
            if user is None:
                raise NotFound(f"No such user: {name}")
            self._revoke_tokens(txn, name, kinds=("user",))
            user["epoch"] = int(user.get("epoch", 0)) + 1
            token = self._issue(txn, name, user)
        return token

    def revoke(self, name: str) -> None:
        """The user and every token of theirs stop working at once (the next request is 401)."""
        with self.store.write() as txn:
            if not txn.delete("users", name.encode()):
                raise NotFound(f"No such user: {name}")
            self._revoke_tokens(txn, name, kinds=("user", "delegation"))

    def users(self) -> list[dict[str, Any]]:
        with self.store.read() as txn:
            return [{"name": key.decode(), "admin": bool(value.get("admin")), "created": value.get("created")}
                    for key, value in ((k, json.loads(v)) for k, v in txn.scan("users"))]

    def _issue(self, txn: Txn, name: str, user: dict[str, Any]) -> str:
        token, token_id, secret_part = new_token(USER_TOKEN)
        txn.put("tokens", token_id.encode(), _encode({"user": name, "kind": "user", "expires": None,
                                                       "digest": mac(self._key, secret_part.encode())}))
        user["token"] = token_id
        txn.put("users", name.encode(), _encode(user))
        return token

    def _revoke_tokens(self, txn: Txn, name: str, kinds: tuple[str, ...]) -> None:
        doomed = [key for key, value in txn.scan("tokens")
                  if (record := json.loads(value))["user"] == name and record["kind"] in kinds]
        for key in doomed:
            txn.delete("tokens", key)

    # -- delegation tokens (WebHDFS GET/RENEW/CANCELDELEGATIONTOKEN) -----------------------
    def delegate(self, user: str, renewer: str | None) -> str:
        token, token_id, secret_part = new_token(DELEGATION_TOKEN)
        now = time.time()
        record = {"user": user, "kind": "delegation", "renewer": renewer, "issued": now,
                  "expires": now + self.settings.delegation_ttl, "max": now + MAX_DELEGATION_LIFE,
                  "digest": mac(self._key, secret_part.encode())}
        with self.store.write() as txn:
            txn.put("tokens", token_id.encode(), _encode(record))
        return token

    def renew(self, token: str, caller: Principal) -> float:
        with self.store.write() as txn:
            token_id, record = self._delegation(txn, token, caller)
            record["expires"] = min(time.time() + self.settings.delegation_ttl, record["max"])
            txn.put("tokens", token_id.encode(), _encode(record))
        return float(record["expires"])

    def cancel(self, token: str, caller: Principal) -> None:
        with self.store.write() as txn:
            token_id, _ = self._delegation(txn, token, caller)
            txn.delete("tokens", token_id.encode())

    def _delegation(self, txn: Txn, token: str, caller: Principal) -> tuple[str, dict[str, Any]]:
        prefix, _, rest = token.partition(".")
        token_id, _, secret_part = rest.partition(".")
        record = _load(txn, "tokens", token_id) if prefix == DELEGATION_TOKEN and token_id else None
        if record is None or record["kind"] != "delegation" \
                or not hmac.compare_digest(record["digest"], mac(self._key, secret_part.encode())):
            raise IllegalArgument("Not a delegation token of this name node (cancelled or never issued)")
        if not caller.admin and caller.name not in (record["user"], record.get("renewer")):
            raise NotPermitted(f"User {caller.name} is neither the owner nor the renewer of this token")
        return token_id, record

    # -- grants: what a 307 hands a data node so it can act for the caller -------------------
    def grant(self, user: str, scope: str = "") -> str:
        """A short self-contained token for ``user`` (no write: an OPEN costs no fsync). It dies
        with the user: revoking or rotating them changes the epoch it names. With ``scope`` it is
        good for that one purpose only (``commit_grant``), never as a bearer token."""
        with self.store.read() as txn:
            record = _load(txn, "users", user)
        epoch = str(record.get("epoch", 0)) if record else "-"
        expires = str(int(time.time() + self.settings.delegation_ttl))
        encoded = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
        body = f"{encoded}.{epoch}.{expires}"
        return f"{GRANT}.{body}.{mac(self._grant_key, (scope + body).encode())}"

    def commit_grant(self, block_id: str, user: str) -> str:
        """What lets the head of a block's pipeline commit the writer's file with that block when
        it confirms it (``X-DFS-Commit``): ``user``'s COMMIT, with this block only."""
        return self.grant(user, f"commit:{block_id}:")

    def commit_principal(self, grant: str, block_id: str) -> Principal:
        """The user a ``commit_grant`` of ``block_id`` names; ``Unauthenticated`` otherwise."""
        prefix, _, rest = grant.partition(".")
        if prefix != GRANT:
            raise Unauthenticated("Invalid commit grant")
        return self._grant_principal(rest, f"commit:{block_id}:")

    def _grant_principal(self, rest: str, scope: str = "") -> Principal:
        body, _, signature = rest.rpartition(".")
        fields = body.split(".")
        if len(fields) != 3 or not hmac.compare_digest(mac(self._grant_key, (scope + body).encode()), signature):
            raise Unauthenticated("Invalid grant token")
        encoded, epoch, expires = fields
        try:
            user = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            alive = float(expires) >= time.time()
        except ValueError:
            raise Unauthenticated("Invalid grant token") from None
        if not alive:
            raise Unauthenticated("Grant token expired")
        with self.store.read() as txn:
            record = _load(txn, "users", user)
        if (record is None and epoch != "-") or (record is not None and str(record.get("epoch", 0)) != epoch):
            raise Unauthenticated("Grant token of a revoked or rotated user")
        return Principal("user", user, via="grant")


def _load(txn: Txn, table: str, key: str) -> dict[str, Any] | None:
    raw = txn.get(table, key.encode("utf-8", "surrogateescape"))
    return None if raw is None else dict(json.loads(raw))


class FailureLimiter:
    """Counts failed token checks per client address; past ``limit`` within ``FAILURE_WINDOW``
    seconds the address's tokens are refused unchecked (429) until the window passes, so tokens
    cannot be guessed at the name node's speed. Requests without any credential are not counted
    (they are a 401 that reveals nothing), nor node signatures (not guessable either way, and a
    wrong node on a shared address must not lock the right ones out)."""

    def __init__(self, limit: int = FAILURE_LIMIT, window: float = FAILURE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._failures.get(address, []) if t > now - self.window]
            if times:
                self._failures[address] = times
            else:
                self._failures.pop(address, None)
        if len(times) >= self.limit:
            raise TooManyAttempts(f"Too many failed authentications from {address}: wait {self.window:.0f} s")

    def failed(self, address: str) -> None:
        with self._lock:
            self._failures.setdefault(address, []).append(time.monotonic())
            self._failures.move_to_end(address)
            while len(self._failures) > 100_000:
                self._failures.popitem(last=False)


class Identity:
    """Admits each request (see the module docstring)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.secure = settings.secure
        self.tokens = Tokens(store, settings) if self.secure else None
        self.verifier = RequestVerifier(settings.secret) if self.secure else None
        self.urls = UrlSigner(settings.secret, settings.url_ttl) if self.secure else None
        self.block_ids = IdScrambler(settings.secret) if self.secure else None  # block ids nobody can guess
        self.limiter = FailureLimiter(settings.auth_failures)
        if not self.secure:
            log.warning("INSECURE development mode: DFS_SECRET is not set, so any client may claim any "
                        "user with user.name and any host may join as a data node. Set DFS_SECRET "
                        "(and DFS_ADMIN_TOKEN) on every node of a shared network.")
        elif not settings.admin_token:
            log.warning("DFS_ADMIN_TOKEN is not set: no administrator can log in to create users")

    # -- signing what clients take to data nodes (dfs_common.signed_urls) --------------------
    def sign_write(self, block: dict[str, Any]) -> dict[str, Any]:
        """Add ``access`` to an ADDBLOCK answer: the query a PUT of this block to the head of this
        pipeline needs, the rest of the pipeline being exactly its ``X-DFS-Pipeline``."""
        if self.urls is not None:
            rest = ",".join(str(node["url"]).rstrip("/") for node in block["pipeline"][1:])
            block["access"] = self.urls.query(f"block:{block['blockId']}", "write", rest)
            block["readAccess"] = self.urls.query(f"block:{block['blockId']}", "read")  # read-after-write
        return block

    def sign_group(self, group: dict[str, Any]) -> dict[str, Any]:
        """``sign_write`` for each fragment of an erasure-coded group's ADDBLOCK answer (each
        fragment goes to one node: its pipeline has no rest)."""
        for fragment in group.get("fragments") or []:
            self.sign_write(fragment)
        return group

    def sign_read(self, location: dict[str, Any]) -> dict[str, Any]:
        """Add ``access`` to a BlockLocation (and to each fragment of a coded group's): the query
        a GET of it from any replica needs."""
        if self.urls is not None:
            for block in [location, *(location.get("fragments") or [])]:
                if block.get("blockId"):
                    block["access"] = self.urls.query(f"block:{block['blockId']}", "read")
        return location

    def sign_redirect(self, path: str, op: str, query: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """A 307's query with its signature: the data node takes nothing else (path, op, offset,
        length, the grant: any change is a 403)."""
        if self.urls is None:
            return query
        return [*query, *self.urls.sign(f"path:{path}", op, query)]

    def admit(self, request: Request) -> Principal:
        """The principal of ``request`` (also stored in its environ under ``PRINCIPAL``), or the
        ``Unauthenticated`` error the path's rules call for."""
        principal = self._authenticate(request) if self.secure else INSECURE
        path = request.path
        if self.secure:
            if path.startswith("/internal/"):
                if principal.kind != "node":
                    raise Unauthenticated("Internal calls must be signed with the cluster secret (DFS_SECRET)")
            elif path not in PUBLIC and principal.kind != "user":
                raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>' "
                                      "or delegation=<token>")
        request.environ[PRINCIPAL] = principal
        return principal

    def _authenticate(self, request: Request) -> Principal:
        assert self.verifier is not None and self.tokens is not None
        address = request.remote_addr or "?"
        sender = self.verifier.verify(request.environ)  # 256-bit HMACs: nothing to gain by guessing
        if sender is not None:
            return Principal("node", sender, via="signature")
        token = bearer_of(request.environ) or Params(request.args).raw("delegation")
        if not token:
            return ANONYMOUS
        self.limiter.check(address)
        try:
            return self.tokens.principal(token)
        except Unauthenticated:
            self.limiter.failed(address)
            log.warning("refused a token from %s: %s", address, sys.exc_info()[1])
            raise


def effective_user(request: Request) -> tuple[str | None, bool]:
    """(the user a request acts as, whether it was authenticated): the user ``Identity.admit``
    authenticated or, for an administrator, its ``doas``; in insecure mode ``user.name`` as plain
    WebHDFS takes it (None: WebHDFS's anonymous; its ``doas`` is the caller's to apply)."""
    params = Params(request.args)
    claimed = params.user("user.name")  # validated either way: a NUL in it is a 400 everywhere
    principal = request.environ.get(PRINCIPAL, INSECURE)
    if principal.kind != "user":  # insecure mode (tests driving handlers directly too)
        return claimed, False
    doas = params.user("doas")
    if doas and doas != principal.name:
        if not principal.admin:
            raise NotPermitted(f"User {principal.name} is not an administrator: doas={doas[:40]} refused")
        return doas, True
    return principal.name, True
