"""Owner and group names on the name node ↔ uid and gid on this machine.

The name node stores names (as HDFS does); the kernel wants numbers. A name with no local account is
shown as its number when it is one (the mount records ``"1234"`` for a uid without a name) and as
``nobody`` otherwise. Lookups go through NSS, which can be slow (LDAP), so answers are cached for a
while; accounts added later appear once their entry expires.
"""
from __future__ import annotations

import grp
import pwd
from collections.abc import Callable

from .cache import TTLCache

NOBODY = 65534
_TTL = 30.0


class IdentityMap:
    def __init__(self, ttl: float = _TTL) -> None:
        self._uids: TTLCache[str, int] = TTLCache(ttl)
        self._gids: TTLCache[str, int] = TTLCache(ttl)
        self._users: TTLCache[int, str] = TTLCache(ttl)
        self._groups: TTLCache[int, str] = TTLCache(ttl)

    def uid(self, owner: str | None) -> int:
        return _lookup(self._uids, owner or "", lambda n: pwd.getpwnam(n).pw_uid)

    def gid(self, group: str | None) -> int:
        return _lookup(self._gids, group or "", lambda n: grp.getgrnam(n).gr_gid)

    def owner(self, uid: int) -> str:
        return _name(self._users, uid, lambda i: pwd.getpwuid(i).pw_name)

    def group(self, gid: int) -> str:
        return _name(self._groups, gid, lambda i: grp.getgrgid(i).gr_name)


def _lookup(cache: TTLCache[str, int], name: str, resolve: Callable[[str], int]) -> int:
    cached = cache.get(name)  # (twice per entry of every listing: no lock taken, see TTLCache.get)
    if cached is not None:
        return cached
    if name.isdigit():
        number = int(name)
    else:
        try:
            number = resolve(name)
        except KeyError:
            number = NOBODY
    cache.put(name, number)
    return number


def _name(cache: TTLCache[int, str], number: int, resolve: Callable[[int], str]) -> str:
    cached = cache.get(number)
    if cached is not None:
        return cached
    try:
        name = resolve(number)
    except KeyError:
        name = str(number)
    cache.put(number, name)
    return name
