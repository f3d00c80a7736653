"""A storage root on Lustre: the local (POSIX) store, plus the striping hints Lustre understands.

Lustre is POSIX, so its blocks live exactly as on a local disk (``local.LocalRoot``: same layout,
same crash safety). What differs is the layout of the files over Lustre's object storage targets:
``DFS_LUSTRE_STRIPE_COUNT`` and ``DFS_LUSTRE_STRIPE_SIZE`` are set once as the default layout of
the blocks directory with ``lfs setstripe``, so every block file created under it inherits them
(a directory's layout applies to files created later, which is all of ours). Without the ``lfs``
tool the hints cannot be applied: the root still works, with the filesystem's default layout, and
says so in the log.

A root is Lustre when named ``lustre:///path`` or when the filesystem under a plain path reports
Lustre's magic number (``LL_SUPER_MAGIC``) through ``statfs(2)``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import struct
import subprocess
from collections.abc import Callable

from dfs_common.settings import Settings

from .base import StorageRoot
from .local import LocalRoot

log = logging.getLogger("dfs.data_node.roots.lustre")

LL_SUPER_MAGIC = 0x0BD00BD0
_STATFS_BUFFER = 256  # larger than struct statfs on every Linux ABI (120 bytes on x86_64)


def filesystem_magic(path: str) -> int | None:
    """``f_type`` of ``statfs(path)`` (os.statvfs does not carry it); None where unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    buffer = ctypes.create_string_buffer(_STATFS_BUFFER)
    if libc.statfs(os.fsencode(path), buffer) != 0:
        return None
    # f_type is the first field, a __fsword_t: a C long on every Linux ABI
    return int(struct.unpack_from("l", buffer.raw)[0]) & 0xFFFFFFFF


def is_lustre(path: str) -> bool:
    """The nearest existing directory at or above ``path`` is on Lustre."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and probe != os.path.dirname(probe):
        probe = os.path.dirname(probe)
    return filesystem_magic(probe) == LL_SUPER_MAGIC


def setstripe_command(directory: str, stripe_count: int, stripe_size: int) -> list[str] | None:
    """The ``lfs`` command that gives ``directory`` the configured default layout, or None when
    neither hint is set (the filesystem's default is kept). Count -1 stripes over every OST."""
    options: list[str] = []
    if stripe_count:
        options += ["--stripe-count", str(stripe_count)]
    if stripe_size:
        options += ["--stripe-size", str(stripe_size)]
    return ["lfs", "setstripe", *options, directory] if options else None


class LustreRoot(LocalRoot):
    """``LocalRoot`` on Lustre, its blocks directory striped as configured."""

    kind = "lustre"

    def __init__(self, path: str, stripe_count: int = 0, stripe_size: int = 0,
                 which: Callable[[str], str | None] = shutil.which) -> None:
        super().__init__(path)
        self.url = "lustre://" + self.path
        self.striping = self._apply_striping(stripe_count, stripe_size, which)

    def _apply_striping(self, stripe_count: int, stripe_size: int,
                        which: Callable[[str], str | None]) -> str:
        """Set the layout; answers what was done (also logged): ``default``, ``applied``,
        ``no lfs`` or ``failed``."""
        command = setstripe_command(self._blocks_dir, stripe_count, stripe_size)
        if command is None:
            log.info("Lustre root %s: no striping hints, the filesystem's default layout is kept", self.path)
            return "default"
        if which("lfs") is None:
            log.warning("Lustre root %s: striping hints (%s) not applied: the lfs tool is not installed",
                        self.path, " ".join(command[2:-1]))
            return "no lfs"
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.warning("Lustre root %s: %s failed: %s", self.path, " ".join(command), error)
            return "failed"
        if done.returncode != 0:
            log.warning("Lustre root %s: %s failed (exit %d): %s", self.path, " ".join(command),
                        done.returncode, (done.stderr or done.stdout).strip()[:500])
            return "failed"
        log.info("Lustre root %s: %s", self.path, " ".join(command))
        return "applied"


def open_posix(path: str, settings: Settings) -> StorageRoot:
    """A plain path: Lustre if the filesystem says so, else a local directory."""
    if is_lustre(path):
        return open_lustre(path, settings)
    return LocalRoot(path)


def open_lustre(path: str, settings: Settings) -> StorageRoot:
    return LustreRoot(path, settings.lustre_stripe_count, settings.lustre_stripe_size)
