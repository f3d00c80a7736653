"""Mount the in-memory backend for real: ``python tests/fuse/memory_mount.py MOUNT_POINT [-o OPTS]``.

Exercises the whole FUSE path (kernel → libfuse → adapter → FileSystem) without a cluster; prints
``ready`` on stdout once the kernel's INIT arrived.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(os.path.dirname(HERE)), HERE]

from dfs_fuse.cli import DEFAULT_TIMEOUT, fuse_options, parse_options, raise_read_ahead, serve  # noqa: E402
from memory_client import MemoryNameNode  # noqa: E402


def main() -> int:
    mount_point = sys.argv[1]
    options = parse_options(sys.argv[3:4] if len(sys.argv) > 3 and sys.argv[2] == "-o" else [])

    def ready() -> None:
        import threading
        threading.Thread(target=raise_read_ahead, args=(mount_point,), daemon=True).start()
        print("ready", flush=True)

    timeout = float(options.get("attr_timeout", DEFAULT_TIMEOUT))
    return serve(MemoryNameNode(), mount_point, fuse_options(options, "memory://test", False), timeout,
                 False, ready=ready)


if __name__ == "__main__":
    sys.exit(main())
