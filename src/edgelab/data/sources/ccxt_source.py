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
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from edgelab.data.store import BarStore, from_ms, to_ms, to_step_ms
from edgelab.errors import DownloadError, SourceError, did_you_mean, unknown_name

Clock = Callable[[], pd.Timestamp]
_BINANCE_FAMILY = ("binance", "binanceusdm", "binancecoinm", "binanceus")


def utc_now() -> pd.Timestamp:
    """The default clock: the current UTC time."""
    return pd.Timestamp.now(tz="UTC")


def _ccxt():
    try:
        import ccxt
    except ImportError as exc:  # an optional dependency: say how to get it
        raise SourceError("exchange downloads need ccxt: pip install 'edgelab[download]'") from exc
    return ccxt


# ------------------------------------------------------------------------------ retries
@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for transient failures: attempt k (0-based) waits
    ``min(max_delay, base_delay * 2**k) * (1 + jitter * U[0, 1))`` seconds, or exactly the
    server's Retry-After when it sends one (refused above `max_retry_after`)."""

    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5
    max_retry_after: float = 900.0
    seed: int | None = None


class MalformedResponse(Exception):
    """The exchange answered with a body that is not the JSON it should be (retried)."""


def retry_after_seconds(headers: Any, now: pd.Timestamp | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not headers:
        return None
    value = None
    for key in headers:
        if str(key).lower() == "retry-after":
            value = str(headers[key]).strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now if now is not None else utc_now()
    return max(0.0, (pd.Timestamp(when) - now).total_seconds())


def strict_json(exchange) -> None:
    """Make `exchange` raise MalformedResponse on a 2xx body that is not JSON.

    ccxt would hand such a body on as a string, which its parsers turn into an empty or
    garbage result; refusing it here makes it a transient error that is retried. This
    wraps `on_rest_response`, the hook ccxt provides for post-processing a response."""
    if getattr(exchange, "_edgelab_strict_json", False):
        return
    original = exchange.on_rest_response

    def on_rest_response(code, reason, url, method, headers, body, *request):
        body = original(code, reason, url, method, headers, body, *request)
        if 200 <= int(code) < 300 and isinstance(body, str):
            try:
                json.loads(body)
            except ValueError as exc:
                raise MalformedResponse(f"{url}: body is not JSON: {body[:60]!r}") from exc
        return body

    exchange.on_rest_response = on_rest_response
    exchange._edgelab_strict_json = True


class Caller:
    """Runs exchange calls with retries; counts requests for the download result."""

    def __init__(self, exchange, policy: RetryPolicy, sleep: Callable[[float], None]):
        self.exchange = exchange
        self.policy = policy
        self.sleep = sleep
        self.rng = random.Random(policy.seed)
        self.requests = 0

    def __call__(self, what: str, fn: Callable[[], Any]) -> Any:
        ccxt = _ccxt()
        transient = (ccxt.NetworkError, ccxt.BadResponse, MalformedResponse)
        last: Exception | None = None
        for attempt in range(self.policy.attempts):
            self.requests += 1
            self.exchange.last_response_headers = None
            try:
                return fn()
            except transient as exc:
                last = exc
                if attempt + 1 == self.policy.attempts:
                    break
                self.sleep(self._delay(attempt, exc))
        raise DownloadError(
            f"{self.exchange.id}: {what} failed after {self.policy.attempts} attempts: "
            f"{type(last).__name__}: {str(last)[:200]} (what was fetched so far is stored; "
            "run the same command again to resume)"
        )

    def _delay(self, attempt: int, exc: Exception) -> float:
        ccxt = _ccxt()
        if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            wait = retry_after_seconds(self.exchange.last_response_headers)
            if wait is not None:
                if wait > self.policy.max_retry_after:
                    raise DownloadError(
                        f"{self.exchange.id} rate-limits this client for {wait:.0f} s "
                        f"(Retry-After); try again later"
                    ) from exc
                return wait
        base = min(self.policy.max_delay, self.policy.base_delay * 2**attempt)
        return base * (1.0 + self.policy.jitter * self.rng.random())


# ----------------------------------------------------------------------------- progress
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


# ----------------------------------------------------------------------------- exchanges
def make_exchange(name: str, *, futures: bool = False, timeout_ms: int = 30_000):
    """A rate-limited ccxt client for `name` (any of `ccxt.exchanges`), public data only.

    With `futures`, Binance becomes `binanceusdm` (USD-M perpetuals) and other exchanges get
    ``options.defaultType = "swap"``. Markets are loaded lazily by the downloaders.
    """
    ccxt = _ccxt()
    name = name.strip().lower()
    if name not in ccxt.exchanges:
        raise SourceError(
            f"unknown exchange '{name}'{did_you_mean(name, ccxt.exchanges)}; "
            f'ccxt knows {len(ccxt.exchanges)}: see `python -c "import ccxt; print(ccxt.exchanges)"` '
            "(or use 'yahoo')"
        )
    options: dict[str, Any] = {}
    if futures and name == "binance":
        name = "binanceusdm"
    elif futures:
        options["defaultType"] = "swap"
    if name == "binance":
        # spot markets only: loading futures markets would hit fapi/dapi for nothing
        options["fetchMarkets"] = {"types": ["spot"]}
    config = {"enableRateLimit": True, "timeout": timeout_ms, "options": options}
    exchange = getattr(ccxt, name)(config)
    exchange.options["fetchCurrencies"] = False  # private endpoint; markets suffice
    return exchange


def _load_markets(exchange, call: Caller) -> dict:
    if not exchange.markets:
        call("load_markets", exchange.load_markets)
    return exchange.markets


def resolve_symbol(exchange, symbol: str, call: Caller) -> str:
    """The ccxt market symbol for `symbol`; futures accept the spot spelling
    (``BTC/USDT`` -> ``BTC/USDT:USDT``). Unknown symbols raise SourceError."""
    markets = _load_markets(exchange, call)
    if symbol in markets:
        return symbol
    upper = symbol.upper()
    candidates = [upper, upper.replace("-", "/"), upper.replace("_", "/")]
    if "/" not in upper:  # BTCUSDT: look the exchange's own id up
        by_id = {m.get("id"): s for s, m in markets.items()}
        if upper in by_id:
            return by_id[upper]
    for cand in candidates:
        if cand in markets:
            return cand
        if "/" in cand and ":" not in cand:
            linear = f"{cand}:{cand.split('/')[1]}"
            if linear in markets and markets[linear].get("contract"):
                return linear
    raise SourceError(
        f"unknown symbol '{symbol}' on {exchange.id}{did_you_mean(upper, markets)}",
    )


def check_interval(exchange, interval: str) -> None:
    """Refuse an interval the exchange does not serve, or one edgelab cannot store (months)."""
    timeframes = exchange.timeframes or {}
    if interval not in timeframes:
        raise SourceError(
            unknown_name(f"interval on {exchange.id}", interval, timeframes),
        )
    if interval.endswith("M") or interval.endswith("y"):
        raise SourceError(
            f"interval '{interval}' is calendar-based; edgelab bars have fixed lengths",
        )
    to_step_ms(interval)


def _page_limit(exchange, symbol: str) -> int:
    """Bars per request: ccxt's declared maximum for this market type (500 if undeclared)."""
    market = exchange.markets.get(symbol, {})
    kind = market.get("type") or "spot"
    features = (exchange.features or {}).get(kind) or {}
    if kind != "spot" and isinstance(features, dict):
        features = features.get("linear" if market.get("linear", True) else "inverse") or features
    limit = ((features or {}).get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else 500


# ------------------------------------------------------------------------------ windows
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


# ---------------------------------------------------------------------------- downloads
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
    limit = _page_limit(exchange, symbol)
    until_ok = exchange.id in _BINANCE_FAMILY
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
    until_ok = exchange.id in _BINANCE_FAMILY
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


__all__ = [
    "DownloadResult",
    "RetryPolicy",
    "download_funding",
    "download_ohlcv",
    "make_exchange",
    "plan_window",
]
