"""Attribute rules: what chmod, chown, utimes, truncate, setxattr and removexattr may change, and how.

The POSIX rules live here, apart from HTTP: setuid and setgid cleared as Linux clears them, who may
set times, which xattr namespaces a caller may write and how WebHDFS spells xattr names and values.
Each function works inside the caller's write transaction, like ``namespace``.
"""
from __future__ import annotations

import base64
import binascii
import stat

from dfs_common.blocks import format_block_id
from dfs_common.errors import AlreadyExists, IllegalArgument, NoAttribute, NotPermitted

from . import blockmap, buffers, namespace
from .permissions import READ, WRITE, Caller, check, check_owner
from .store import DIR, FILE, Inode, Txn

XATTR_NAMESPACES = ("user.", "trusted.", "system.", "security.", "raw.")
MAX_XATTR_SIZE = 16384  # HDFS's dfs.namenode.fs-limits.max-xattr-size default
XATTR_FLAGS = frozenset(("CREATE", "REPLACE"))


def set_mode(txn: Txn, path: str, caller: Caller, mode: int, now: int) -> None:
    """chmod(2): the owner or the superuser; setgid needs membership of the file's group."""
    ino, inode = namespace.resolve_existing(txn, path, caller)
    check_owner(caller, inode, path, "change the permission of")
    if not caller.superuser and inode.kind != DIR and not caller.in_group(inode.group):
        mode &= ~stat.S_ISGID  # as chmod(2): setgid needs membership of the file's group
    inode.mode = mode & 0o7777
    inode.ctime = now
    txn.put_inode(ino, inode)


def set_owner(txn: Txn, path: str, caller: Caller, owner: str | None, group: str | None, now: int) -> None:
    """chown(2): only the superuser gives a file away; an owner may change its group to one of
    theirs. Every non-directory loses setuid, and setgid when it is group-executable (Linux)."""
    if owner is None and group is None:
        raise IllegalArgument("Both owner and group are empty")
    ino, inode = namespace.resolve_existing(txn, path, caller)
    if not caller.superuser:
        if owner is not None and owner != inode.owner:
            raise NotPermitted(f"Non-super user cannot change owner of {path}")
        check_owner(caller, inode, path, "change the group of")
        if group is not None and not caller.in_group(group):
            raise NotPermitted(f"User {caller.user} does not belong to {group}")
    inode.owner, inode.group = owner or inode.owner, group or inode.group
    if inode.kind != DIR:  # as chown(2) on Linux: every non-directory loses setuid
        inode.mode &= ~stat.S_ISUID
        if inode.mode & stat.S_IXGRP:
            inode.mode &= ~stat.S_ISGID
    inode.ctime = now
    txn.put_inode(ino, inode)


def set_times(txn: Txn, path: str, caller: Caller, mtime: int | None, atime: int | None, now: int) -> None:
    """utimensat(2): the owner sets any time; anyone else needs write permission."""
    ino, inode = namespace.resolve_existing(txn, path, caller)
    if caller.user != inode.owner:
        check(caller, inode, WRITE, path)
    if mtime is not None:
        inode.mtime = mtime
    if atime is not None:
        inode.atime = atime
    inode.ctime = now
    txn.put_inode(ino, inode)


def set_replication(txn: Txn, path: str, caller: Caller, replication: int, now: int) -> list[int] | None:
    """The file's block numbers (to re-check against the new count), or None when ``path`` is
    not a regular file (WebHDFS answers false then)."""
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    if inode.kind != FILE:
        return None
    check(caller, inode, WRITE, path)
    inode.replication = replication
    inode.ctime = now
    txn.put_inode(ino, inode)
    return [number for number, _ in txn.extents(ino) if number]


def truncate(txn: Txn, path: str, caller: Caller, new_length: int, now: int) -> None:
    """truncate(2): cut or extend (with a hole) to ``new_length``; a cut block keeps its id and
    only its extent shrinks. Times change only with the size."""
    where = namespace.resolve(txn, path, caller, follow=True)
    ino, inode = where.existing()
    namespace.require_file(inode, path)
    check(caller, inode, WRITE, path)
    buffers.check_writable(txn, where.parent_ino, path)
    entries: list[tuple[str | None, int, str | None]] = []
    position = 0
    for number, size in txn.extents(ino):
        if position >= new_length:
            break
        keep = min(size, new_length - position)
        entries.append((format_block_id(number) if number else None, keep, None))
        position += keep
    if new_length > position:
        entries.append((None, new_length - position, None))
    old_size = inode.size
    _, inode.size, _ = blockmap.swap_extents(txn, ino, entries)
    if inode.size != old_size:  # POSIX truncate(2): times change only with the size
        inode.mtime = inode.ctime = now
    txn.put_inode(ino, inode)
    buffers.resized(txn, where.parent_ino, old_size, inode.size)


