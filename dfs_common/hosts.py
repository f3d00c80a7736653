"""Which host a URL names, as addresses: how readers tell the replica on their own machine.

Both answers are cached per host name (a lookup is a DNS query at worst, once), so ordering the
replicas of every block read costs a dictionary look-up.
"""
from __future__ import annotations

import functools
import socket
from urllib.parse import urlsplit


def url_host(url: str) -> str:
    """The host part of ``http://host:port/...`` (brackets of an IPv6 literal removed)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


@functools.lru_cache(maxsize=1024)
def addresses(host: str) -> frozenset[str]:
    """The IP addresses ``host`` resolves to (itself if it is one); empty if it does not resolve."""
    if not host:
        return frozenset()
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(str(info[4][0]) for info in infos)


@functools.lru_cache(maxsize=1024)
def is_local(host: str) -> bool:
    """Whether ``host`` is this machine: one of its addresses can be bound here (no packet is
    sent; only an address of a local interface can be bound)."""
    for address in addresses(host):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.bind((address, 0))
            return True
        except OSError:
            continue
    return False
