"""``dfs.py MOUNT_POINT HOST [PORT]``: check, mount, and return once the mount answers.

The parent checks what it can before anything irreversible (``/dev/fuse``, the mount point, the name
node), forks, and waits on a pipe: the child writes one line when the kernel's ``INIT`` reached our
filesystem (the mount is live) or an error line when mounting failed. So ``dfs.py … && ls MNT`` never
races the mount, and every failure is one line on stderr with a non-zero exit.

Mount options (``-o``, a comma list) go to libfuse unchanged; ``attr_timeout``/``entry_timeout`` also
bound the mount's own attribute cache. Always added: ``default_permissions`` (the kernel enforces mode
bits, sticky directories and chown rules), ``use_ino`` (inode numbers are the name node's fileIds),
``max_read`` = 1 MiB, ``fsname``/``subtype``. Not ``auto_cache``: libfuse would decide from
attributes up to ``attr_timeout`` old; each open decides itself instead (``coherence.py``).
``cache_size=SIZE`` (bytes, or with a K/M/G suffix; default ``default_cache_size()``) is ours alone:
the verified blocks the mount keeps for all its files (``dfs_client.cache``); ``0`` keeps none
beyond each open file's own. ``leases=0`` (also ours): create every file with a request of its own,
never blind under a directory lease (``leases.py``). ``closebehind=0`` (ours): every ``close(2)``
waits for its file to be stored and committed, also a small file created blind (by default, it
returns at once and the file is stored with the others closed around it, ``leases.py``).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfs_client.api import NameNodeAPI

DEFAULT_PORT = 8180
DEFAULT_TIMEOUT = 1.0
MAX_REQUEST = 1024 * 1024
MiB = 1024 * 1024
# 1 GiB, or an eighth of the machine's memory if that is less: room for a working set of big files
# (random reads of a file that fits cost no fetch) while the mount's memory stays bounded by it.
MAX_DEFAULT_CACHE = 1024 * MiB
# The least the shared cache holds: read-ahead of a sequential reader (4 blocks of 4 MiB) plus the
# blocks being read must fit, or read-ahead would evict what it fetched before it is read.
MIN_CACHE = 64 * MiB
_UNITS = {"": 1, "K": 1024, "M": MiB, "G": 1024 * MiB}


class UsageError(Exception):
    """A one-line reason the mount cannot happen; printed as ``dfs: <reason>``."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dfs.py", description="Mount a DFS cluster as a POSIX directory (unmount: fusermount -u MOUNT_POINT).")
    parser.add_argument("mount_point")
    parser.add_argument("host", nargs="?", help="name node host (or http://host:port); omit with --discover")
    parser.add_argument("port", nargs="?", type=int, default=None, help=f"name node port (default {DEFAULT_PORT})")
    parser.add_argument("--discover", action="store_true",
                        help="find the name node on the LAN by mDNS (with DFS_SECRET set: only one that proves it)")
    parser.add_argument("-f", "--foreground", action="store_true", help="stay in the foreground")
    parser.add_argument("-o", dest="options", action="append", default=[], metavar="OPT[,OPT…]",
                        help="mount options passed to FUSE (allow_other, ro, attr_timeout=S, entry_timeout=S, …)")
    parser.add_argument("--read-only", action="store_true", help="mount read-only")
    parser.add_argument("--mkfs", action="store_true", help="erase the whole cluster before mounting")
    parser.add_argument("--yes", action="store_true", help="do not ask before --mkfs")
    parser.add_argument("--log", metavar="FILE", help="where the daemon logs (default: nowhere once mounted)")
    parser.add_argument("--debug", action="store_true", help="log every FUSE request (implies --foreground)")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="keep trying to reach the name node this long before giving up (as NFS's retry=; "
                             "default: fail at once)")
    parser.add_argument("--token", help="bearer token of a cluster with DFS_SECRET (default: $DFS_TOKEN; "
                                        "the environment keeps it out of `ps`)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--key-file", metavar="FILE",
                        help="encrypt on this machine with the key in FILE (python -m dfs_client.encryption new-key FILE)")
    secret.add_argument("--passphrase-file", metavar="FILE", help="encrypt with a key derived from FILE's first line")
    secret.add_argument("--passphrase", action="store_true", help="encrypt with a key derived from a passphrase asked for")
    parser.add_argument("--encrypt-under", metavar="PATH", default="/",
                        help="with a key: encrypt the files under PATH only (default: every file)")
    return parser.parse_args(argv)


