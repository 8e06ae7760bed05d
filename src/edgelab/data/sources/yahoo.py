"""Yahoo Finance bars through yfinance into the Parquet `BarStore` (source ``"yahoo"``).

`download_yahoo(["BTC-USD", "^GSPC"], "1d", store=...)` makes one `yf.download` call for all
tickers and turns its frame into one Bars per ticker:

- Columns: yfinance returns a MultiIndex, (`Price`, `Ticker`) by default since 0.2.5x, or
  (`Ticker`, `Price`) with ``group_by="ticker"``; flat columns come back for one ticker
  with ``multi_level_index=False``. All three are read; rows where a ticker has no prices
  (another ticker's trading days) are dropped, not filled.
- Prices are split- and dividend-adjusted by default (``adjust="auto"``: yfinance's
  ``auto_adjust=True``, which replaces OHLC by adjusted values and drops `Adj Close`).
  When a frame still carries `Adj Close` (``auto_adjust=False``), "auto" scales open, high,
  low and close by ``Adj Close / Close`` exactly as yfinance does; ``adjust="none"`` keeps
  the raw prices and drops `Adj Close`. Adjusted history changes after every dividend, so
  each download re-fetches the whole cached span (one request per ticker) and replaces it.
- Time: intraday indexes are tz-aware (exchange time) and are converted to UTC; daily and
  weekly bars come as exchange-local dates and are labelled 00:00 UTC of that date.
- The bar still forming (``open + interval > now``) is never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from edgelab.data.sources.downloads import DownloadResult, plan_window, utc_now
from edgelab.data.store import BarStore, from_ms, to_ms, to_step_ms
from edgelab.errors import DataError, DownloadError, SourceError, unknown_name

SOURCE = "yahoo"
# edgelab interval -> yfinance interval (Yahoo has no 4h, 12h... bars)
INTERVALS = {
    "1m": "1m",
    "2m": "2m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1h": "1h",
    "90m": "90m",
    "1d": "1d",
    "5d": "5d",
    "1w": "1wk",
}
_PRICES = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}
_PRICE_NAMES = set(_PRICES) | {"Adj Close", "Dividends", "Stock Splits", "Capital Gains"}
ADJUST = ("auto", "none")

Downloader = Callable[..., pd.DataFrame]


def yf_download(tickers: list[str], **kwargs: Any) -> pd.DataFrame:
    """The real `yfinance.download` (imported on use: an optional dependency)."""
    try:
        import yfinance as yf
    except ImportError as exc:
        raise SourceError("Yahoo downloads need yfinance: pip install 'edgelab[download]'") from exc
    return yf.download(tickers, **kwargs)


def split_tickers(frame: pd.DataFrame, tickers: Sequence[str]) -> dict[str, pd.DataFrame]:
    """A `yf.download` frame -> {ticker: frame with flat yfinance column names}.

    Handles (`Price`, `Ticker`) and (`Ticker`, `Price`) MultiIndex columns and flat columns
    (only when one ticker was asked). Ticker names are matched case-insensitively, as
    yfinance upper-cases them."""
    if not isinstance(frame, pd.DataFrame):
        raise DownloadError(f"yfinance returned {type(frame).__name__}, not a DataFrame")
    cols = frame.columns
    if not isinstance(cols, pd.MultiIndex):
        if len(tickers) != 1:
            raise DownloadError(
                f"yfinance returned flat columns {list(cols)} for {len(tickers)} tickers"
            )
        return {tickers[0]: frame}
    if cols.nlevels != 2:
        raise DownloadError(f"yfinance returned {cols.nlevels} column levels, expected 2")
    first = {str(x) for x in cols.get_level_values(0)}
    price_level = 0 if first & _PRICE_NAMES else 1
    out = {}
    names = {str(t).upper(): t for t in cols.get_level_values(1 - price_level)}
    for ticker in tickers:
        key = names.get(ticker.upper())
        if key is None:
            out[ticker] = pd.DataFrame()
            continue
        part = frame.xs(key, axis=1, level=1 - price_level)
        out[ticker] = part
    return out


def to_bars(
    raw: pd.DataFrame,
    ticker: str,
    interval: str,
    *,
    adjust: str = "auto",
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One ticker's yfinance columns -> raw Bars frame (not yet validated): adjusted as
    asked, UTC index named `timestamp`, float64 open/high/low/close/volume, rows with no
    prices dropped, and the still-forming bar dropped when `now` is given."""
    if adjust not in ADJUST:
        raise SourceError(unknown_name("adjustment", adjust, ADJUST))
    missing = [c for c in ("Open", "High", "Low", "Close") if c not in raw.columns]
    if raw.empty or missing:
        return pd.DataFrame(columns=list(_PRICES.values()), dtype=np.float64)
    frame = raw.copy()
    if "Adj Close" in frame.columns:
        if adjust == "auto":
            ratio = frame["Adj Close"].to_numpy(np.float64) / frame["Close"].to_numpy(np.float64)
            for col in ("Open", "High", "Low"):
                frame[col] = frame[col].to_numpy(np.float64) * ratio
            frame["Close"] = frame["Adj Close"]
        frame = frame.drop(columns="Adj Close")
    if "Volume" not in frame.columns:
        frame["Volume"] = np.nan
    frame = frame[list(_PRICES)].rename(columns=_PRICES).astype(np.float64)
    frame = frame.dropna(how="all", subset=["open", "high", "low", "close"])
    frame.index = _utc_index(pd.DatetimeIndex(frame.index), interval, ticker)
    if now is not None:
        step = pd.Timedelta(milliseconds=to_step_ms(interval))
        frame = frame[frame.index + step <= now]
    frame.attrs = {"symbol": ticker, "interval": interval, "source": SOURCE}
    return frame


