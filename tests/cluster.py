"""A real DFS cluster in processes on loopback: one name node and N data nodes, for tests and benchmarks.

Each node is ``python server.py`` with its own ``DFS_*`` environment (exactly how users start one),
its own temporary directory and log file, on an ephemeral loopback port. Nothing is shared with the
test process but HTTP, so a test can ``kill -9`` any node and restart it on the same port and root.

Interface (kept stable: the integration, FUSE and benchmark code use it)::

    from tests.cluster import Cluster

    with Cluster(base_dir, datanodes=3, env={"DFS_BLOCK_SIZE": "1048576"}) as cluster:
        cluster.namenode_url            # "http://127.0.0.1:<port>"
        cluster.namenode_port           # int
        cluster.namenode                # Node: .url .port .pid .root .log_path .kill() .stop() .start() .restart()
        cluster.datanodes               # list[Node]; a data node also has .node_id and .block_path(block_id)
        cluster.client(user=None)       # dfs_client.HttpNameNode on the name node (closed with the cluster)
        cluster.status()                # GET /status of the name node, parsed
        node.status()                   # GET /status of any node (a data node's signed as a node)
        cluster.alive_ids()             # ids of data nodes the name node calls alive
        cluster.wait_for(lambda: ..., timeout=30, message="...")  # poll until truthy, else TimeoutError
        cluster.wait_ready()            # every running node answers /ping_alive and is alive in /status
        cluster.add_datanode()          # start one more data node, waits until it is alive
        cluster.log_tails(lines=80)     # the last lines of every node's log (the pytest hook prints these)

``Node.kill()`` is SIGKILL of the node's whole process group (gunicorn master and worker: ``kill -9``
of the node), ``stop()`` is SIGTERM and a wait, ``restart()`` starts the same node again on the same
port and root (a data node keeps its ``node-id`` and blocks) and waits until it is ready.

pytest fixtures (tests/conftest.py): ``cluster`` (session-scoped, shared, tests use unique paths
from the ``unique_path`` fixture) and ``fresh_cluster`` (function-scoped, for destructive tests; a
test may ask for other shapes through ``make_cluster(datanodes=4, env={...})``).

Defaults chosen for tests: ``DFS_HEARTBEAT=0.5`` (a dead node is noticed within ~2 s),
``DFS_ADVERTISE_HOST=127.0.0.1``, ``DFS_PUBLIC_URL`` = the node's loopback URL.

Secure by default: every cluster gets ``DFS_SECRET`` and ``DFS_ADMIN_TOKEN`` (``SECRET`` and
``ADMIN_TOKEN``, one pair per test run), ``Cluster(..., secure=False)`` runs the insecure mode.
``cluster.client(user)`` authenticates by itself (the admin token for ``root``/None, else a token
of that user, created on first use: ``cluster.token_for(user)``); ``cluster.auth`` is the header
for hand-made requests, and ``web.get/put/post/delete/head/request`` are ``requests``' with the
admin token added when the caller gave no ``Authorization`` (an insecure cluster ignores it), a
node signature on ``/internal/`` calls and a signed URL for a data node's bare ``/blocks/<id>``.
``cluster.mount_env()`` is the environment a ``dfs.py`` mount needs (``DFS_TOKEN``).
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "server.py"
NAME_NODE_CLASS = "name_node.NameNode"
DATA_NODE_CLASS = "data_node.DataNode"

T = TypeVar("T")

# One secret and one admin token per test run: every secure cluster, mount and helper shares them.
SECRET = secrets.token_hex(32)
ADMIN_TOKEN = "test-admin-" + secrets.token_hex(24)
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def auth_headers(method: str, target: str, body: bytes | None = None,
              headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus what authenticates a hand-made request on a secure test cluster: the
    admin token, and for ``/internal/`` a node signature over ``target`` (a URL or path?query)
    and ``body`` — unless the caller set its own ``Authorization`` / ``X-DFS-Auth``."""
    from dfs_common.auth import HEADER, RequestSigner

    merged = dict(headers or {})
    names = {key.lower() for key in merged}
    if "authorization" not in names:
        merged.update(ADMIN_AUTH)
    path = target.split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1] if "://" in target else path
    if path.startswith("/internal/") and HEADER.lower() not in names:
        merged.update(RequestSigner(SECRET, "tests").headers(method, "http://x" + path, body=body or b""))
    return merged


