"""What Yahoo's chart API gives yfinance per ticker, without the network: `FakeTicker`
replaces `yfinance.multi.Ticker` so that the real `yf.download` assembles its frames."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import yfinance.utils

DIVIDEND_DAY = pd.Timestamp("2024-01-10")


def raw_history(ticker: str, interval: str) -> pd.DataFrame:
    """Unadjusted history as Yahoo sends it for one ticker (before auto_adjust)."""
    if ticker == "BTC-USD":  # 24/7, exchange time zone UTC
        index = pd.date_range("2024-01-01", "2024-01-21", freq="D", tz="UTC")
    elif interval == "1h":  # NYSE hours in New York time, two sessions
        days = ["2024-01-08", "2024-01-09"]
        index = pd.DatetimeIndex(
            [
                pd.Timestamp(f"{d} {h:02d}:30", tz="America/New_York")
                for d in days
                for h in range(9, 16)
            ]
        )
    else:  # weekdays only, New York midnight
        index = pd.bdate_range("2024-01-01", "2024-01-21", tz="America/New_York")
    n = len(index)
    close = np.round(100 + np.arange(n, dtype=float) * 1.5 + (50 if ticker == "^GSPC" else 0), 2)
    frame = pd.DataFrame(
        {
            "Open": close - 1.0,
            "High": close + 2.0,
            "Low": close - 2.0,
            "Close": close,
            # a dividend on DIVIDEND_DAY scales everything before it by 0.98
            "Adj Close": close * np.where(index.tz_localize(None) < DIVIDEND_DAY, 0.98, 1.0),
            "Volume": np.arange(n, dtype=np.int64) * 1000 + 7,
            "Dividends": 0.0,
            "Stock Splits": 0.0,
        },
        index=index,
    )
    frame.index.name = "Datetime" if interval == "1h" else "Date"
    return frame


class FakeTicker:
    """Stands in for `yfinance.Ticker` inside `yf.download`: no network."""

    def __init__(self, ticker, session=None):
        self.ticker = ticker.upper()
        self._price_history = SimpleNamespace(_last_error=None)

    def history(
        self,
        period=None,
        interval="1d",
        start=None,
        end=None,
        actions=True,
        auto_adjust=True,
        **kwargs,
    ):
        if self.ticker not in ("BTC-USD", "^GSPC", "AAPL"):
            raise ValueError(f"{self.ticker}: possibly delisted; no price data found")
        frame = raw_history(self.ticker, interval)
        tz = frame.index.tz  # yfinance reads start/end in the exchange's time zone
        if start is not None:
            frame = frame[frame.index >= yfinance.utils._parse_user_dt(start, tz)]
        if end is not None:
            frame = frame[frame.index < yfinance.utils._parse_user_dt(end, tz)]
        if auto_adjust:
            frame = yfinance.utils.auto_adjust(frame)
        if not actions:
            frame = frame.drop(columns=["Dividends", "Stock Splits"])
        return frame
