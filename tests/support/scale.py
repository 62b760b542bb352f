"""How big the load tests are: quick under `make test`, full size under `make soak`.

A test marked `scale` opens hundreds of sockets or sends megabytes to show a bound holds. At
the quick size it still crosses the bound it tests (a send buffer, a cap, a batch of
handshakes); the full size (`SWITCHBOARD_TEST_SCALE=full`, which `make soak` sets) is the
size the finding was first reproduced at.
"""

from __future__ import annotations

import os

FULL = os.environ.get("SWITCHBOARD_TEST_SCALE", "quick") == "full"


def scaled(*, quick: int, full: int) -> int:
    """The size of a load test under the current scale."""
    return full if FULL else quick
