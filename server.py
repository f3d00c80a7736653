#!/usr/bin/env python3
"""One entry point for both node kinds: ``DFS_NODE_CLASS`` picks ``name_node.NameNode`` or
``data_node.DataNode``; gunicorn serves it with settings that suit the kind.

Both kinds run one worker process with threads: LMDB must be opened after the fork and only one
process may run the background loops (heartbeats, healing, scrubbing), and the data path is I/O that
releases the GIL. The app is built inside the worker (no preload), so nothing is shared across fork.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from dfs_common.settings import ConfigError, Settings


def build_node(settings: Settings) -> Any:
    """The WSGI app object of the configured kind, its background loops started."""
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    module_name, class_name = settings.node_class.rsplit(".", 1)
    node = getattr(importlib.import_module(module_name), class_name)(settings)
    node.start()
    return node


class NodeServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": s.threads,
            "timeout": 300,
            "graceful_timeout": 10,
            "keepalive": 75,
            "loglevel": s.log_level,
            "accesslog": None,
            "errorlog": "-",
            "proc_name": f"dfs-{'name' if s.is_name_node else 'data'}",
            # 0: no line limit (gunicorn allows nothing between 8190 and unlimited). Paths travel in
            # the URL and may be 64 KiB (dfs_common.paths.MAX_PATH_BYTES); every handler validates it.
            "limit_request_line": 0,
            # gunicorn 27's control socket is one path per user: several nodes on a host would share it.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return build_node(self.settings)


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"server.py: {error}", file=sys.stderr)
        return 2
    NodeServer(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
