"""Trading costs: the one cost model the engine and the trade simulator share.

This module owns `Costs` (fee, slippage and spread in basis points, with explicit non-zero
defaults) and its translation into per-bar cost rates for buys and sells.

A cost rate is a fraction of traded notional (notional valued at the bar's close): trading
`q` units of equity worth of an asset at bar t costs `q * rate[t]` of equity. Buys and sells
differ when the bars carry bid and ask (a buy fills at the ask, a sell at the bid, each
measured against the close the engine marks positions at); otherwise each side pays half
the configured spread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from edgelab.errors import BacktestError

BPS = 1e-4


@dataclass(frozen=True)
class Costs:
    """Costs charged on every unit of traded notional, in basis points (1 bp = 0.01 %).

    Defaults are deliberately non-zero (a backtest without costs flatters every model):

    - `fee_bps=10.0`: exchange fee per side (Binance spot taker fee without discounts).
    - `slippage_bps=2.0`: price impact / latency per side, paid on buys and sells alike.
    - `spread_bps=2.0`: the full quoted bid-ask spread used when the bars carry no bid/ask;
      each side pays half of it (the close is taken as the mid).
    - `use_bid_ask=True`: when the bars carry `bid_close` and `ask_close`, buys fill at the
      ask and sells at the bid instead of paying `spread_bps`; bars with only a `spread`
      column (ask - bid, price units) pay half of it per side. Set False to force the
      configured spread (e.g. to compare with an engine that has no spread model).
    """

    fee_bps: float = 10.0
    slippage_bps: float = 2.0
    spread_bps: float = 2.0
    use_bid_ask: bool = True

    def __post_init__(self) -> None:
        for name in ("fee_bps", "slippage_bps", "spread_bps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise BacktestError(f"Costs.{name} must be a number of basis points, got {value!r}")
            if not np.isfinite(value) or value < 0:
                raise BacktestError(
                    f"Costs.{name} must be a finite number >= 0 (basis points), got {value!r}"
                )

    @classmethod
    def zero(cls) -> Costs:
        """No costs at all: only for tests and for measuring what costs take away."""
        return cls(fee_bps=0.0, slippage_bps=0.0, spread_bps=0.0, use_bid_ask=False)

    def to_dict(self) -> dict[str, float | bool]:
        """Plain dict for configs, run folders and reports."""
        return asdict(self)

    def uses_bid_ask(self, bars: pd.DataFrame) -> bool:
        """True when these bars' spread comes from their `bid_close` / `ask_close` columns."""
        return self.use_bid_ask and "bid_close" in bars.columns and "ask_close" in bars.columns

    def source(self, bars: pd.DataFrame) -> str:
        """Where the spread of these bars comes from: `bid_ask`, `spread_column` or `spread_bps`."""
        if self.uses_bid_ask(bars):
            return "bid_ask"
        if self.use_bid_ask and "spread" in bars.columns:
            return "spread_column"
        return "spread_bps"

    def half_spreads(self, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per-bar distance from the close to the buy and to the sell fill, as fractions.

        Returns `(buy, sell)`, float64 arrays, both >= 0: `ask_close / close - 1` and
        `1 - bid_close / close` of each bar with bid/ask; else half of a `spread` column
        (ask - bid in price units) over the close; else `spread_bps / 2` as arrays of
        length 1 (the same for every bar; broadcasting keeps the hot path lean). Raises `BacktestError` naming the first bad row
        when bid/ask are missing values or the close lies outside [bid, ask].
        """
        source = self.source(bars)
        if source == "spread_bps":
            half = np.array([0.5 * self.spread_bps * BPS])
            return half, half.copy()
        close = bars["close"].to_numpy(dtype=np.float64)
        symbol = bars.attrs.get("symbol", "bars")
        if source == "spread_column":
            spread = bars["spread"].to_numpy(dtype=np.float64)
            bad = ~np.isfinite(spread) | (spread < 0)
            if bad.any():
                row = int(np.argmax(bad))
                raise BacktestError(
                    f"{symbol}: spread is {spread[row]} at row {row} ({bars.index[row]}); it "
                    "must be >= 0 (ask - bid in price units); repair it or use_bid_ask=False"
                )
            half = 0.5 * spread / close
            return half, half.copy()
        bid = bars["bid_close"].to_numpy(dtype=np.float64)
        ask = bars["ask_close"].to_numpy(dtype=np.float64)
        bad = ~(np.isfinite(bid) & np.isfinite(ask))
        if bad.any():
            row = int(np.argmax(bad))
            raise BacktestError(
                f"{symbol}: bid_close/ask_close missing at row {row} ({bars.index[row]}); "
                "repair the quotes, drop the bid/ask columns, or use Costs(use_bid_ask=False)"
            )
        # a close outside the quotes would make one side's cost negative (a free rebate)
        bad = (bid > close) | (close > ask)
        if bad.any():
            row = int(np.argmax(bad))
            raise BacktestError(
                f"{symbol}: close {close[row]} lies outside bid {bid[row]} / ask {ask[row]} at "
                f"row {row} ({bars.index[row]}); the close must be the bid, the ask or between "
                "them (check which side the candles were built from)"
            )
        return ask / close - 1.0, 1.0 - bid / close

    def rates(self, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per-bar cost rates `(buy, sell)`: fee + slippage + the side's half spread.

        Fractions of traded notional, float64 arrays of length `len(bars)` (or 1 when the
        same for every bar, see `half_spreads`), known at the close of each bar (the bar where a trade decided at that close fills).
        """
        buy, sell = self.half_spreads(bars)
        flat = (self.fee_bps + self.slippage_bps) * BPS
        return buy + flat, sell + flat

    def fill_prices(self, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per-bar fill prices `(buy, sell)` at the close: close x (1 +/- (half spread + slippage)).

        The fee is not in the price; it is reported separately in the trade log.
        """
        buy, sell = self.half_spreads(bars)
        close = bars["close"].to_numpy(dtype=np.float64)
        slip = self.slippage_bps * BPS
        return close * (1.0 + buy + slip), close * (1.0 - sell - slip)
