"""The one shape of a background loop: a daemon thread started once, stopped by an event."""
from __future__ import annotations

import threading


class BackgroundLoop:
    """Subclasses set ``thread_name`` and write ``_run``, waiting on ``self._stop`` between rounds
    so that ``stop()`` ends them promptly."""

    thread_name = "dfs-loop"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return True

    def start(self) -> None:
        if self._thread is None and self.enabled:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        raise NotImplementedError