# extended attributes -------------------------------------------------------------------------
def get_xattrs(txn: Txn, path: str, caller: Caller, names: list[str]) -> list[tuple[str, bytes]]:
    """The named attributes (all when ``names`` is empty); a missing one is NoAttribute."""
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    check(caller, inode, READ, path)
    values = [(name, txn.xattr(ino, name)) for name in (names or list(txn.xattrs(ino)))]
    found = [(name, value) for name, value in values if value is not None]
    if len(found) != len(values):
        raise NoAttribute("At least one of the attributes provided was not found.")
    return found


def list_xattrs(txn: Txn, path: str, caller: Caller) -> list[str]:
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    check(caller, inode, READ, path)
    return list(txn.xattrs(ino))


def set_xattr(txn: Txn, path: str, caller: Caller, name: str, value: bytes, flags: set[str], now: int) -> None:
    """setxattr(2) with XATTR_CREATE / XATTR_REPLACE as the ``flags``."""
    if flags - XATTR_FLAGS:
        raise IllegalArgument('Invalid value for webhdfs parameter "flag"')
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    check_xattr_write(caller, inode, name, path)
    exists = txn.xattr(ino, name) is not None
    if exists and flags == {"CREATE"}:
        raise AlreadyExists(f"XAttr: {name} already exists")
    if not exists and flags == {"REPLACE"}:
        raise NoAttribute(f"XAttr: {name} does not exist")
    txn.put_xattr(ino, name, value)
    inode.ctime = now
    txn.put_inode(ino, inode)


def remove_xattr(txn: Txn, path: str, caller: Caller, name: str, now: int) -> None:
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    check_xattr_write(caller, inode, name, path)
    if not txn.delete_xattr(ino, name):
        raise NoAttribute(f"No matching attributes found for remove operation: {name}")
    inode.ctime = now
    txn.put_inode(ino, inode)


def check_xattr_write(caller: Caller, inode: Inode, name: str, path: str) -> None:
    """Only ``user.`` attributes for everyone but the superuser; a sticky directory's attributes
    only for its owner; and write permission."""
    if not name.startswith("user.") and not caller.superuser:
        raise NotPermitted(f"Only the superuser may set {name.split('.')[0]} attributes")
    if inode.kind == DIR and inode.mode & stat.S_ISVTX and caller.user != inode.owner:
        check_owner(caller, inode, path, "set attributes on")
    check(caller, inode, WRITE, path)


def check_xattr_name(name: str | None) -> str:
    """A namespaced name (``user.x``); the namespace prefix is case-insensitive as in HDFS."""
    if not name:
        raise IllegalArgument('Missing webhdfs parameter "xattr.name"')
    lowered = name.lower()
    for prefix in XATTR_NAMESPACES:
        if lowered.startswith(prefix) and len(name) > len(prefix):
            name = prefix + name[len(prefix):]
            if len(name.encode()) > 255:
                raise IllegalArgument("XAttr name is too long")
            return name
    raise IllegalArgument(f"XAttr name must be prefixed with user/trusted/security/system/raw, "
                          f"followed by a '.': {name[:60]!r}")


def decode_xattr_value(text: str | None) -> bytes:
    """WebHDFS value spelling: ``0x`` hex, ``0s`` base64, ``"quoted"`` or bare text."""
    if text is None:
        return b""
    try:
        if len(text) >= 2 and text[:2].lower() == "0x":
            value = bytes.fromhex(text[2:])
        elif len(text) >= 2 and text[:2].lower() == "0s":
            value = base64.b64decode(text[2:], validate=True)
        elif len(text) >= 2 and text[0] == text[-1] == '"':
            value = text[1:-1].encode()
        else:
            value = text.encode()
    except (ValueError, binascii.Error):
        raise IllegalArgument(f"Invalid xattr.value: {text[:40]!r}") from None
    if len(value) > MAX_XATTR_SIZE:
        raise IllegalArgument(f"XAttr value is larger than {MAX_XATTR_SIZE} bytes")
    return value


def encode_xattr_value(value: bytes, encoding: str | None) -> str:
    kind = (encoding or "text").lower()
    if kind == "hex":
        return "0x" + value.hex()
    if kind == "base64":
        return "0s" + base64.b64encode(value).decode()
    if kind != "text":
        raise IllegalArgument(f'Invalid value for webhdfs parameter "encoding": {str(encoding)[:20]!r}')
    try:
        return '"' + value.decode() + '"'
    except UnicodeDecodeError:
        return "0s" + base64.b64encode(value).decode()  # not text: base64 keeps it lossless