def _utc_index(index: pd.DatetimeIndex, interval: str, ticker: str) -> pd.DatetimeIndex:
    daily = to_step_ms(interval) >= 86_400_000
    if daily:  # a trading date: label it 00:00 UTC of that local date
        local = index.tz_localize(None) if index.tz is not None else index
        out = local.normalize().tz_localize("UTC")
    elif index.tz is None:
        raise DataError(
            f"intraday Yahoo bars of {ticker} have naive timestamps",
            fix="call yf.download with ignore_tz=False so the exchange time zone is kept",
        )
    else:
        out = index.tz_convert("UTC")
    return out.rename("timestamp")


def download_yahoo(
    tickers: Sequence[str],
    interval: str,
    *,
    store: BarStore,
    start=None,
    end=None,
    months: int | None = None,
    limit: int | None = None,
    adjust: str = "auto",
    clock: Callable[[], pd.Timestamp] | None = None,
    download: Downloader | None = None,
) -> list[DownloadResult]:
    """Download closed bars of `tickers` into `store` and return one result per ticker.

    The window is `start`/`end`, `months` or `limit` (for Yahoo, `limit` counts intervals of
    calendar time, so closures make fewer bars); with none, cached tickers are brought up
    to date. Each ticker is fetched from the earlier of the window start and its first
    cached bar (see the module docstring on adjustments). `download` replaces
    `yf.download` (tests pass a fake). A ticker with no rows raises DownloadError after the
    others are stored.
    """
    if interval not in INTERVALS:
        raise SourceError(unknown_name("Yahoo interval", interval, INTERVALS))
    if adjust not in ADJUST:
        raise SourceError(unknown_name("adjustment", adjust, ADJUST))
    download = download or yf_download
    now = pd.Timestamp((clock or utc_now)())
    a, b = _window(tickers, interval, store, now, start, end, months, limit)
    daily = to_step_ms(interval) >= 86_400_000
    if daily:  # dates, read by yfinance in each exchange's time zone, end exclusive
        first_day, last_day = from_ms(a).date(), (from_ms(b - 1) + pd.Timedelta(days=1)).date()
        span = {"start": first_day, "end": last_day}
    else:
        span = {"start": from_ms(a).to_pydatetime(), "end": from_ms(b).to_pydatetime()}
    frame = download(
        list(tickers),
        **span,
        interval=INTERVALS[interval],
        auto_adjust=adjust == "auto",
        ignore_tz=daily,
        actions=False,
        progress=False,
        threads=True,
        group_by="column",
        multi_level_index=True,
    )
    results, empty = [], []
    for ticker, part in split_tickers(frame, list(tickers)).items():
        bars = to_bars(part, ticker, interval, adjust=adjust, now=now)
        bars = bars[(bars.index >= from_ms(a)) & (bars.index < from_ms(b))] if len(bars) else bars
        if bars.empty:
            empty.append(ticker)
            continue
        results.append(_store_ticker(bars, ticker, interval, store, a, b, now))
    if empty:
        raise DownloadError(
            f"Yahoo returned no bars for {', '.join(empty)} ({interval}, {from_ms(a)} to "
            f"{from_ms(b)}); check the ticker on finance.yahoo.com (indices start with ^, "
            "crypto is BTC-USD) and Yahoo's limits: 1m bars for the last 7 days, other "
            "intraday bars for the last 60 days, 1h for 730 days"
        )
    return results


def _window(tickers, interval, store, now, start, end, months, limit) -> tuple[int, int]:
    """The asked window (epoch ms, half-open), widened back to the first cached bar of any
    ticker: adjusted history is refetched whole. No window: update the cached tickers."""
    firsts = [store.coverage(SOURCE, t, interval).first for t in tickers]
    known = [to_ms(f) for f in firsts if f is not None]
    default_start = min(known) if len(known) == len(tickers) else None
    a, b = plan_window(
        interval,
        now=now,
        start=start,
        end=end,
        months=months,
        limit=limit,
        default_start=default_start,
    )
    return min([a, *known]), b


def _store_ticker(bars, ticker, interval, store, a, b, now) -> DownloadResult:
    from edgelab.data.schema import validate_bars

    # calendar=None: validate_bars tells a weekday market (^GSPC) from a 24/7 one (BTC-USD)
    bars, report = validate_bars(
        bars, policy="repair", interval=interval, calendar=None, where=f"yahoo {ticker}"
    )
    step = to_step_ms(interval)
    settled_end = b if b + step <= to_ms(now) else to_ms(bars.index[-1]) + step
    merged = store.merge(bars, SOURCE, ticker, interval, verified=[(a, settled_end)])
    result = DownloadResult(SOURCE, ticker, interval, rows_fetched=len(bars), requests=1)
    result.rows_stored, result.reports = len(merged), [report]
    result.first, result.last = merged.index[0], merged.index[-1]
    return result