def client_settings() -> Any:
    """``DFS_TOKEN``, ``DFS_SECRET``, ``DFS_TLS_CA`` and ``DFS_CLIENT_SITE`` from the environment,
    through the one configuration object."""
    from dfs_common.settings import ConfigError, Settings
    try:
        return Settings.from_env({k: v for k, v in os.environ.items() if k in ("DFS_TOKEN", "DFS_SECRET", "DFS_TLS_CA", "DFS_CLIENT_SITE")})
    except ConfigError as error:
        raise UsageError(str(error)) from None


def discovered_url(token: str | None) -> str:
    """The name node announced on the LAN. A token is only sent to one that proved the cluster
    secret: anyone can announce ``_dfs._tcp``."""
    from dfs_common import discovery
    secret = client_settings().secret
    if token and not secret:
        raise UsageError("--discover with a token needs DFS_SECRET, to check the name node before sending it "
                         "the token; or name the name node")
    try:
        return discovery.discover(secret, give_up=30.0)
    except LookupError as error:
        raise UsageError(str(error)) from None


def content_key(args: argparse.Namespace) -> Any:
    """The key of ``--key-file``/``--passphrase-file``/``--passphrase`` (None without one); it
    stays in this process: the cluster only ever sees ciphertext."""
    from dfs_client.encryption import ContentKey
    from dfs_common.errors import IllegalArgument
    try:
        if args.key_file:
            return ContentKey.from_file(args.key_file)
        if args.passphrase_file:
            try:
                with open(args.passphrase_file, encoding="utf-8") as handle:
                    line = handle.readline().rstrip("\r\n")
            except OSError as error:
                raise UsageError(f"cannot read {args.passphrase_file}: {error.strerror}") from None
            return ContentKey.from_passphrase(line)
        if args.passphrase:
            import getpass
            return ContentKey.from_passphrase(getpass.getpass("DFS passphrase: "))
    except IllegalArgument as error:
        raise UsageError(error.message) from None
    return None


def name_node_url(host: str, port: int | None) -> str:
    if "://" in host:
        return host.rstrip("/") if port is None else f"{host.rstrip('/')}:{port}"
    if ":" in host and port is None and host.count(":") == 1:
        return f"http://{host}"
    return f"http://{host}:{port or DEFAULT_PORT}"


def parse_options(raw: list[str]) -> dict[str, Any]:
    """``["allow_other,attr_timeout=2", "ro"]`` → ``{"allow_other": True, "attr_timeout": "2", "ro": True}``."""
    options: dict[str, Any] = {}
    for group in raw:
        for item in group.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            options[key] = value if sep else True
    return options


def timeout_option(options: dict[str, Any], key: str) -> float:
    value = options.get(key, DEFAULT_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"-o {key} must be seconds, not {value!r}") from None
    if seconds < 0:
        raise UsageError(f"-o {key} must not be negative")
    return seconds


