"""LAN discovery: the name node announces itself by mDNS/DNS-SD (``_dfs._tcp``), a data node or a
mount started with ``DFS_DISCOVER=1`` and no name node address finds it.

Anyone on a LAN can announce ``_dfs._tcp``, so an answer is only a candidate: on a secured cluster
the finder sends the candidate a nonce in a request signed with the cluster secret and accepts it
only if it answers the HMAC of that nonce under a key derived from the same secret
(``/internal/identify``). A name node without the secret cannot answer; a finder without it is
refused (401) and keeps looking. The name node, in turn, only accepts heartbeats signed with the
secret, so a data node with a wrong one never becomes a member either way.

Announcing is opt-in (``DFS_DISCOVER=1`` on the name node too): multicast leaves the host.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from .auth import RequestSigner, derive, mac

log = logging.getLogger(__name__)

SERVICE = "_dfs._tcp.local."
PROOF_PURPOSE = "namenode-identity"


def proof(secret: str, nonce: str) -> str:
    """What only a holder of ``secret`` answers to ``nonce``: the name node's side of ``prove``."""
    return mac(derive(secret, PROOF_PURPOSE), nonce.encode())


class Announcer:
    """The name node's record on the LAN while it runs (``start``/``stop`` with the node)."""

    def __init__(self, port: int, scheme: str = "http", address: str = "", name: str = "") -> None:
        self.port, self.scheme, self.address = port, scheme, address
        self.name = name or socket.gethostname()
        self._zeroconf: Any = None
        self._info: Any = None

    def start(self) -> None:
        from zeroconf import ServiceInfo, Zeroconf

        # an explicit advertise address, else every address of this host (zeroconf's default)
        addresses = [socket.inet_aton(socket.gethostbyname(self.address))] if self.address else None
        self._zeroconf = Zeroconf()
        self._info = ServiceInfo(SERVICE, f"dfs-{self.name}-{self.port}.{SERVICE}", port=self.port,
                                 properties={"scheme": self.scheme, "path": "/"},
                                 server=f"{self.name}.local.", addresses=addresses)
        self._zeroconf.register_service(self._info, allow_name_change=True)
        log.info("announcing the name node as %s on port %d", SERVICE, self.port)

    def stop(self) -> None:
        if self._zeroconf is not None:
            self._zeroconf.unregister_service(self._info)
            self._zeroconf.close()
            self._zeroconf = None


def candidates(wait: float) -> list[str]:
    """Name node URLs announced on the LAN within ``wait`` seconds (first answers first)."""
    from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

    found: list[str] = []
    arrived = threading.Event()
    zeroconf = Zeroconf()

    def changed(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        if state_change is not ServiceStateChange.Added:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=int(wait * 1000))
        if info is None:
            return
        scheme = (info.properties or {}).get(b"scheme", b"http").decode()
        for address in info.parsed_addresses():
            url = f"{scheme}://{address}:{info.port}"
            if url not in found:
                found.append(url)
        arrived.set()

    browser = ServiceBrowser(zeroconf, SERVICE, handlers=[changed])
    try:
        arrived.wait(wait)
        time.sleep(0.2)  # answers of other name nodes that came in the same burst
    finally:
        browser.cancel()
        zeroconf.close()
    return found


def prove(url: str, secret: str, timeout: float = 5.0) -> bool:
    """``url`` is a name node of the cluster that shares ``secret`` (any name node when insecure)."""
    nonce = secrets.token_hex(16)
    target = f"{url.rstrip('/')}/internal/identify?nonce={nonce}"
    headers = RequestSigner(secret, "discovery").headers("GET", target) if secret else {}
    try:
        answer = requests.get(target, headers=headers, timeout=timeout)
        if answer.status_code != 200:
            log.warning("%s refused to identify itself (%d): not our cluster, or our secret is wrong",
                        url, answer.status_code)
            return False
        claimed = str(answer.json().get("proof", ""))
    except (requests.RequestException, ValueError) as error:
        log.warning("%s did not identify itself: %s", url, error)
        return False
    if secret and not hmac.compare_digest(claimed, proof(secret, nonce)):
        log.warning("%s answered without proof of the cluster secret: ignored", url)
        return False
    return True


def discover(secret: str, attempt: float = 3.0, give_up: float | None = None,
             sleep: Callable[[float], None] = time.sleep) -> str:
    """Search until a name node that proves ``secret`` answers; its URL. ``give_up`` seconds
    (None: never) before ``LookupError``."""
    deadline = None if give_up is None else time.monotonic() + give_up
    while True:
        for url in candidates(attempt):
            if prove(url, secret):
                log.info("discovered the name node at %s", url)
                return url
        if deadline is not None and time.monotonic() >= deadline:
            raise LookupError(f"no name node of this cluster announced {SERVICE} within {give_up:.0f} s")
        log.info("no name node of this cluster on the LAN yet; looking again")
        sleep(1.0)
