"""Progress bars (tqdm) on standard error, only when it is a terminal: piped output stays clean."""
from __future__ import annotations

import os
import sys
import threading
from typing import Any

from tqdm import tqdm


class Progress:
    """A thread-safe bar over bytes or items; a no-op when disabled."""

    def __init__(self, total: int | None, unit: str, desc: str, enabled: bool) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        if enabled:
            scale = unit == "B"
            self._bar = tqdm(total=total, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
                             desc=desc, file=sys.stderr, ncols=_columns(), leave=True)

    def update(self, amount: int = 1) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.update(amount)

    def grow(self, amount: int) -> None:
        """More work found (a tree walked while it is transferred)."""
        if self._bar is not None:
            with self._lock:
                self._bar.total = (self._bar.total or 0) + amount
                self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _columns() -> int:
    """The terminal's width; 80 when it says 0 (a fresh pseudo-terminal) or cannot say."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except OSError:
        return 80


def on_terminal() -> bool:
    return sys.stderr.isatty()