def default_cache_size() -> int:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return MAX_DEFAULT_CACHE
    return max(MIN_CACHE, min(MAX_DEFAULT_CACHE, memory // 8))


def cache_size_option(options: dict[str, Any]) -> int:
    """``-o cache_size=SIZE`` in bytes (taken out of ``options``: libfuse does not know it)."""
    value = options.pop("cache_size", None)
    if value is None:
        return default_cache_size()
    text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
    try:
        size = int(float(text[:len(text) - len(unit)]) * _UNITS[unit])
    except ValueError:
        raise UsageError(f"-o cache_size must be bytes (or with K, M, G), not {value!r}") from None
    if size < 0:
        raise UsageError("-o cache_size must not be negative")
    return 0 if size == 0 else max(size, MIN_CACHE)


def check_device() -> None:
    if not os.path.exists("/dev/fuse"):
        raise UsageError("/dev/fuse is missing (load the fuse module, or run the container with --device /dev/fuse)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise UsageError("/dev/fuse is not readable and writable by this user")


def check_mount_point(path: str) -> str:
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"mount point {path} does not exist") from None
    except OSError as error:  # e.g. a dead FUSE mount: ENOTCONN
        raise UsageError(f"mount point {path} is unusable: {error.strerror} (fusermount -u {path}?)") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"mount point {path} is not a directory")
    if os.path.ismount(path):
        raise UsageError(f"mount point {path} is busy: something is already mounted there")
    if os.listdir(path):
        raise UsageError(f"mount point {path} is busy: the directory is not empty")
    return path


def fuse_options(options: dict[str, Any], url: str, read_only: bool) -> dict[str, Any]:
    """What we hand libfuse: the user's options plus the ones correctness and speed depend on."""
    from .binding import LIBFUSE_MAJOR
    final: dict[str, Any] = {
        "fsname": url.split("://", 1)[-1], "subtype": "dfs",
        "default_permissions": True, "use_ino": True,
        "attr_timeout": DEFAULT_TIMEOUT, "entry_timeout": DEFAULT_TIMEOUT, "negative_timeout": 0,
    }
    if LIBFUSE_MAJOR == 3:
        final["max_read"] = MAX_REQUEST
    else:  # libfuse 2 cannot go past 128 KiB; without big_writes it would write in 4 KiB pieces
        final.update(big_writes=True, max_write=131072, max_read=131072)
    final.update(options)
    if read_only:
        final["ro"] = True
    return final


def confirm_mkfs(url: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    try:
        answer = input(f"erase everything on {url}? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except UsageError as error:
        print(f"dfs: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - a user gets one line; --debug shows the traceback
        if args.debug:
            raise
        print(f"dfs: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


def reachable(client: NameNodeAPI, wait: float) -> bool:
    """Whether the name node answers, asking every half second for up to ``wait`` seconds: a mount
    started at boot, or beside a name node that is restarting, need not race it."""
    deadline = time.monotonic() + max(0.0, wait)
    while not client.ping_alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


def run(args: argparse.Namespace) -> int:
    token = args.token or client_settings().token
    if args.discover == bool(args.host):
        raise UsageError("name the name node (HOST [PORT]) or give --discover, not both or neither")
    url = discovered_url(token) if args.discover else name_node_url(args.host, args.port)
    # The caller's directory: the daemon's libfuse moves to / before the log is opened for stdio.
    log_file = os.path.abspath(args.log) if args.log else None
    check_device()
    mount_point = check_mount_point(args.mount_point)
    from dfs_client import HttpNameNode, Transport
    options = parse_options(args.options)
    read_only = args.read_only or bool(options.get("ro"))
    attr_timeout = min(timeout_option(options, "attr_timeout"), timeout_option(options, "entry_timeout"))
    cache_size = cache_size_option(options)
    leases = options.pop("leases", "1") not in ("0", "no", "false")  # ours alone, like cache_size
    close_behind = options.pop("closebehind", "1") not in ("0", "no", "false")
    key = content_key(args)
    # Insecure mode: the superuser, each entry's owner the caller (see filesystem). With DFS_SECRET the
    # token's user, whom the name node checks every operation for.
    settings = client_settings()
    client = HttpNameNode(url, user="root", token=token, key=key, encrypt_under=args.encrypt_under,
                          transport=Transport(ca_bundle=settings.tls_ca) if settings.tls_ca else None,
                          site=settings.client_site)
    if cache_size:
        from dfs_client.cache import BlockCache
        client.block_cache = BlockCache(cache_size)
    if not reachable(client, args.wait):
        raise UsageError(f"cannot reach the name node at {url}")
    if client.token:
        try:
            client.whoami()
        except PermissionError as error:
            raise UsageError(f"the name node at {url} refused the token: {error}") from None
    if args.mkfs:
        if not confirm_mkfs(url, args.yes):
            raise UsageError("not erased; nothing mounted")
        client.mkfs()
    foreground = args.foreground or args.debug
    if foreground:
        _configure_logging(log_file, args.debug)
        def ready() -> None:
            threading.Thread(target=raise_read_ahead, args=(mount_point,), daemon=True).start()
        return serve(client, mount_point, fuse_options(options, url, read_only), attr_timeout, read_only,
                     ready=ready, debug=args.debug, leases=leases, close_behind=close_behind)
    return daemonize(client, mount_point, fuse_options(options, url, read_only), attr_timeout, read_only,
                     log_file=log_file, leases=leases, close_behind=close_behind)


def serve(client: NameNodeAPI, mount_point: str, options: dict[str, Any], attr_timeout: float, read_only: bool,
          *, ready: Any, debug: bool = False, leases: bool = True, close_behind: bool = True) -> int:
    """Mount and answer requests until unmounted (``fusermount -u``); returns the exit status.
    ``leases``: create files blind in directories this mount made (``leases.py``), and with
    ``close_behind`` close the small ones without waiting for them to be stored."""
    from dfs_client import HttpNameNode

    from .binding import DFSFuse
    from .filesystem import FileSystem
    from .leases import MountLeases
    from .operations import DFSOperations

    blind = leases and not read_only and isinstance(client, HttpNameNode) and client.encryption is None
    fs = FileSystem(client, attr_timeout=attr_timeout, read_only=read_only,
                    leases=MountLeases(client, close_behind=close_behind) if blind else None)
    options = dict(options)
    debug = bool(options.pop("debug", False)) or debug
    try:
        DFSFuse(DFSOperations(fs, on_ready=ready), mount_point, foreground=True, nothreads=False,
                debug=debug, **options)
    except RuntimeError as error:
        raise UsageError(f"mounting {mount_point} failed (libfuse said {error})") from None
    return 0


def daemonize(client: NameNodeAPI, mount_point: str, options: dict[str, Any], attr_timeout: float, read_only: bool,
              *, log_file: str | None, leases: bool = True, close_behind: bool = True) -> int:
    """Fork; the parent returns 0 once the child's mount is live, or 1 with the child's reason."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.readline().decode("utf-8", "replace").strip()
        if message == "ready":
            return 0
        _, status = os.waitpid(pid, 0)
        reason = message or f"the mount process exited with status {os.waitstatus_to_exitcode(status)}"
        raise UsageError(reason)

    # child
    os.close(read_end)
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _configure_logging(log_file, False)
    reported = False

    def ready() -> None:
        nonlocal reported
        if reported:
            return
        reported = True
        threading.Thread(target=raise_read_ahead, args=(mount_point,), daemon=True).start()
        os.write(write_end, b"ready\n")
        os.close(write_end)
        _detach_stdio(log_file)

    code = 1
    try:
        code = serve(client, mount_point, options, attr_timeout, read_only, ready=ready, leases=leases,
                     close_behind=close_behind)
    except UsageError as error:
        if not reported:
            os.write(write_end, f"{error}\n".encode())
    except BaseException as error:  # noqa: BLE001 - the daemon must say why it died, in one line
        if not reported:
            os.write(write_end, f"mount failed: {error!r}\n".encode())
    os._exit(code)


def raise_read_ahead(mount_point: str) -> None:
    """Let the kernel read ahead 1 MiB (its default is 128 KiB), so sequential reads arrive as
    1 MiB requests; best effort: needs root, and the mount works without it."""
    try:
        device = os.stat(mount_point).st_dev
        with open(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb", "w") as knob:
            knob.write(str(MAX_REQUEST // 1024))
    except OSError:
        pass


def _detach_stdio(log_file: str | None) -> None:
    """Let go of the caller's terminal or pipes: stdin from /dev/null, stdout and stderr to the log
    (or /dev/null when there is none or it cannot be opened: the caller must never wait on us)."""
    null = os.open(os.devnull, os.O_RDWR)
    target = null
    if log_file:
        try:
            target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError:
            logging.getLogger("dfs_fuse").exception("cannot open %s for the daemon's output", log_file)
    os.dup2(null, 0)
    os.dup2(target, 1)
    os.dup2(target, 2)


def _configure_logging(log_file: str | None, debug: bool) -> None:
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
