"""The data nodes the name node knows: who they are, how full, and whether they are alive.

Members are persisted (a restarted name node keeps them) but liveness is in memory: a node is
alive while heartbeats arrive; after ``dead_after`` heartbeats of silence it is dead and gets no new
blocks. A restart gives every known node one grace window to check in.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from dfs_common.errors import IllegalArgument, NotFound
from dfs_common.settings import Settings
from dfs_common.web import MAX_INT64, is_http_url

from .store import Store, Txn

NORMAL, DECOMMISSIONING, DECOMMISSIONED, MAINTENANCE = "normal", "decommissioning", "decommissioned", "maintenance"
ADMIN_STATES = (NORMAL, DECOMMISSIONING, DECOMMISSIONED, MAINTENANCE)
_REPORT_RETRY = 10  # heartbeats to wait for a requested block report before asking again
# A node heard from within one heartbeat interval and this share of one more is "fresh": one that
# stopped answering a moment ago is still alive (dead only after ``dead_after`` heartbeats) but
# gets no redirect while a fresher replica exists.
_FRESH_SLACK = 0.5


@dataclass(slots=True)
class Member:
    """One data node as last heard from. ``reserved``: bytes of blocks placed on it and still in
    flight; ``landed``: bytes confirmed on it since its last heartbeat (see ``placement``)."""

    id: str
    url: str
    public_url: str = ""
    capacity: int = 0
    used: int = 0
    remaining: int = 0
    blocks: int = 0
    last_seen: float = 0.0
    seen_at: float = 0.0
    reported: bool = False
    report_asked: float = 0.0
    reserved: int = 0
    landed: int = 0
    commands: list[dict[str, Any]] = field(default_factory=list)
    # operator's state (``admin``): NORMAL, or DECOMMISSIONING/DECOMMISSIONED (drained: no new
    # blocks, its copies do not count), or MAINTENANCE until ``maintenance_until`` (wall time: no
    # new blocks, its copies keep counting while it is down); persisted with the member
    admin: str = "normal"
    maintenance_until: float = 0.0
    drain: dict[str, int] = field(default_factory=dict)  # decommission progress (``decommission``)
    # what its heartbeat says of its storage root and place (see ``placement``): an unhealthy
    # root (an S3 bucket that does not answer) gets no new blocks and its replicas are read last
    healthy: bool = True
    root: str = "local"
    site: str = ""
    rack: str = ""

    @property
    def client_url(self) -> str:
        return (self.public_url or self.url).rstrip("/")

    @property
    def in_bucket(self) -> bool:
        """Its root is an object store (S3): what storage policies count (``storagepolicy``)."""
        return self.root == "s3"

    @property
    def topology(self) -> str:
        """Its place as HDFS's NetworkTopology writes it: ``/site/rack``, ``/default-rack``."""
        return "/" + "/".join([*([self.site] if self.site else []), self.rack or "default-rack"])

    def replica(self) -> dict[str, str]:
        """How a block location lists a replica on it (readers prefer their own site)."""
        return {"id": self.id, "url": self.client_url, "site": self.site, "rack": self.rack}

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "public_url": self.public_url, "capacity": self.capacity,
                "used": self.used, "remaining": self.remaining, "blocks": self.blocks,
                "last_seen": self.last_seen, "healthy": self.healthy, "root": self.root,
                "site": self.site, "rack": self.rack, "admin": self.admin,
                "maintenance_until": self.maintenance_until}


