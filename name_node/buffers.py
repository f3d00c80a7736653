"""Ingest buffers' rows and the hooks the namespace calls on every change (``ingest``: the operations).

A buffer is an ordinary directory whose inode has a row in the ``buffers`` table (and, while it is
frozen, one in ``frozen``). Records arrive as files named by their arrival time; the counters
(``n_itm`` entries, ``buff_size`` bytes) live in the row and change in the same transaction as the
entries they count, so they are exact whatever the number of writers (LMDB has one writer at a
time). Every function works inside the caller's write transaction, so a post, a freeze or a
release (``ingest``) is one atomic namespace change. The namespace calls the hooks (``check_writable``,
``entry_added``, ``entry_removed``, ``resized``) for every change, whoever makes it: a record
POSTed, a file copied in through the mount, a WebHDFS CREATE.
"""
from __future__ import annotations

import marshal
from dataclasses import dataclass

from dfs_common.errors import ReadOnly

from .store import DIR, ROOT_INO, Inode, Txn, pack_u64

OPERATIONAL, FROZEN = "OPERATIONAL", "FROZEN"


@dataclass(slots=True)
class Buffer:
    """A buffer's row: ``size`` is ``buff_size``; ``last_record`` the arrival time (ns) of the
    newest record, so names stay unique and ordered even within one clock tick; ``batch`` counts
    releases. ``id`` survives releases (the log is keyed by it), the inode does not."""

    id: int
    max_bytes: int
    size: int = 0
    state: str = OPERATIONAL
    frozen_by: str = ""
    frozen_at: int = 0
    created: int = 0
    last_record: int = 0
    batch: int = 0

    def encode(self) -> bytes:
        return marshal.dumps((self.id, self.max_bytes, self.size, self.state, self.frozen_by,
                              self.frozen_at, self.created, self.last_record, self.batch))

    @classmethod
    def decode(cls, data: bytes) -> "Buffer":
        return cls(*marshal.loads(data))


def get(txn: Txn, ino: int) -> Buffer | None:
    data = txn.txn.get(pack_u64(ino), db=txn.db["buffers"])
    return None if data is None else Buffer.decode(data)


def put(txn: Txn, ino: int, buffer: Buffer) -> None:
    txn.put("buffers", pack_u64(ino), buffer.encode())
    if buffer.state == FROZEN:
        txn.put("frozen", pack_u64(ino))
    else:
        txn.delete("frozen", pack_u64(ino))


def forget(txn: Txn, ino: int) -> None:
    txn.delete("buffers", pack_u64(ino))
    txn.delete("frozen", pack_u64(ino))


# -- hooks the namespace calls on every change -------------------------------------------------

def check_writable(txn: Txn, dir_ino: int, path: str) -> None:
    """Refuse (EROFS, 403) a change in directory ``dir_ino`` if it is, or lies in, a frozen
    buffer. Costs one table stat when no buffer is frozen."""
    if not txn.entries("frozen"):
        return
    ino = dir_ino
    for _ in range(4096):  # deeper than any real tree; a loop in parent pointers cannot hang us
        if txn.txn.get(pack_u64(ino), db=txn.db["frozen"]) is not None:
            buffer = get(txn, ino)
            who = f" by {buffer.frozen_by}" if buffer is not None and buffer.frozen_by else ""
            raise ReadOnly(f"{path}: the buffer is frozen{who}; nothing can change in it until it is released")
        if ino == ROOT_INO:
            return
        node = txn.inode(ino)
        if node is None:
            return
        ino = node.parent


def entry_added(txn: Txn, dir_ino: int, inode: Inode) -> None:
    if inode.kind != DIR and txn.entries("buffers"):
        resized(txn, dir_ino, 0, inode.size)


def entry_removed(txn: Txn, dir_ino: int, inode: Inode) -> None:
    if inode.kind != DIR and txn.entries("buffers"):
        resized(txn, dir_ino, inode.size, 0)


def resized(txn: Txn, dir_ino: int, old: int, new: int) -> None:
    """A file directly in ``dir_ino`` went from ``old`` to ``new`` bytes."""
    if old == new or not txn.entries("buffers"):
        return
    buffer = get(txn, dir_ino)
    if buffer is not None:
        buffer.size = max(0, buffer.size + new - old)
        put(txn, dir_ino, buffer)
