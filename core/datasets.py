"""Where the public evaluation data lives (`shared/data` beside the checkout: RouteLLM outcomes, QQP pairs, NAB).

`TOKENTRA_DATA_DIR` points elsewhere. The data is not part of the repository: suites and the tests that gate on
it say so (tests skip) when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_dir() -> Path:
    configured = os.environ.get("TOKENTRA_DATA_DIR")
    return Path(configured) if configured else _BESIDE_CHECKOUT