class Members:
    """The member list, shared by request threads and the healer (a lock guards the dict)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.settings = settings
        self.dead_after = settings.dead_after * settings.heartbeat
        self.fresh_within = settings.heartbeat * (1 + _FRESH_SLACK)
        self._dead_names: tuple[float, list[str]] = (float("-inf"), [])
        self._lock = threading.Lock()
        self._members: dict[str, Member] = {}
        self._alive: dict[str, bool] = {}
        self._primed = False
        now = time.monotonic()
        with store.read() as txn:
            for key, value in txn.scan("members"):
                data = json.loads(value)
                # grace window: a node known before the restart counts as alive until it is late
                self._members[key.decode()] = Member(
                    id=data["id"], url=data["url"], public_url=data.get("public_url", ""),
                    capacity=data.get("capacity", 0), used=data.get("used", 0),
                    remaining=data.get("remaining", 0), blocks=data.get("blocks", 0),
                    last_seen=data.get("last_seen", 0.0), seen_at=now, healthy=data.get("healthy", True),
                    root=data.get("root", "local"), site=data.get("site", ""), rack=data.get("rack", ""),
                    admin=data.get("admin", NORMAL), maintenance_until=data.get("maintenance_until", 0.0))

    def is_alive(self, member: Member, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) - member.seen_at <= self.dead_after

    def is_fresh(self, member: Member, now: float | None = None) -> bool:
        """Heard from within about a heartbeat: the node answered a moment ago."""
        return (now if now is not None else time.monotonic()) - member.seen_at <= self.fresh_within

    def freshest_first(self, members: list[Member]) -> list[Member]:
        """``members`` (order kept) with those silent for over a heartbeat, then those whose root
        is unhealthy, moved to the end: a hung node is not yet dead, but a reader sent to it waits
        until its timeout; an unhealthy one answers, with errors."""
        now = time.monotonic()
        # a draining node still serves reads, after every in-service replica
        return sorted(members, key=lambda member: (not self.is_fresh(member, now), not member.healthy,
                                                   member.admin != NORMAL))

    def dead_names(self) -> list[str]:
        """Id, URL and public URL of every member declared dead: what heartbeat answers and
        ``/liveness`` tell nodes and clients, so they cut transfers to them (recomputed at most
        four times a heartbeat: every heartbeat answer carries it)."""
        now = time.monotonic()
        computed_at, names = self._dead_names
        if now - computed_at >= self.settings.heartbeat / 4:
            names = sorted({name for member in self.all() if not self.is_alive(member, now)
                            for name in (member.id, member.url, member.client_url) if name})
            self._dead_names = (now, names)
        return names

    def get(self, node_id: str) -> Member | None:
        return self._members.get(node_id)

    def all(self) -> list[Member]:
        with self._lock:
            return list(self._members.values())

    def alive(self) -> list[Member]:
        now = time.monotonic()
        return [m for m in self.all() if self.is_alive(m, now)]

    def live_ids(self) -> set[str]:
        return {m.id for m in self.alive()}

    def writable(self) -> list[Member]:
        """Live nodes in service: the only ones that take new blocks and copies."""
        return [m for m in self.alive() if m.admin == NORMAL]

    def counted_ids(self) -> tuple[set[str], set[str]]:
        """(in-service live nodes, nodes in maintenance): whose copies count toward a block's
        replication. A node in maintenance counts even while down, until its window ends."""
        now = time.monotonic()
        members = self.all()
        return ({m.id for m in members if m.admin == NORMAL and self.is_alive(m, now)},
                {m.id for m in members if m.admin == MAINTENANCE})

    def set_admin(self, txn: Txn, node_id: str, admin: str, until: float = 0.0) -> Member:
        """Change a node's operator state (persisted in the same transaction)."""
        if admin not in ADMIN_STATES:
            raise IllegalArgument(f"Unknown data node state {admin[:40]!r}")
        with self._lock:
            member = self._members.get(node_id)
            if member is None:
                raise NotFound(f"No data node {node_id[:128]!r} (the ids /status shows)")
            member.admin, member.maintenance_until = admin, until
            if admin != DECOMMISSIONING:
                member.drain = {}
        txn.put("members", member.id.encode(), json.dumps(member.record()).encode())
        return member

    def heartbeat(self, txn: Txn, body: Any) -> tuple[Member, bool]:
        """Register or refresh a node from its heartbeat; answers (member, wants a block report)."""
        info = parse_heartbeat(body)
        now = time.monotonic()
        with self._lock:
            member = self._members.get(info["id"])
            if member is None:
                member = Member(id=info["id"], url=info["url"])
                self._members[member.id] = member
            member.url, member.public_url = info["url"], info["public_url"]
            member.capacity, member.used = info["capacity"], info["used"]
            member.remaining, member.blocks = info["remaining"], info["blocks"]
            member.last_seen, member.seen_at, member.landed = time.time(), now, 0
            member.healthy, member.root = info["healthy"], info["root"]
            member.site, member.rack = info["site"], info["rack"]
            wants_report = not member.reported and now - member.report_asked > _REPORT_RETRY * self.settings.heartbeat
            if wants_report:
                member.report_asked = now
        # rewritten on every heartbeat: its stats are what /status shows after a restart
        txn.put("members", member.id.encode(), json.dumps(member.record()).encode())
        return member, wants_report

    def mark_reported(self, node_id: str) -> None:
        member = self._members.get(node_id)
        if member is not None:
            member.reported = True

    def queue(self, node_id: str, command: dict[str, Any]) -> bool:
        with self._lock:
            member = self._members.get(node_id)
            if member is None:
                return False
            member.commands.append(command)
            return True

    def take_commands(self, member: Member) -> list[dict[str, Any]]:
        with self._lock:
            commands, member.commands = member.commands, []
            return commands

    def transitions(self) -> list[tuple[str, bool]]:
        """Nodes whose alive/dead state changed since the last call (the healer polls this), and
        nodes that joined since (alive): the first call only learns who is there."""
        now = time.monotonic()
        changed = []
        primed = self._primed
        for member in self.all():
            state = self.is_alive(member, now)
            if self._alive.get(member.id) != state:
                if member.id in self._alive or not state or primed:
                    changed.append((member.id, state))
                self._alive[member.id] = state
        self._primed = True
        return changed

    def status(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [dict(m.record(), alive=self.is_alive(m, now), reserved=m.reserved,
                     state=m.admin if m.admin != NORMAL else "alive" if self.is_alive(m, now) else "dead",
                     **({"decommission": dict(m.drain)} if m.admin == DECOMMISSIONING else {}))
                for m in self.all()]

    def totals(self) -> dict[str, int]:
        alive = self.alive()
        return {"capacity": sum(m.capacity for m in alive), "used": sum(m.used for m in alive),
                "remaining": sum(m.remaining for m in alive), "datanodes_alive": len(alive),
                "datanodes_dead": len(self._members) - len(alive)}


def parse_heartbeat(body: Any) -> dict[str, Any]:
    """Validate a heartbeat body; anything malformed is a 400, never a half-registered node."""
    if not isinstance(body, dict):
        raise IllegalArgument("Heartbeat body must be a JSON object")
    node_id = body.get("id")
    if not isinstance(node_id, str) or not 0 < len(node_id) <= 128 or not node_id.isprintable():
        raise IllegalArgument("Heartbeat needs a data node \"id\"")
    info: dict[str, Any] = {"id": node_id}
    for name in ("url", "public_url"):
        value = body.get(name) or ""
        if not isinstance(value, str) or (value or name == "url") and not is_http_url(value):
            raise IllegalArgument(f"Heartbeat field {name!r} must be an http(s) URL")
        info[name] = value.rstrip("/")
    for name in ("capacity", "used", "remaining", "blocks"):
        value = body.get(name, 0)
        # finite (the JSON reader refuses NaN and 1e400) and what a statvfs can report
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_INT64:
            raise IllegalArgument(f"Heartbeat field {name!r} must be a number between 0 and 2**63-1")
        info[name] = int(value)
    healthy = body.get("healthy", True)
    if not isinstance(healthy, bool):
        raise IllegalArgument("Heartbeat field 'healthy' must be true or false")
    info["healthy"] = healthy
    for name, default in (("root", "local"), ("site", ""), ("rack", "")):
        value = body.get(name, default)
        if not isinstance(value, str) or len(value) > 64 or not value.isprintable() or "/" in value:
            raise IllegalArgument(f"Heartbeat field {name!r} must be a name of at most 64 characters")
        info[name] = value
    return info
