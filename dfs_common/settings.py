"""The one configuration object, built from the environment in one place.

Nothing else in DFS reads ``os.environ``: servers call ``Settings.from_env(os.environ)`` once and
pass the result down; tests pass a plain dict. Each value is validated here and a bad one names
its variable. The seed's variables keep their names and meanings.
"""
from __future__ import annotations

import dataclasses
import socket
from typing import Any
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

MiB = 1024 * 1024
MAX_FILE_SIZE_LIMIT = 2**63 - 1  # a signed 64-bit st_size

NAME_NODE_CLASS = "name_node.NameNode"
DATA_NODE_CLASS = "data_node.DataNode"
DEFAULT_PORTS = {NAME_NODE_CLASS: 8180, DATA_NODE_CLASS: 8181}


class ConfigError(ValueError):
    """A ``DFS_*`` variable holds something unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    node_class: str = NAME_NODE_CLASS
    host: str = "0.0.0.0"
    port: int = 8180
    # name node
    db_path: str = "./data/name"
    db_map_size: int = 64 * 1024 * MiB
    # 4 MiB blocks: a FUSE read of a random 4 KiB page costs one block fetch of a few ms on a LAN,
    # while a 1 GiB file is still only 256 block-map entries and 256 pipelines of round trips.
    block_size: int = 4 * MiB
    max_block_size: int = 256 * MiB
    # 1 PiB: more than any one file of this design holds (a COMMIT body of real blocks caps a file
    # at a few hundred TiB), far below 2**63 so sizes, offsets and their sums stay signed 64-bit
    # (what st_size and every off_t carry). TRUNCATE and COMMIT refuse anything longer with a 400.
    max_file_size: int = 2**50
    replication: int = 3
    superuser: str = "root"
    supergroup: str = "supergroup"
    dead_after: float = 3.0  # heartbeats missed before a data node is declared dead
    # data node
    fs_root: str = "./data/blocks"
    namenode_url: str = "http://127.0.0.1:8180"
    advertise_host: str = ""
    public_url: str = ""
    heartbeat: float = 3.0
    # The scrubber re-reads every block at this pace, so a full pass over a disk takes its used
    # bytes / rate: 8 MiB/s is ~3 % of one HDD's sequential bandwidth (clients keep the rest) and
    # still re-verifies a full 1 TiB disk every ~36 h. 0 turns scrubbing off.
    scrub_rate: int = 8 * MiB
    # The shortest time between the starts of two passes, so a small disk is not re-read back to
    # back; every replica is re-verified within max(interval, used / rate). 0 turns scrubbing off.
    scrub_interval: float = 60.0
    block_report_interval: float = 600.0
    # both
    threads: int = 32
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        """Read every ``DFS_*`` variable; unset ones keep their defaults."""
        node_class = environ.get("DFS_NODE_CLASS", NAME_NODE_CLASS)
        if node_class not in DEFAULT_PORTS:
            raise ConfigError(f"DFS_NODE_CLASS must be {NAME_NODE_CLASS} or {DATA_NODE_CLASS}, not {node_class!r}")
        values: dict[str, Any] = {"node_class": node_class, "port": DEFAULT_PORTS[node_class]}
        for field in dataclasses.fields(cls):
            variable = "DFS_" + field.name.upper()
            if variable not in environ or field.name == "node_class":
                continue
            values[field.name] = _parse(variable, environ[variable], field.type)
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        if not 0 <= self.port < 65536:
            raise ConfigError(f"DFS_PORT must be a TCP port, not {self.port}")
        if not 1 <= self.replication <= 32:
            raise ConfigError(f"DFS_REPLICATION must be between 1 and 32, not {self.replication}")
        if not 4096 <= self.block_size <= self.max_block_size:
            raise ConfigError(f"DFS_BLOCK_SIZE must be between 4096 and DFS_MAX_BLOCK_SIZE, not {self.block_size}")
        if self.scrub_rate < 0:
            raise ConfigError(f"DFS_SCRUB_RATE must be bytes per second (0: no scrubbing), not {self.scrub_rate}")
        if not 0 < self.max_file_size <= MAX_FILE_SIZE_LIMIT:
            raise ConfigError(f"DFS_MAX_FILE_SIZE must be between 1 and 2**63-1 bytes, not {self.max_file_size}")
        if self.heartbeat <= 0:
            raise ConfigError(f"DFS_HEARTBEAT must be positive seconds, not {self.heartbeat}")
        for variable, url in (("DFS_NAMENODE_URL", self.namenode_url), ("DFS_PUBLIC_URL", self.public_url)):
            if url and urlparse(url).scheme not in ("http", "https"):
                raise ConfigError(f"{variable} must be an http(s) URL, not {url!r}")

    @property
    def is_name_node(self) -> bool:
        return self.node_class == NAME_NODE_CLASS

    @property
    def node_url(self) -> str:
        """Where other nodes reach this one: ``DFS_ADVERTISE_HOST`` (or this host's name) and the port."""
        host = self.advertise_host or (self.host if self.host not in ("0.0.0.0", "::", "") else socket.gethostname())
        return f"http://{host}:{self.port}"

    @property
    def client_url(self) -> str:
        """Where clients outside the cluster reach this node: ``DFS_PUBLIC_URL``, else ``node_url``."""
        return (self.public_url or self.node_url).rstrip("/")


def _parse(variable: str, raw: str, kind: object) -> object:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind == "int":
            return int(raw, 0)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number, not {raw!r}") from None
    return raw
