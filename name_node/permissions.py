"""Who is asking and what POSIX bits let them do.

The caller is the WebHDFS ``user.name``; ``doas`` is honoured for the superuser and refused (403) for anyone else; group
membership comes from the local ``grp``/``pwd`` databases, as Hadoop's shell group mapping does,
cached because the lookups cost far more than the checks.
"""
from __future__ import annotations

import grp
import pwd
import stat
import threading
import time
from dataclasses import dataclass

from dfs_common.errors import AccessDenied, IllegalArgument, NotPermitted

from .store import Inode

READ, WRITE, EXECUTE = 4, 2, 1
DEFAULT_USER = "dr.who"
_GROUP_TTL = 300.0  # seconds: a changed /etc/group is seen within five minutes


@dataclass(frozen=True, slots=True)
class Caller:
    """The user a request acts for, with the groups they belong to."""

    user: str
    groups: frozenset[str]
    primary_group: str | None
    superuser: bool

    def in_group(self, group: str) -> bool:
        return self.superuser or group in self.groups


class GroupMapping:
    """User → groups from the system databases, cached with a time to live."""

    def __init__(self, superuser: str, supergroup: str) -> None:
        self.superuser = superuser
        self.supergroup = supergroup
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def caller(self, user: str | None, doas: str | None = None) -> Caller:
        name = user or DEFAULT_USER
        if doas and doas != name:
            if not self._resolve(name).superuser:  # as HDFS without a proxy-user rule for ``name``
                raise NotPermitted(f"User: {name} is not allowed to impersonate {doas}")
            name = doas
        return self._resolve(name)

    def _resolve(self, name: str) -> Caller:
        hit = self._cache.get(name)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self._lookup(name)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[name] = (now + _GROUP_TTL, found)
        return found

    def _lookup(self, name: str) -> Caller:
        groups: set[str] = set()
        primary: str | None = None
        try:
            gid = pwd.getpwnam(name).pw_gid
            primary = grp.getgrgid(gid).gr_name
            groups.add(primary)
        except (KeyError, OverflowError):
            pass
        try:
            groups.update(g.gr_name for g in grp.getgrall() if name in g.gr_mem)
        except OSError:
            pass
        superuser = name == self.superuser or self.supergroup in groups
        return Caller(name, frozenset(groups), primary, superuser)


def allowed(caller: Caller, inode: Inode, want: int) -> bool:
    """POSIX: the owner class, else the group class, else other; never a union of classes."""
    if caller.superuser:
        return True
    mode = inode.mode
    if caller.user == inode.owner:
        bits = (mode >> 6) & 7
    elif inode.group in caller.groups:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    return bits & want == want


def check(caller: Caller, inode: Inode, want: int, path: str) -> None:
    if not allowed(caller, inode, want):
        raise AccessDenied(f"Permission denied: user={caller.user}, access={describe(want)}, "
                           f"inode=\"{path}\":{inode.owner}:{inode.group}:{mode_string(inode)}")


def check_sticky(caller: Caller, parent: Inode, child: Inode, path: str) -> None:
    """In a sticky directory only the entry's owner, the directory's owner or root may unlink it."""
    if parent.mode & stat.S_ISVTX and not caller.superuser and caller.user not in (parent.owner, child.owner):
        raise AccessDenied(f"Permission denied by sticky bit: user={caller.user}, path=\"{path}\":"
                           f"{child.owner}:{child.group}, parent owner {parent.owner}")


def check_owner(caller: Caller, inode: Inode, path: str, what: str) -> None:
    if not caller.superuser and caller.user != inode.owner:
        raise NotPermitted(f"Permission denied: only the owner or the superuser may {what} {path}")


def parse_fsaction(text: str) -> int:
    """``rwx``/``r-x``/… (HDFS FsAction symbols) to permission bits."""
    if len(text) != 3 or any(c not in (ok, "-") for c, ok in zip(text, "rwx")):
        raise IllegalArgument(f'Invalid value for webhdfs parameter "fsaction": {text[:10]!r}')
    return sum(bit for c, bit in zip(text, (READ, WRITE, EXECUTE)) if c != "-")


def describe(want: int) -> str:
    return "".join(c if want & bit else "-" for c, bit in zip("rwx", (READ, WRITE, EXECUTE)))


def mode_string(inode: Inode) -> str:
    kind = {"d": "d", "l": "l"}.get(inode.kind, "-")
    return kind + stat.filemode(inode.mode)[1:]
