"""Klines and funding rates from any ccxt exchange into the Parquet `BarStore`.

`make_exchange("binance")` builds a rate-limited ccxt client (any name in `ccxt.exchanges`;
``futures=True`` gives Binance USD-M through `binanceusdm`, and `defaultType="swap"`
elsewhere). `download_ohlcv(exchange, symbols, interval, store=...)` then fetches, for each
symbol, only the parts of the asked window that the store does not hold yet:

- Pages of `fetch_ohlcv(since, limit)` walk each hole in windows of `limit` bars (ccxt's
  declared maximum for the market); Binance-family exchanges also get ccxt's unified
  ``until`` so a page never reaches past its window. A short page is followed from its
  last bar (exchanges may cap pages below ccxt's limit); a page whose next bar lies past
  the window shows a gap at the source, which is skipped; an empty window is a gap too,
  trusted for the most recent bars only once they have settled (`settle_seconds`).
- Bars not yet closed (``open + interval > now``) are never stored; `clock` is injectable.
- Each page's rows are buffered and merged into the store at least every `flush_seconds`
  and whenever the call ends, by success or error, so an interrupted download resumes
  where it stopped. Every page also records the *verified span* it covers (see
  `edgelab.data.store`), so gaps at the exchange are kept as gaps and not asked for again.
- Network errors, timeouts, 5xx (`ExchangeNotAvailable`), 418/429 (`DDoSProtection`,
  `RateLimitExceeded`) and malformed bodies are retried with exponential back-off and
  jitter; a ``Retry-After`` header (read from `exchange.last_response_headers`) is honoured
  instead of the back-off. Anything else (unknown symbol, bad arguments) fails at once.

The client and its retries live in `ccxt_exchange` and `retry`, the window plan and the
result record shared with the other downloaders in `downloads`; their names stay
importable from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from edgelab.data.sources.ccxt_exchange import (
    BINANCE_FAMILY,
    Caller,
    MalformedResponse,
    check_interval,
    make_exchange,
    page_limit,
    resolve_symbol,
    strict_json,
)
from edgelab.data.sources.downloads import (
    Clock,
    DownloadProgress,
    DownloadResult,
    NoProgress,
    plan_window,
    utc_now,
)
from edgelab.data.sources.retry import RetryPolicy, retry_after_seconds
from edgelab.data.store import BarStore, from_ms, to_ms, to_step_ms
from edgelab.errors import DownloadError, SourceError


class _Buffer:
    """Pages waiting to be merged into the store; flushed on a timer and at the end."""

    def __init__(self, store, source, symbol, interval, flush_seconds, to_frame, result):
        self.store, self.key = store, (source, symbol, interval)
        self.flush_seconds, self.to_frame, self.result = flush_seconds, to_frame, result
        self.rows: list[np.ndarray] = []
        self.spans: list[tuple[int, int]] = []
        self.last_flush = time.monotonic()

    def add(self, rows: np.ndarray, span: tuple[int, int] | None) -> None:
        if len(rows):
            self.rows.append(rows)
        if span is not None and span[1] > span[0]:
            self.spans.append(span)
        if time.monotonic() - self.last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.rows and not self.spans:
            return
        rows = np.concatenate(self.rows) if self.rows else np.empty((0, 6))
        frame, report = self.to_frame(rows, *self.key)
        merged = self.store.merge(frame, *self.key, verified=self.spans)
        if report is not None:
            self.result.reports.append(report)
        self.rows, self.spans = [], []
        self.result.rows_stored = len(merged)
        if len(merged):
            self.result.first, self.result.last = merged.index[0], merged.index[-1]


def ohlcv_frame(rows: np.ndarray, source: str, symbol: str, interval: str):
    """Rows (open_ms, o, h, l, c, v) -> Bars validated with policy `repair` (the report is
    returned so the download can show what was repaired)."""
    index = pd.DatetimeIndex(pd.to_datetime(rows[:, 0].astype(np.int64), unit="ms", utc=True))
    frame = pd.DataFrame(
        rows[:, 1:6].astype(np.float64),
        index=index.rename("timestamp"),
        columns=["open", "high", "low", "close", "volume"],
    )
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame.attrs = {"symbol": symbol, "interval": interval, "source": source}
    return _validate(frame, interval, f"{source} {symbol} {interval}")


def _validate(frame: pd.DataFrame, interval: str, where: str):
    from edgelab.data.schema import validate_bars

    if frame.empty:
        return frame, None
    return validate_bars(frame, policy="repair", interval=interval, calendar="crypto", where=where)


def _checked_rows(raw: Any, what: str) -> np.ndarray:
    """ccxt's OHLCV list -> float array (n, 6) sorted by open time; refuses malformed rows."""
    if not isinstance(raw, list):
        raise MalformedResponse(f"{what}: expected a list of candles, got {type(raw).__name__}")
    if not raw:
        return np.empty((0, 6))
    try:
        rows = np.array([r[:6] for r in raw], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as exc:
        raise MalformedResponse(f"{what}: candles are not 6 numbers: {raw[:1]!r}") from exc
    if rows.ndim != 2 or rows.shape[1] != 6 or np.isnan(rows[:, 0]).any():
        raise MalformedResponse(f"{what}: candles are not 6 numbers: {raw[:1]!r}")
    order = np.argsort(rows[:, 0], kind="stable")
    return rows[order]


def _pages(exchange, call: Caller, symbol, interval, hole, *, now_ms, settle_ms):
    """Walk one hole [a, b) page by page; yield (closed rows, verified span or None, bars
    of the window walked). See the module docstring for the rules."""
    step = to_step_ms(interval)
    limit = page_limit(exchange, symbol)
    until_ok = exchange.id in BINANCE_FAMILY
    since, b = hole
    while since < b:
        w_end = min(since + limit * step, b)
        params = {"until": w_end - 1} if until_ok else {}
        what = f"fetch_ohlcv {symbol} {interval} since {from_ms(since)}"
        fetch_since = since

        def fetch(fetch_since=fetch_since, params=params):
            return exchange.fetch_ohlcv(
                symbol, interval, since=fetch_since, limit=limit, params=params
            )

        rows = _checked_rows(call(what, fetch), what)
        opens = rows[:, 0].astype(np.int64)
        kept = rows[(opens >= since) & (opens < w_end)]  # all closed, as w_end <= b
        kept = kept[np.concatenate(([True], np.diff(kept[:, 0]) > 0))] if len(kept) else kept
        later = opens[opens >= w_end]  # incomplete bars are always here: they open >= b
        last_next = int(kept[-1, 0]) + step if len(kept) else since
        if len(later):  # the source's next bar lies past the window: nothing in between
            nxt = min(int(later[0]), b)
            span = (since, nxt)
        elif len(kept) and last_next < w_end:  # a short page: the source may hold more
            nxt = last_next
            span = (since, nxt)
        else:  # the window is exhausted; trust an empty tail only once it has settled
            nxt = w_end
            settled = last_next >= w_end or w_end + step + settle_ms <= now_ms
            span = (since, w_end if settled else last_next)
        yield kept, span, (nxt - since) // step
        since = nxt


def download_ohlcv(
    exchange,
    symbols: Sequence[str],
    interval: str,
    *,
    store: BarStore,
    start=None,
    end=None,
    months: int | None = None,
    limit: int | None = None,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy = RetryPolicy(),
    progress: DownloadProgress | None = None,
    flush_seconds: float = 1.0,
    settle_seconds: float = 60.0,
) -> list[DownloadResult]:
    """Download closed bars of each symbol into `store` (source = `exchange.id`) and return
    one `DownloadResult` per symbol. Only what the store lacks in the window is fetched;
    with no window given, a cached series is brought up to date from its first bar.

    Symbols and the interval are all checked before anything is fetched. A failure after
    retries raises DownloadError; everything fetched up to then is in the store.
    """
    progress = progress or NoProgress()
    call = Caller(exchange, retry, sleep)
    strict_json(exchange)
    check_interval(exchange, interval)
    window = dict(start=start, end=end, months=months, limit=limit)
    plan_window(interval, now=(clock or utc_now)(), default_start=0, **window)  # fail early
    resolved = [resolve_symbol(exchange, s, call) for s in symbols]
    results = []
    for symbol in resolved:
        results.append(
            _download_one(
                exchange,
                call,
                symbol,
                interval,
                store=store,
                progress=progress,
                window=window,
                now=pd.Timestamp((clock or utc_now)()),
                flush_seconds=flush_seconds,
                settle_ms=int(settle_seconds * 1000),
            )
        )
    return results


def _download_one(
    exchange, call, symbol, interval, *, store, progress, window, now, flush_seconds, settle_ms
) -> DownloadResult:
    source = exchange.id
    step = to_step_ms(interval)
    cov = store.coverage(source, symbol, interval)
    default_start = to_ms(cov.first) if cov.first is not None else None
    a, b = plan_window(interval, now=now, default_start=default_start, **window)
    holes = store.missing(source, symbol, interval, a, b)
    result = DownloadResult(source, symbol, interval, rows_stored=cov.rows)
    result.first, result.last = cov.first, cov.last
    requests_before = call.requests
    task = progress.start(
        f"{source} {symbol} {interval}", sum(-(-(y - x) // step) for x, y in holes)
    )
    buffer = _Buffer(store, source, symbol, interval, flush_seconds, ohlcv_frame, result)
    try:
        for hole in holes:
            for rows, span, bars in _pages(
                exchange, call, symbol, interval, hole, now_ms=to_ms(now), settle_ms=settle_ms
            ):
                buffer.add(rows, span)
                result.rows_fetched += len(rows)
                progress.advance(task, bars, len(rows))
    finally:
        buffer.flush()  # also on errors and Ctrl-C: keep what was fetched
        result.requests = call.requests - requests_before
    return result


def download_funding(
    exchange,
    symbols: Sequence[str],
    *,
    store: BarStore,
    start=None,
    end=None,
    months: int | None = None,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy = RetryPolicy(),
) -> list[DownloadResult]:
    """Funding-rate history of perpetual futures into the store (interval key "funding",
    column `funding_rate`), from after the last cached rate (or the window's start)."""
    from edgelab.data.store import FUNDING

    call = Caller(exchange, retry, sleep)
    strict_json(exchange)
    if not exchange.has.get("fetchFundingRateHistory"):
        raise SourceError(f"{exchange.id} offers no funding-rate history; try --futures on binance")
    results = []
    now = pd.Timestamp((clock or utc_now)())
    for symbol in [resolve_symbol(exchange, s, call) for s in symbols]:
        if not exchange.markets[symbol].get("contract"):
            raise SourceError(f"{symbol} on {exchange.id} is not a futures market; add --futures")
        cov = store.coverage(exchange.id, symbol, FUNDING)
        first = to_ms(cov.first) if cov.first is not None else None
        # rates are points in time, not bars: the window runs to `end` or now, inclusive
        a, _ = plan_window("1m", now=now, start=start, end=end, months=months, default_start=first)
        b = min(to_ms(end), to_ms(now) + 1) if end is not None else to_ms(now) + 1
        if cov.last is not None and a >= first:
            a = max(a, to_ms(cov.last) + 1)
        result = DownloadResult(exchange.id, symbol, FUNDING, rows_stored=cov.rows)
        before = call.requests
        try:
            for frame in _funding_pages(exchange, call, symbol, a, b):
                merged = store.merge(frame, exchange.id, symbol, FUNDING)
                result.rows_fetched += len(frame)
                result.rows_stored = len(merged)
                result.first, result.last = merged.index[0], merged.index[-1]
        finally:
            result.requests = call.requests - before
        results.append(result)
    return results


def _funding_pages(exchange, call: Caller, symbol: str, a: int, b: int) -> Iterator[pd.DataFrame]:
    until_ok = exchange.id in BINANCE_FAMILY
    limit = 1000 if until_ok else None
    since = a
    while since < b:
        params = {"until": b - 1} if until_ok else {}
        what = f"fetch_funding_rate_history {symbol} since {from_ms(since)}"

        def fetch(since=since, params=params):
            return exchange.fetch_funding_rate_history(
                symbol, since=since, limit=limit, params=params
            )

        raw = call(what, fetch)
        if not isinstance(raw, list):
            raise DownloadError(f"{exchange.id}: {what}: expected a list, got {type(raw).__name__}")
        points = sorted(
            (int(r["timestamp"]), float(r["fundingRate"]))
            for r in raw
            if r.get("timestamp") is not None and since <= int(r["timestamp"]) < b
        )
        if not points:
            return
        times = np.array([t for t, _ in points], dtype=np.int64)
        frame = pd.DataFrame(
            {"funding_rate": np.array([r for _, r in points], dtype=np.float64)},
            index=pd.DatetimeIndex(pd.to_datetime(times, unit="ms", utc=True), name="timestamp"),
        )
        yield frame[~frame.index.duplicated(keep="last")]
        since = int(times[-1]) + 1
        if limit is not None and len(raw) < limit:
            return


# names kept importable from here: the CLI, yahoo, dukascopy and tests use them
__all__ = [
    "Caller",
    "Clock",
    "DownloadProgress",
    "DownloadResult",
    "MalformedResponse",
    "NoProgress",
    "RetryPolicy",
    "check_interval",
    "download_funding",
    "download_ohlcv",
    "make_exchange",
    "ohlcv_frame",
    "plan_window",
    "resolve_symbol",
    "retry_after_seconds",
    "strict_json",
    "utc_now",
]