def signed_target(method: str, target: str, headers: Mapping[str, str] | None = None) -> str:
    """``target`` (a URL or path?query) with a valid signature added when it is a data node's
    ``/blocks/<id>`` and carries none: what the name node would hand out for it (a write signs the
    request's ``X-DFS-Pipeline``). Tests of block-level behaviour stay as they were on a secure
    cluster; tests of the signatures themselves use ``requests`` directly."""
    from dfs_common.blocks import PIPELINE_HEADER
    from dfs_common.signed_urls import SIGNATURE, UrlSigner

    base, _, query = target.partition("?")
    path = "/" + base.split("://", 1)[1].split("/", 1)[1] if "://" in base else base
    if not path.startswith("/blocks/") or SIGNATURE in query:
        return target
    block_id = path[len("/blocks/"):].removesuffix("/digests")
    pipeline = next((v for k, v in (headers or {}).items() if k.lower() == PIPELINE_HEADER.lower()), "")
    signed = UrlSigner(SECRET).query(f"block:{block_id}", "write" if method.upper() == "PUT" else "read", pipeline)
    return f"{target}{'&' if query else '?'}{signed}"


def signed_webhdfs(url: str, method: str = "GET") -> str:
    """A data node's WebHDFS ``url`` with the signature a name node's 307 would carry for its
    path, op and parameters, for tests that build step two by hand."""
    from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

    from dfs_common.paths import normalize
    from dfs_common.signed_urls import UrlSigner

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    op = next((v for k, v in query if k.lower() == "op"), "").upper()
    path = normalize("/" + unquote(parts.path).removeprefix("/webhdfs/v1").lstrip("/"))
    return f"{url}&{urlencode(UrlSigner(SECRET).sign(f'path:{path}', op, query))}"


