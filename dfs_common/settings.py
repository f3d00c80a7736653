"""The one configuration object, built from the environment in one place.

Nothing else in DFS reads ``os.environ``: servers call ``Settings.from_env(os.environ)`` once and
pass the result down; tests pass a plain dict. Each value is validated here and a bad one names
its variable. The seed's variables keep their names and meanings.
"""
from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

MiB = 1024 * 1024
MAX_FILE_SIZE_LIMIT = 2**63 - 1  # a signed 64-bit st_size
MIN_SECRET = 16  # characters of DFS_SECRET and DFS_ADMIN_TOKEN: 16 hex digits are 64 bits, the least to resist guessing

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
    # operations (name node): safe mode after a start lasts until this share of the committed
    # blocks has a replica on a data node that reported since (HDFS's 0.999); 0 skips it.
    safemode_threshold: float = 0.999
    # the balancer: nodes' use may differ from the cluster's mean by this many percentage points,
    # and it moves at most this many bytes per second (a tenth of one disk's bandwidth)
    balancer_threshold: float = 10.0
    balancer_rate: int = 16 * MiB
    # a node in maintenance is not healed around for this long (a planned reboot, a disk swap)
    maintenance_minutes: float = 30.0
    # data node
    fs_root: str = "./data/blocks"
    namenode_url: str = "http://127.0.0.1:8180"
    advertise_host: str = ""
    public_url: str = ""
    heartbeat: float = 3.0
    capacity: int = 0  # bytes a data node offers at most (0: its whole disk)
    # The scrubber re-reads every block at this pace, so a full pass over a disk takes its used
    # bytes / rate: 8 MiB/s is ~3 % of one HDD's sequential bandwidth (clients keep the rest) and
    # still re-verifies a full 1 TiB disk every ~36 h. 0 turns scrubbing off.
    scrub_rate: int = 8 * MiB
    # The shortest time between the starts of two passes, so a small disk is not re-read back to
    # back; every replica is re-verified within max(interval, used / rate). 0 turns scrubbing off.
    scrub_interval: float = 60.0
    block_report_interval: float = 600.0
    # security (see dfs_common/auth.py): the cluster secret every node shares; without it the
    # cluster runs in the insecure development mode where ``user.name`` is believed
    secret: str = ""
    admin_token: str = ""  # name node: the first administrator's bearer token (acts as the superuser)
    token: str = ""  # clients (dfs.py): the bearer token a mount or command line sends
    delegation_ttl: float = 86400.0  # a WebHDFS delegation token lives this long unless renewed
    # failed token checks from one address within 10 s before it is refused for the rest of them
    auth_failures: int = 20
    url_ttl: float = 3600.0  # name node: seconds a signed data-node URL stays valid
    audit_log: str = ""  # name node: the JSON-lines audit log file (unset: none)
    # TLS (gunicorn's options): a certificate and key make every node serve https only
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""  # clients and nodes verify peers against this CA bundle (else the system's)
    # storage roots (data_node/roots): an S3 root reports this many bytes of capacity (0: unbounded);
    # a Lustre root sets this stripe count / stripe size (bytes) on its blocks directory (0: leave
    # the filesystem's default), with ``lfs setstripe`` when that tool is installed.
    s3_quota: int = 1 << 40
    lustre_stripe_count: int = 0
    lustre_stripe_size: int = 0
    # where a data node stands (heartbeats carry it; placement spreads replicas over sites, then
    # racks): free-form names, "" for the default site / rack
    site: str = ""
    rack: str = ""
    # a client's (the mount's) site: its reads prefer replicas on data nodes of that site
    client_site: str = ""
    # both: the durability contract (README "Durability"). batch: an acknowledged change survives
    # kill -9 of any node (it is in the page cache) and a power loss loses at most the last
    # ``sync_interval`` of namespace changes (never LMDB's consistency); data nodes fsync a block
    # only when its writer asks (fsync(2), hsync). always: every block and every change is on disk
    # before it is acknowledged.
    sync: str = "batch"
    # 50 ms: ext4's journal commits every 5 s; this is 100x tighter and costs one fsync per
    # interval of a busy name node instead of one per change.
    sync_interval: float = 0.05
    # LAN discovery (dfs_common/discovery.py): the name node announces _dfs._tcp by mDNS; a data
    # node with this set and no DFS_NAMENODE_URL finds it (and checks it knows the secret)
    discover: bool = False
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
        if values.get("discover") and "DFS_NAMENODE_URL" not in environ:
            values["namenode_url"] = ""  # to be discovered on the LAN before the node starts
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
        if not 0 <= self.safemode_threshold <= 1:
            raise ConfigError(f"DFS_SAFEMODE_THRESHOLD must be a fraction between 0 and 1, not {self.safemode_threshold}")
        if not 0 < self.balancer_threshold < 100 or self.balancer_rate <= 0:
            raise ConfigError("DFS_BALANCER_THRESHOLD must be percentage points in (0, 100) and "
                              "DFS_BALANCER_RATE positive bytes per second")
        if self.maintenance_minutes <= 0:
            raise ConfigError(f"DFS_MAINTENANCE_MINUTES must be positive, not {self.maintenance_minutes}")
        if self.s3_quota < 0:
            raise ConfigError(f"DFS_S3_QUOTA must be bytes (0: unbounded), not {self.s3_quota}")
        if self.lustre_stripe_count < -1 or self.lustre_stripe_size < 0:
            raise ConfigError("DFS_LUSTRE_STRIPE_COUNT must be -1 (all OSTs), 0 (default) or a count and "
                              "DFS_LUSTRE_STRIPE_SIZE bytes (0: default), not "
                              f"{self.lustre_stripe_count} / {self.lustre_stripe_size}")
        for variable, name in (("DFS_SITE", self.site), ("DFS_RACK", self.rack), ("DFS_CLIENT_SITE", self.client_site)):
            if len(name) > 64 or not name.isprintable() or "/" in name:
                raise ConfigError(f"{variable} must be a name of at most 64 printable characters "
                                  f"without '/', not {name!r}")
        if self.sync not in ("batch", "always"):
            raise ConfigError(f"DFS_SYNC must be batch or always, not {self.sync!r}")
        if not 0 < self.sync_interval <= 3600:
            raise ConfigError(f"DFS_SYNC_INTERVAL must be seconds between 0 and 3600, not {self.sync_interval}")
        if self.heartbeat <= 0:
            raise ConfigError(f"DFS_HEARTBEAT must be positive seconds, not {self.heartbeat}")
        if self.secret and len(self.secret) < MIN_SECRET:
            raise ConfigError(f"DFS_SECRET must be at least {MIN_SECRET} characters (e.g. `openssl rand -hex 32`)")
        if self.admin_token and not self.secret:
            raise ConfigError("DFS_ADMIN_TOKEN needs DFS_SECRET: without a secret the cluster has no tokens")
        if self.admin_token and len(self.admin_token) < MIN_SECRET:
            raise ConfigError(f"DFS_ADMIN_TOKEN must be at least {MIN_SECRET} characters")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("DFS_TLS_CERT and DFS_TLS_KEY go together: a certificate and its private key")
        for variable, path in (("DFS_TLS_CERT", self.tls_cert), ("DFS_TLS_KEY", self.tls_key), ("DFS_TLS_CA", self.tls_ca)):
            if path and not os.path.isfile(path):
                raise ConfigError(f"{variable} must name a readable PEM file, not {path!r}")
        if self.url_ttl <= 0:
            raise ConfigError(f"DFS_URL_TTL must be positive seconds, not {self.url_ttl}")
        if self.auth_failures < 1:
            raise ConfigError(f"DFS_AUTH_FAILURES must be at least 1, not {self.auth_failures}")
        if self.delegation_ttl <= 0:
            raise ConfigError(f"DFS_DELEGATION_TTL must be positive seconds, not {self.delegation_ttl}")
        for variable, url in (("DFS_NAMENODE_URL", self.namenode_url), ("DFS_PUBLIC_URL", self.public_url)):
            if url and urlparse(url).scheme not in ("http", "https"):
                raise ConfigError(f"{variable} must be an http(s) URL, not {url!r}")

    @property
    def secure(self) -> bool:
        """Every request authenticated (``DFS_SECRET`` set), else the insecure development mode."""
        return bool(self.secret)

    @property
    def is_name_node(self) -> bool:
        return self.node_class == NAME_NODE_CLASS

    @property
    def node_url(self) -> str:
        """Where other nodes reach this one: ``DFS_ADVERTISE_HOST`` (or this host's name) and the port."""
        host = self.advertise_host or (self.host if self.host not in ("0.0.0.0", "::", "") else socket.gethostname())
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"

    @property
    def client_url(self) -> str:
        """Where clients outside the cluster reach this node: ``DFS_PUBLIC_URL``, else ``node_url``."""
        return (self.public_url or self.node_url).rstrip("/")


