"""What every downloader (ccxt, Yahoo, Dukascopy) shares: the clock, the asked window,
the per-series result and the progress protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from edgelab.data.store import from_ms, to_ms, to_step_ms
from edgelab.errors import SourceError

Clock = Callable[[], pd.Timestamp]


def utc_now() -> pd.Timestamp:
    """The default clock: the current UTC time."""
    return pd.Timestamp.now(tz="UTC")


def plan_window(
    interval: str,
    *,
    now: pd.Timestamp,
    start=None,
    end=None,
    months: int | None = None,
    limit: int | None = None,
    default_start: int | None = None,
) -> tuple[int, int]:
    """The asked window as epoch ms ``[start, end)`` of bar open times, capped at the last
    closed bar. Exactly one of `start`, `months`, `limit` (or a `default_start`, the first
    cached bar when updating) must be given; `end` is exclusive."""
    step = to_step_ms(interval)
    now_ms = to_ms(now)
    given = [x is not None for x in (start, months, limit)]
    if sum(given) > 1:
        raise SourceError("give only one of --start, --months, --limit")
    closed_end = now_ms - step + 1  # bars opening before this have closed
    end_ms = min(to_ms(end), closed_end) if end is not None else closed_end
    if start is not None:
        start_ms = to_ms(start)
    elif months is not None:
        if months <= 0:
            raise SourceError(f"--months must be positive, got {months}")
        start_ms = to_ms(pd.Timestamp(now).tz_convert("UTC") - pd.DateOffset(months=months))
    elif limit is not None:
        if limit <= 0:
            raise SourceError(f"--limit must be positive, got {limit}")
        # bars are aligned to the epoch, weeks to Monday (1970-01-05) as on Binance
        offset = 4 * 86_400_000 if interval.endswith("w") else 0
        current_open = (now_ms - offset) // step * step + offset
        start_ms = current_open - limit * step
    elif default_start is not None:
        start_ms = default_start
    else:
        raise SourceError(
            "say how much to download: --start DATE, --months N or --limit N",
        )
    if end is not None and start_ms >= to_ms(end):
        raise SourceError(f"--start {from_ms(start_ms)} is not before --end {end}")
    return start_ms, end_ms


@dataclass
class DownloadResult:
    """What one series' download did: new rows, requests made (retries included), and the
    store's span after it."""

    source: str
    symbol: str
    interval: str
    rows_fetched: int = 0
    requests: int = 0
    rows_stored: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    reports: list = field(default_factory=list)


class DownloadProgress(Protocol):
    """What the downloaders report: one task per series, advanced per page."""

    def start(self, label: str, total_bars: int) -> Any: ...

    def advance(self, task: Any, bars: int, rows: int) -> None: ...


class NoProgress:
    """Reports nothing (library default and tests)."""

    def start(self, label: str, total_bars: int) -> None:
        return None

    def advance(self, task: Any, bars: int, rows: int) -> None:
        return None
