"""``python -m dfs_cli``: the same as the ``dfs`` console script."""
from __future__ import annotations

import sys

from .main import main

sys.exit(main())