def _parse(variable: str, raw: str, kind: object) -> object:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind == "bool":
        if raw.strip().lower() not in ("0", "1", "true", "false", "yes", "no", ""):
            raise ConfigError(f"{variable} must be 1 or 0, not {raw!r}")
        return raw.strip().lower() in ("1", "true", "yes")
    try:
        if kind == "int":
            return int(raw, 0)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number, not {raw!r}") from None
    return raw


@dataclass(frozen=True)
class ClientSettings:
    """What the ``dfs`` command line reads: ``DFS_NAMENODE_URL``, ``DFS_USER`` (the user to act
    as; default the login name), ``DFS_TOKEN`` (a secured cluster's bearer token) and ``DFS_CONFIG``
    (a TOML file with ``namenode``, ``user`` and ``token`` keys; default
    ``$XDG_CONFIG_HOME/dfs/config.toml`` or ``~/.config/dfs/config.toml``) and ``DFS_TLS_CA``
    (the CA bundle of an https cluster; default the system's) and ``DFS_CLIENT_SITE`` (the site
    reads prefer replicas in)."""

    namenode_url: str | None = None
    user: str | None = None
    config_file: str = ""
    token: str | None = None  # DFS_TOKEN: the bearer token of a cluster with DFS_SECRET
    tls_ca: str | None = None  # DFS_TLS_CA: the CA bundle an https cluster is verified with
    site: str = ""  # DFS_CLIENT_SITE: reads prefer replicas on data nodes of this site

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ClientSettings":
        url = environ.get("DFS_NAMENODE_URL") or None
        if url and "://" in url and urlparse(url).scheme not in ("http", "https"):
            raise ConfigError(f"DFS_NAMENODE_URL must be an http(s) URL, not {url!r}")
        config_home = environ.get("XDG_CONFIG_HOME") or (environ.get("HOME", "") + "/.config")
        return cls(url, environ.get("DFS_USER") or None,
                   environ.get("DFS_CONFIG") or f"{config_home}/dfs/config.toml",
                   environ.get("DFS_TOKEN") or None, environ.get("DFS_TLS_CA") or None,
                   environ.get("DFS_CLIENT_SITE", ""))