def send_raw(port: int, method: str, target: str, body: bytes | None = None,
             headers: Mapping[str, str] | None = None, timeout: float = 30.0,
             limit: int = 1 << 20) -> tuple[int, dict[str, str], bytes]:
    """One request to ``127.0.0.1:port``, ``target`` byte for byte (requests and urllib3 would
    normalise ``..`` and quoting away), authenticated as ``auth_headers`` does and a data node's
    bare block URL signed as ``signed_target`` does; the status, the headers and at most
    ``limit`` bytes of the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = auth_headers(method, target, body, headers)
        target = signed_target(method, target, all_headers)
        connection.putrequest(method, target, skip_accept_encoding=True)
        if body is not None:
            all_headers.setdefault("Content-Length", str(len(body)))
        for name, value in all_headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        content = response.read(limit) if method != "HEAD" else b""
        return response.status, dict(response.getheaders()), content
    finally:
        connection.close()


class _AuthedRequests:
    """``requests.get/put/post/delete/head/request`` with the admin token added when the call has
    no ``Authorization`` of its own: hand-made requests in tests stay one-liners on a secure
    cluster. Data nodes never see it (requests drops it when a redirect changes the port)."""

    def request(self, method: str, url: str, **options: Any) -> requests.Response:
        if options.get("json") is not None:  # signed bytes must be the bytes sent
            options["data"] = json.dumps(options.pop("json")).encode()
            options["headers"] = {"Content-Type": "application/json", **(options.get("headers") or {})}
        body = options.get("data")
        params = options.pop("params", None)
        if params:
            prepared = requests.Request(method, url, params=params).prepare()
            url = str(prepared.url)
        options["headers"] = auth_headers(method, url, body if isinstance(body, bytes) else None,
                                       options.get("headers"))
        return requests.request(method, signed_target(method, url, options["headers"]), **options)

    def get(self, url: str, **options: Any) -> requests.Response:
        return self.request("GET", url, **options)

    def head(self, url: str, **options: Any) -> requests.Response:
        options.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **options)

    def put(self, url: str, data: Any = None, **options: Any) -> requests.Response:
        return self.request("PUT", url, data=data, **options)

    def post(self, url: str, data: Any = None, **options: Any) -> requests.Response:
        return self.request("POST", url, data=data, **options)

    def delete(self, url: str, **options: Any) -> requests.Response:
        return self.request("DELETE", url, **options)


web = _AuthedRequests()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (bind port 0, release). Racy by nature: callers retry."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1,
             message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; exceptions count as "not yet".

    Raises TimeoutError naming ``message`` and the last exception seen, if any."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - a node restarting refuses connections
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}{detail}")
        time.sleep(interval)


class NodeStartError(RuntimeError):
    """A node process exited before it answered /ping_alive; its log tail is in the message."""


class Node:
    """One ``server.py`` process: a name node or a data node, restartable on the same port and root."""

    def __init__(self, kind: str, name: str, root: Path, log_path: Path, env: Mapping[str, str],
                 port: int | None = None) -> None:
        self.kind = kind
        self.name = name
        self.root = root
        self.log_path = log_path
        self.env = dict(env)
        self.port = port or free_port()
        self.fixed_port = port is not None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_mark = 0
        self._spawn_offset = 0
        self._remote_id: str | None = None

    # -- identity --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.env.get('DFS_TLS_CERT') else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> str | bool:
        """What ``requests`` verifies this node's certificate with (``DFS_TLS_CA``)."""
        return self.env.get("DFS_TLS_CA") or True

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def is_name_node(self) -> bool:
        return self.kind == NAME_NODE_CLASS

    @property
    def node_id(self) -> str | None:
        """A data node's id, from ``<root>/node-id`` (None before its first start); a node whose
        root is not a local folder (``DFS_FS_ROOT=s3://...``) is asked, once, over HTTP."""
        try:
            return (self.root / "node-id").read_text().strip() or None
        except FileNotFoundError:
            pass
        if self._remote_id is None and "://" in self.env.get("DFS_FS_ROOT", "") and self.running:
            try:
                self._remote_id = str(self.status(timeout=5)["id"])
            except (requests.RequestException, ValueError, KeyError):
                return None
        return self._remote_id

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        """``GET /status`` of this node, parsed: with the admin token on the name node, signed
        as a node on a data node (which answers only other nodes there)."""
        from dfs_common.auth import RequestSigner

        url = self.url + "/status"
        headers = ADMIN_AUTH if self.is_name_node or "DFS_SECRET" not in self.env \
            else RequestSigner(self.env["DFS_SECRET"], "tests").headers("GET", url, body=b"")
        response = requests.get(url, headers=headers, timeout=timeout, verify=self.verify)
        response.raise_for_status()
        return dict(response.json())

    def block_path(self, block_id: str) -> Path:
        """Where a local-root data node keeps the bytes of ``block_id``."""
        return self.root / "blocks" / block_id[-2:] / block_id

    def block_files(self) -> dict[str, Path]:
        """Every block file on this data node's root, by block id (sidecars and temp files skipped)."""
        found: dict[str, Path] = {}
        blocks = self.root / "blocks"
        if blocks.is_dir():
            for path in blocks.glob("*/*"):
                if path.is_file() and not path.name.startswith(".") and "." not in path.name:
                    found[path.name] = path
        return found

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.url} pid={self.pid}>"

    # -- process control ----------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DFS_")}
        env.update(self.env)
        env.update({"DFS_NODE_CLASS": self.kind, "DFS_HOST": "127.0.0.1", "DFS_PORT": str(self.port),
                    "DFS_ADVERTISE_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"})
        env.setdefault("DFS_PUBLIC_URL", self.url)
        if self.is_name_node:
            env.setdefault("DFS_DB_PATH", str(self.root))
        else:
            env.setdefault("DFS_FS_ROOT", str(self.root))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
        return env

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        """Start the process without waiting for it (see ``start``)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._spawn_offset = log.tell()
            log.write(f"\n==== {time.strftime('%H:%M:%S')} starting {self.name} on {self.url} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen([sys.executable, str(SERVER)], cwd=str(REPO), env=self.environment(),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait for /ping_alive (see ``finish_start``)."""
        self.spawn()
        self.finish_start(timeout)

    def finish_start(self, timeout: float = 60.0) -> None:
        """Wait for a spawned node to answer. A port taken meanwhile (the free-port race) is retried
        on a new port for a first start; a restart keeps its port and waits for it to become free."""
        for attempt in range(5):
            try:
                self.wait_alive(timeout)
                return
            except NodeStartError:
                if not self._port_was_taken() or attempt == 4:
                    raise
                if self.fixed_port:
                    time.sleep(1.0)
                else:
                    self.port = free_port()
                self.spawn()

    def _port_was_taken(self) -> bool:
        """gunicorn says so (at error level) while it retries the bind, and before it gives up."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._spawn_offset)
                since_spawn = log.read().decode(errors="replace")
        except (FileNotFoundError, AttributeError):
            return False
        return "Address already in use" in since_spawn or "Connection in use" in since_spawn

    def _listening(self) -> bool:
        """Our gunicorn holds the port (``ss`` names the socket's processes): until then, whoever
        answers on it is another process that took the port in the free-port race."""
        assert self.proc is not None
        found = subprocess.run(["ss", "-Hltnp", f"sport = :{self.port}"], capture_output=True, text=True,
                               timeout=10)
        return f"pid={self.proc.pid}," in found.stdout

    def wait_alive(self, timeout: float = 60.0) -> None:
        def alive() -> bool:
            if not self.running:
                raise NodeStartError(f"{self.name} exited with {self.proc.returncode if self.proc else None}:\n"
                                     + self.log_tail(40))
            try:
                if requests.get(self.url + "/ping_alive", timeout=2, verify=self.verify).status_code != 200:
                    return False
            except requests.RequestException:
                return False
            return self._listening()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if alive():  # NodeStartError propagates at once
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not answer /ping_alive within {timeout} s:\n" + self.log_tail(40))

    def kill(self) -> None:
        """``kill -9``: SIGKILL the node's process group (gunicorn master and worker), reap it."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def pause(self) -> None:
        """SIGSTOP the node: it keeps its connections and port but answers nothing (a hung node)."""
        if self.proc is not None:
            self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self._signal_group(signal.SIGCONT)

    def terminate(self) -> None:
        """Send SIGTERM (gunicorn's graceful stop) without waiting; ``stop`` waits."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            self._signal_group(signal.SIGCONT)  # a paused node handles the SIGTERM only once resumed
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # the worker may outlive a master that went first; the group takes both

    def restart(self, timeout: float = 60.0) -> None:
        """Stop (if running) and start again on the same port and root."""
        self.stop()
        self.fixed_port = True
        self.start(timeout)

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:  # not our group any more (pid reused): signal only our child
            if self.proc.poll() is None:
                self.proc.send_signal(sig)

    # -- logs --------------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60, since_mark: bool = False) -> str:
        text = self.log_text()
        if since_mark:
            text = text[self._log_mark:] if self._log_mark <= len(text) else text
        return "\n".join(text.splitlines()[-lines:])

    def mark_log(self) -> None:
        """Remember the log's current end, so a failure report shows only what came after."""
        self._log_mark = len(self.log_text())


class Cluster:
    """A name node and ``datanodes`` data nodes under ``base_dir`` (see the module docstring)."""

    def __init__(self, base_dir: str | os.PathLike[str], datanodes: int = 3, env: Mapping[str, str] | None = None,
                 heartbeat: float = 0.5, namenode_port: int | None = None,
                 datanode_env: Iterable[Mapping[str, str]] = (), secure: bool = True) -> None:
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.env: dict[str, str] = {"DFS_HEARTBEAT": str(heartbeat), "DFS_LOG_LEVEL": "info"}
        self.secure = secure
        if secure:
            self.env.update({"DFS_SECRET": SECRET, "DFS_ADMIN_TOKEN": ADMIN_TOKEN})
        self.env.update(env or {})
        self._tokens: dict[str, str] = {}
        self.namenode = Node(NAME_NODE_CLASS, "namenode", self.base_dir / "name", self.base_dir / "logs" / "namenode.log",
                             self.env, port=namenode_port)
        self.datanodes: list[Node] = []
        self._initial_datanodes = datanodes
        # per data node (by index) variables over ``env``: a node on S3, on another site...
        self.datanode_env = [dict(extra) for extra in datanode_env]
        self._clients: list[Any] = []
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def namenode_url(self) -> str:
        return self.namenode.url

    @property
    def namenode_port(self) -> int:
        return self.namenode.port

    def start(self, timeout: float = 90.0) -> Cluster:
        try:
            self.namenode.start(timeout)
            for _ in range(self._initial_datanodes):
                self._new_datanode()
            for node in self.datanodes:
                node.spawn()
            for node in self.datanodes:
                node.finish_start(timeout)
            self._started = True
            self.wait_ready(timeout)
        except BaseException:
            tails = self.log_tails(40)
            self.stop()
            sys.stderr.write(tails + "\n")
            raise
        return self

    def _new_datanode(self) -> Node:
        index = len(self.datanodes)
        env = dict(self.env, DFS_NAMENODE_URL=self.namenode_url)
        if index < len(self.datanode_env):
            env.update(self.datanode_env[index])
        node = Node(DATA_NODE_CLASS, f"datanode{index}", self.base_dir / f"data{index}",
                    self.base_dir / "logs" / f"datanode{index}.log", env)
        self.datanodes.append(node)
        return node

    def add_datanode(self, timeout: float = 60.0, env: Mapping[str, str] | None = None) -> Node:
        if env is not None:
            self.datanode_env += [{}] * (len(self.datanodes) - len(self.datanode_env)) + [dict(env)]
        node = self._new_datanode()
        node.start(timeout)
        self.wait_for(lambda: node.node_id in self.alive_ids(), timeout, message=f"{node.name} alive in /status")
        return node

    def stop(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing at teardown
                pass
        self._clients.clear()
        nodes = [*self.datanodes, self.namenode]
        for node in nodes:  # signal all first, then wait: the graceful stops overlap
            node.terminate()
        for node in nodes:
            node.stop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- looking at it -----------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The administrator's bearer token (acts as the superuser ``root``); None if insecure."""
        return ADMIN_TOKEN if self.secure else None

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate a hand-made request as the administrator."""
        return dict(ADMIN_AUTH) if self.secure else {}

    def token_for(self, user: str | None, admin: bool = False) -> str | None:
        """A bearer token of ``user`` (the admin token for None or ``root``), created on first use."""
        if not self.secure:
            return None
        if user in (None, "root"):
            return ADMIN_TOKEN
        if user not in self._tokens:
            answer = requests.post(self.namenode_url + "/users", json={"name": user, "admin": admin},
                                   headers=ADMIN_AUTH, timeout=30, verify=self.namenode.verify)
            if answer.status_code == 403 and "exists" in answer.text:  # made before a restart of ours
                answer = requests.post(f"{self.namenode_url}/users/{user}/token", headers=ADMIN_AUTH, timeout=30,
                                       verify=self.namenode.verify)
            answer.raise_for_status()
            self._tokens[user] = answer.json()["token"]
        return self._tokens[user]

    def mount_env(self, user: str | None = None) -> dict[str, str]:
        """``os.environ`` plus what a ``dfs.py`` mount of this cluster needs (``DFS_TOKEN``)."""
        env = {k: v for k, v in os.environ.items() if k != "DFS_TOKEN"}
        token = self.token_for(user)
        if token:
            env["DFS_TOKEN"] = token
        return env

    def client(self, user: str | None = None) -> Any:
        """A fresh ``HttpNameNode`` on this cluster's name node, closed when the cluster stops;
        on a secure cluster it carries ``user``'s token (see ``token_for``)."""
        from dfs_client import HttpNameNode

        client = HttpNameNode(self.namenode_url, user=user, token=self.token_for(user))
        self._clients.append(client)
        return client

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        response = requests.get(self.namenode_url + "/status", headers=self.auth, timeout=timeout,
                                verify=self.namenode.verify)
        response.raise_for_status()
        return dict(response.json())

    def datanode_states(self) -> dict[str, str]:
        """``{node id: "alive" | "dead"}`` as the name node sees it."""
        return {d["id"]: d["state"] for d in self.status()["datanodes"]}

    def alive_ids(self) -> set[str]:
        return {node_id for node_id, state in self.datanode_states().items() if state == "alive"}

    def datanode_by_id(self, node_id: str) -> Node:
        for node in self.datanodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    def running_datanodes(self) -> list[Node]:
        return [node for node in self.datanodes if node.running]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1,
                 message: str = "condition") -> T:
        return wait_for(predicate, timeout, interval, message)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Every running node answers /ping_alive and every running data node is alive in /status."""
        for node in [self.namenode, *self.running_datanodes()]:
            node.wait_alive(timeout)

        def all_alive() -> bool:
            wanted = {node.node_id for node in self.running_datanodes()}
            return None not in wanted and wanted <= self.alive_ids()

        self.wait_for(all_alive, timeout, message="every running data node alive in the name node's /status")

    # -- logs --------------------------------------------------------------------------------

    def nodes(self) -> Iterable[Node]:
        return [self.namenode, *self.datanodes]

    def mark_logs(self) -> None:
        for node in self.nodes():
            node.mark_log()

    def log_tails(self, lines: int = 80, since_mark: bool = False) -> str:
        parts = []
        for node in self.nodes():
            state = "running" if node.running else f"exited {node.proc.returncode if node.proc else '-'}"
            tail = node.log_tail(lines, since_mark).strip("\n") or "(nothing logged during the test)"
            parts.append(f"---- {node.name} {node.url} ({state}) {node.log_path} ----\n" + tail)
        return "\n".join(parts)


@contextmanager
def tmpfs_cluster(base: Path, size: int, env: Mapping[str, str], datanodes: int = 4,
                  heartbeat: float = 0.5) -> Iterator[Cluster]:
    """A started cluster whose data nodes each have a tmpfs root of ``size`` bytes of their own,
    so a test can really fill one disk (``fill_disk``) without touching the others."""
    roots: list[Path] = []
    try:
        for index in range(datanodes):
            root = base / f"data{index}"
            root.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root)], check=True)
            roots.append(root)
        cluster = Cluster(base, datanodes=datanodes, env=dict(env), heartbeat=heartbeat).start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        for root in roots:
            subprocess.run(["umount", "-l", str(root)], check=False)


def fill_disk(ballast: Path) -> None:
    """Write zeros to ``ballast`` until its filesystem has no room left (ENOSPC)."""
    try:
        with open(ballast, "wb") as file:
            while True:
                file.write(bytes(1 << 20))
    except OSError:
        pass  # the disk is full, as wanted


def flip_byte(path: Path, where: int) -> None:
    """Flip one bit of the byte at ``where``, in place: no new page needed, even on a full disk."""
    with open(path, "r+b") as file:
        file.seek(where)
        byte = file.read(1)
        file.seek(where)
        file.write(bytes([byte[0] ^ 0x40]))


def remote_exception(response: requests.Response) -> dict[str, Any]:
    """The RemoteException object of an error answer; AssertionError if the body is not one."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        raise AssertionError(f"{response.status_code} body is not JSON: {response.content[:300]!r}") from None
    assert isinstance(body, dict) and isinstance(body.get("RemoteException"), dict), body
    remote = body["RemoteException"]
    for key in ("exception", "javaClassName", "message"):
        assert isinstance(remote.get(key), str) and remote[key], (key, remote)
    return dict(remote)


def _main(argv: list[str]) -> int:
    """``python -m tests.cluster [DIR] [N]``: run a cluster until Ctrl-C (handy by hand)."""
    import tempfile

    base = argv[0] if argv else tempfile.mkdtemp(prefix="dfs-cluster-")
    count = int(argv[1]) if len(argv) > 1 else 3
    with Cluster(base, datanodes=count) as cluster:
        print(f"name node {cluster.namenode_url}; data nodes "
              + ", ".join(n.url for n in cluster.datanodes) + f"; files under {base}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
