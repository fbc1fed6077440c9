"""Rate-limit windows are wall-clock minutes; tests keep clear of their boundaries."""

from __future__ import annotations

import time


def start_of_a_fresh_window(margin: float = 10) -> None:
    """Sleep into the next minute when fewer than ``margin`` seconds are left in this one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def window() -> int:
    return int(time.time() // 60)
