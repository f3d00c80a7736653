"""Storage policies: which kind of root a file's replicas live on (HDFS's SETSTORAGEPOLICY).

A policy is set on a file or a directory (``storagepolicy`` table, inode → name). As in HDFS, a
file's own policy wins, else its directory's, inherited from the nearest ancestor that has one.
Files do not know their directory (hard links), so each file carries its effective policy: it is
stamped at creation from its directory and re-stamped on every file below a directory whose
policy changes (a stamp is the name, a policy set on the file itself ``=`` and the name: stamps
never override it). The change also makes the healer look at their blocks, which it moves where
the new policy wants them (``placement.better``), as HDFS's Mover would, without a separate tool.
A renamed file keeps its stamp until a policy above it changes.

DFS's roots are of two kinds: disks (a local folder or a Lustre path, HDFS's ``DISK``) and object
stores (S3, reported as HDFS's ``ARCHIVE``: cheap, dense, slower).

- ``HOT`` (the default): replicas on any root.
- ``ALL_LOCAL``: every replica on a disk root, never in a bucket (a write finds no room rather than
  fall back to one).
- ``ONE_S3``: one replica in an S3 bucket, the others on disks; while a kind has no live node with
  room, the other kind takes the copy and the healer moves it once one returns.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dfs_common.errors import IllegalArgument

from . import namespace
from .permissions import WRITE, Caller, check
from .store import DIR, ROOT_INO, Txn, pack_u64

DISK, ARCHIVE = "DISK", "ARCHIVE"  # HDFS's storage type names for a disk and an object-store root


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """``s3``: how many of a block's replicas belong on S3 roots (None: any number); ``fallback``:
    whether the other kind may take a copy while the wanted kind has no room."""

    name: str
    id: int
    s3: int | None
    fallback: bool

    def wants_s3(self, replicas_on_s3: int) -> bool | None:
        """The kind the next replica should go to given how many are on S3 already: True (S3),
        False (a disk) or None (either)."""
        return None if self.s3 is None else replicas_on_s3 < self.s3

    def misfit(self, replicas: int, replicas_on_s3: int) -> int:
        """How far a set of replicas is from the policy (0: it holds)."""
        return 0 if self.s3 is None else abs(replicas_on_s3 - min(self.s3, replicas))

    def describe(self) -> dict[str, Any]:
        """HDFS's BlockStoragePolicy JSON shape."""
        types = [DISK, ARCHIVE] if self.s3 is None else [DISK] if self.s3 == 0 else [ARCHIVE, DISK]
        fallbacks = [DISK, ARCHIVE] if self.fallback and self.s3 is not None else []
        return {"id": self.id, "name": self.name, "storageTypes": types, "creationFallbacks": fallbacks,
                "replicationFallbacks": fallbacks, "copyOnCreateFile": False}


HOT = StoragePolicy("HOT", 7, None, True)
ALL_LOCAL = StoragePolicy("ALL_LOCAL", 20, 0, False)
ONE_S3 = StoragePolicy("ONE_S3", 21, 1, True)
POLICIES = {policy.name: policy for policy in (HOT, ALL_LOCAL, ONE_S3)}


def parse(name: str) -> StoragePolicy:
    policy = POLICIES.get(name.strip().upper())
    if policy is None:
        raise IllegalArgument(f"Unknown storage policy {name[:40]!r}; known: {', '.join(POLICIES)}")
    return policy


def storage_type(root: str) -> str:
    """What a node's root kind (``local``, ``lustre``, ``s3``) is called in HDFS's terms."""
    return ARCHIVE if root == "s3" else DISK


def effective(txn: Txn, ino: int) -> StoragePolicy:
    """The policy of inode ``ino``: a file's own or stamped one; a directory's own, else the
    nearest ancestor's; else HOT. One table stat when no policy is set anywhere."""
    if not txn.entries("storagepolicy"):
        return HOT
    for _ in range(4096):
        found = txn.get("storagepolicy", pack_u64(ino))
        if found is not None:
            return POLICIES.get(found.decode().lstrip("="), HOT)
        node = txn.inode(ino) if ino != ROOT_INO else None
        if node is None or node.kind != DIR:
            break
        ino = node.parent
    return HOT


def set_policy(txn: Txn, path: str, caller: Caller, name: str | None) -> int:
    """Set (``name``) or unset (None) the policy of ``path`` and re-stamp the files it governs;
    answers its inode."""
    where = namespace.resolve(txn, path, caller, follow=True)
    ino, inode = where.existing()
    check(caller, inode, WRITE, path)
    if inode.kind != DIR:  # unset: back to what its directory gives
        _stamp(txn, ino, parse(name) if name is not None else effective(txn, where.parent_ino), own=name is not None)
        return ino
    if name is None:
        txn.delete("storagepolicy", pack_u64(ino))
    else:
        txn.put("storagepolicy", pack_u64(ino), parse(name).name.encode())
    policy = effective(txn, ino)
    for file_ino in files_below(txn, ino):
        own = txn.get("storagepolicy", pack_u64(file_ino))
        if own is None or not own.startswith(b"="):
            _stamp(txn, file_ino, policy)
    return ino


def _stamp(txn: Txn, ino: int, policy: StoragePolicy, own: bool = False) -> None:
    if policy is HOT and not own:
        txn.delete("storagepolicy", pack_u64(ino))
    else:
        txn.put("storagepolicy", pack_u64(ino), ("=" if own else "").encode() + policy.name.encode())


def stamp_new_file(txn: Txn, ino: int, dir_ino: int) -> None:
    """At a file's creation: it carries its directory's effective policy."""
    policy = effective(txn, dir_ino)
    if policy is not HOT:
        _stamp(txn, ino, policy)


def get_policy(txn: Txn, path: str, caller: Caller) -> StoragePolicy:
    ino, _ = namespace.resolve_existing(txn, path, caller, follow=True)
    return effective(txn, ino)


def files_below(txn: Txn, ino: int) -> Iterator[int]:
    """The file ``ino``, or every file below the directory ``ino`` (down to directories that set
    their own policy: theirs governs them)."""
    stack = [ino]
    while stack:
        current = stack.pop()
        node = txn.inode(current)
        if node is None:
            continue
        if node.kind != DIR:
            yield current
            continue
        for _, child in txn.children(current):
            below = txn.inode(child)
            if below is not None and below.kind == DIR and txn.get("storagepolicy", pack_u64(child)) is not None:
                continue
            stack.append(child)


def blocks_below(txn: Txn, ino: int) -> Iterator[int]:
    """The blocks of the files a policy change on ``ino`` may have to move."""
    for file_ino in files_below(txn, ino):
        yield from (number for number, _ in txn.extents(file_ino) if number)
