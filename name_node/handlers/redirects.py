"""Step one of the two-step operations: OPEN, CREATE, APPEND and GETFILECHECKSUM.

The name node carries no bytes: it checks what it can (the path, the caller's rights, the
parameters) and answers with a 307 (or, with ``noredirect=true``, a JSON ``Location``) to a data
node, which does the rest as an ordinary client. OPEN goes to a node holding the first block read.
"""
from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Response

from dfs_common import crc
from dfs_common.blocks import format_block_id
from dfs_common.errors import AlreadyExists, IllegalArgument, IsADirectory, NotFound, PastEndOfFile, Unavailable
from dfs_common.hosts import addresses, url_host
from dfs_common.paths import normalize
from dfs_common.settings import Settings
from dfs_common.web import json_response

from .. import buffers, namespace
from ..identity import Identity
from ..members import Members
from ..permissions import READ, WRITE, check
from ..placement import Placement
from ..store import DIR, Store
from .call import PREFIX, Call, check_block_size


class RedirectOps:
    """OPEN, CREATE, APPEND, GETFILECHECKSUM: checked here, then sent to a data node."""

    def __init__(self, store: Store, members: Members, placement: Placement, settings: Settings,
                 identity: Identity | None) -> None:
        self.identity = identity
        self.store = store
        self.members = members
        self.placement = placement
        self.settings = settings

    def op_open(self, call: Call) -> Response:
        offset = call.params.integer("offset", 0, minimum=0) or 0
        call.params.integer("length", None, minimum=0)
        live = {m.id: m for m in self.members.alive()}
        target = None
        with call.read(self.store) as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            namespace.require_file(inode, call.path, read=True)
            check(call.caller, inode, READ, call.path)
            if offset > inode.size:
                raise PastEndOfFile(f"Cannot seek after EOF: offset {offset} of a {inode.size}-byte file")
            position = 0
            for number, size in txn.extents(ino):
                if position <= offset < position + size:
                    record = txn.block(number) if number else None
                    if record is not None:
                        holders = self.members.freshest_first([live[n] for n in record.replicas if n in live])
                        if not holders:
                            raise Unavailable(f"No live data node holds block {format_block_id(number)} of {call.path}")
                        fresh = [m for m in holders if self.members.is_fresh(m)] or holders
                        target = pick_reader(fresh, call.request.remote_addr)
                    break
                position += size
        return self._to(call, target or self.placement.any_alive())

    def op_getfilechecksum(self, call: Call) -> Response:
        crc.combine_mode(call.params.text(crc.COMBINE_MODE_PARAM))  # a bad one is 400 here, not after the redirect
        return self._redirect_for_file(call, READ, read=True)

    def op_create(self, call: Call) -> Response:
        overwrite = call.params.boolean("overwrite", False)
        call.params.permission()
        check_block_size(self.settings, call.params.integer("blocksize", None, minimum=1))
        replication = call.params.integer("replication", None, minimum=1)
        if replication is not None and replication > 512:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "replication": {replication}')
        with self.store.read() as txn:
            try:
                where = namespace.resolve(txn, call.path, call.caller)
            except NotFound:  # missing parents: the data node makes them (MKDIRS checks its own rights)
                return self._to(call, self.placement.any_alive())
            buffers.check_writable(txn, where.parent_ino, call.path)
            if where.inode is not None:
                if where.inode.kind == DIR:
                    raise IsADirectory(f"{call.path} already exists as a directory")
                namespace.require_file(where.inode, call.path)
                if not overwrite:
                    raise AlreadyExists(f"{call.path} for client {call.request.remote_addr} already exists")
                check(call.caller, where.inode, WRITE, call.path)
            else:
                namespace.check_create(call.caller, where)
        return self._to(call, self.placement.any_alive())

    def op_append(self, call: Call) -> Response:
        return self._redirect_for_file(call, WRITE)

    def _redirect_for_file(self, call: Call, access: int, read: bool = False) -> Response:
        """To any live data node, once the path is a file the caller may ``access``."""
        with call.read(self.store) as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            namespace.require_file(inode, call.path, read)
            check(call.caller, inode, access, call.path)
        return self._to(call, self.placement.any_alive())


    def _to(self, call: Call, member: Any) -> Response:
        return redirect(call, member, self.identity)


# parameters a redirect never echoes: our own address, and credentials (a grant replaces them)
_NOT_ECHOED = frozenset({"namenoderpcaddress", "delegation", "dfs.exp", "dfs.sig"})


def redirect(call: Call, member: Any, identity: Identity | None) -> Response:
    """A self-contained data node URL: every client parameter echoed plus our address (and, with
    ``DFS_SECRET``, a grant for the caller in place of any credential: the data node acts with it)."""
    query = [(k, v) for k, v in call.request.args.items(multi=True) if k.lower() not in _NOT_ECHOED]
    query.append(("namenoderpcaddress", call.request.host))
    tokens = identity.tokens if identity is not None else None
    if tokens is not None:
        query = [(k, v) for k, v in query if k.lower() not in ("user.name", "doas")]
        query += [("user.name", call.caller.user), ("delegation", tokens.grant(call.caller.user))]
    if identity is not None:
        query = identity.sign_redirect(normalize(call.path), (call.params.raw("op") or "").upper(), query)
    location = f"{member.client_url}{PREFIX}{quote(normalize(call.path), safe='/')}?{urlencode(query)}"
    if call.params.boolean("noredirect", False):
        return json_response({"Location": location})
    return Response(b"", status=307, headers={"Location": location}, content_type="application/octet-stream")


def pick_reader(holders: list[Any], client_address: str | None) -> Any:
    """The replica an OPEN reads first: one on the reader's own host if there is one, else any,
    chosen afresh for each request so that every copy gets read and verified, not only one per
    client (a corrupt second copy is then found by readers, not left to the scrubber)."""
    near = [m for m in holders if client_address and client_address in addresses(url_host(m.client_url))]
    return random.choice(near or holders)
