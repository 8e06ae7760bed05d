"""ATR barrier labels and the one barrier walk that labels and the trade simulator share.

This module owns:

- `walk_barrier` / `walk_barriers_batch`: numba kernels that walk a take-profit /
  stop-loss bracket forward over bar highs and lows. The backtest's trade simulator
  (`edgelab.backtest`) calls the same kernels, so an ATR-barrier label and the trade
  it describes can never disagree.
- `barrier_labels`: long / short / hold labels from ATR barriers (the BERT system's
  labels: stop-loss 1x ATR, take-profit 1.5x ATR), optionally on Heikin-Ashi mid prices.

Walk rules (the contract both users rely on):

- Entry is at the close of bar `entry_idx` at `entry_price`; bars `entry_idx+1 ..
  entry_idx+max_horizon` are walked in order.
- Long: the stop is touched when `low <= stop_loss`, the take-profit when
  `high >= take_profit`. Short is mirrored (`high >= stop_loss`, `low <= take_profit`).
- Inside one bar the order of high and low is unknown, so when both levels are touched
  in the same bar **the stop counts first** (the pessimistic reading).
- Gaps: when a bar *opens* at or beyond the stop, the exit is at that open (a worse
  price than the stop); when it opens at or beyond the take-profit, the exit is at that
  open (a better price than the take-profit). Otherwise exits are at the level itself.
- Neither level by bar `entry_idx+max_horizon`: exit at its close, reason `REASON_HORIZON`.
- The data ends before that bar: exit at the last close with reason `REASON_END`; for a
  label this means the outcome is unknown (no label), for a trade it is a forced exit.
- A level set to +inf/-inf (or NaN) is never touched: that disables it (a stop-only or
  a fixed-horizon trade).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import talib

from edgelab.labels.base import (
    OHLC,
    Labels,
    check_bars,
    check_positive_float,
    check_positive_int,
    make_frame,
)

#: Exit reasons returned by the walk (int codes, stable: the trade log stores them).
REASON_TP = 1
REASON_SL = 2
REASON_HORIZON = 3
REASON_END = 4
REASON_NAMES = {
    REASON_TP: "take_profit",
    REASON_SL: "stop_loss",
    REASON_HORIZON: "horizon",
    REASON_END: "end_of_data",
}

#: Class codes of `barrier_labels` (non-negative so they index `predict_proba` columns).
HOLD, LONG, SHORT = 0, 1, 2
BARRIER_LABEL_MAP = {HOLD: "hold", LONG: "long", SHORT: "short"}


@numba.njit(cache=True, nogil=True)
def walk_barrier(
    open_, high, low, close, entry_idx, entry_price, take_profit, stop_loss, direction, max_horizon
):
    """Walk one bracket forward from the close of bar `entry_idx`.

    Arrays: float64, one value per bar, no NaN (bars are validated at the border).
    `direction` is +1 (long) or -1 (short); `max_horizon` >= 0 bars. `entry_price` is not
    used to decide the exit (levels are absolute prices); it is part of the signature so
    that callers pass a trade as one record.

    Returns `(exit_idx, exit_price, reason)` with `reason` one of the `REASON_*` codes.
    Uses bars entry_idx+1 .. min(entry_idx+max_horizon, n-1) only.
    """
    n = close.shape[0]
    last = entry_idx + max_horizon
    stop = min(last, n - 1)
    for j in range(entry_idx + 1, stop + 1):
        o = open_[j]
        if direction > 0:
            # gap through a level: the first price available is the open
            if o <= stop_loss:
                return j, o, REASON_SL
            if o >= take_profit:
                return j, o, REASON_TP
            # both touched in one bar: the stop counts first
            if low[j] <= stop_loss:
                return j, stop_loss, REASON_SL
            if high[j] >= take_profit:
                return j, take_profit, REASON_TP
        else:
            if o >= stop_loss:
                return j, o, REASON_SL
            if o <= take_profit:
                return j, o, REASON_TP
            if high[j] >= stop_loss:
                return j, stop_loss, REASON_SL
            if low[j] <= take_profit:
                return j, take_profit, REASON_TP
    if last <= n - 1:
        return last, close[last], REASON_HORIZON
    return n - 1, close[n - 1], REASON_END


@numba.njit(cache=True, nogil=True)
def walk_barriers_batch(
    open_, high, low, close, entry_idx, entry_price, take_profit, stop_loss, direction, max_horizon
):
    """`walk_barrier` over many entries; one call, no Python per trade.

    `entry_idx` int64[m], `entry_price`, `take_profit`, `stop_loss` float64[m],
    `direction` int64[m] (+1/-1), `max_horizon` an int (the same for every entry).
    Returns `(exit_idx int64[m], exit_price float64[m], reason int64[m])`.
    """
    m = entry_idx.shape[0]
    exit_idx = np.empty(m, dtype=np.int64)
    exit_price = np.empty(m, dtype=np.float64)
    reason = np.empty(m, dtype=np.int64)
    for i in range(m):
        e, p, r = walk_barrier(
            open_,
            high,
            low,
            close,
            entry_idx[i],
            entry_price[i],
            take_profit[i],
            stop_loss[i],
            direction[i],
            max_horizon,
        )
        exit_idx[i] = e
        exit_price[i] = p
        reason[i] = r
    return exit_idx, exit_price, reason


@numba.njit(cache=True, nogil=True)
def _barrier_label_kernel(open_, high, low, close, atr, tp_mult, sl_mult, max_horizon):
    """Label every bar from its long and its short bracket.

    Returns `(code float64[n], end_idx int64[n])`; code NaN and end_idx -1 where there is
    no label (ATR NaN, or the outcome is unknown because the data ends).
    """
    n = close.shape[0]
    code = np.full(n, np.nan)
    end_idx = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        a = atr[t]
        if not np.isfinite(a):
            continue
        c = close[t]
        el, _, rl = walk_barrier(
            open_, high, low, close, t, c, c + tp_mult * a, c - sl_mult * a, 1, max_horizon
        )
        es, _, rs = walk_barrier(
            open_, high, low, close, t, c, c - tp_mult * a, c + sl_mult * a, -1, max_horizon
        )
        long_win = rl == REASON_TP
        short_win = rs == REASON_TP
        if long_win and short_win:
            # only possible when tp_mult < sl_mult: the earlier exit wins, a tie is hold
            if el < es:
                code[t] = LONG
            elif es < el:
                code[t] = SHORT
            else:
                code[t] = HOLD
            end_idx[t] = min(el, es)
        elif long_win:
            # a short still open at the data end cannot win before `el` any more
            code[t] = LONG
            end_idx[t] = el
        elif short_win:
            code[t] = SHORT
            end_idx[t] = es
        elif rl != REASON_END and rs != REASON_END:
            code[t] = HOLD
            end_idx[t] = max(el, es)
    return code, end_idx


def _heikin_ashi_ohlc(bars: pd.DataFrame) -> pd.DataFrame:
    """Heikin-Ashi open/high/low/close (bid/ask mid prices when the bars carry both)."""
    # imported here: features and labels are sibling stages; only this variant needs candles
    from edgelab.features.candles import heikin_ashi

    return heikin_ashi(bars, use_mid=None)[list(OHLC)]


def barrier_prices(bars: pd.DataFrame, *, heikin_ashi: bool = False) -> pd.DataFrame:
    """The OHLC prices barriers are computed on: the bars' own, or Heikin-Ashi (mid)."""
    if heikin_ashi:
        return _heikin_ashi_ohlc(bars)
    return bars[["open", "high", "low", "close"]]


def barrier_labels(
    bars: pd.DataFrame,
    *,
    tp_atr: float = 1.5,
    sl_atr: float = 1.0,
    atr_window: int = 14,
    max_horizon: int = 24,
    heikin_ashi: bool = False,
) -> Labels:
    """Long / short / hold labels from ATR take-profit and stop-loss barriers.

    For every bar t (index of `bars`, one label per row): entry at close[t]; the long
    trade has take-profit close[t] + tp_atr x ATR[t] and stop-loss close[t] - sl_atr x
    ATR[t], the short trade is mirrored; both are walked with `walk_barrier` over bars
    t+1 .. t+max_horizon (stop first when both levels are touched in one bar, gap fills
    at the open). ATR is TA-Lib's `ATR(high, low, close, atr_window)` on the same prices,
    known at the close of bar t.

    Label map (`BARRIER_LABEL_MAP`): 0 = hold, 1 = long (the long trade reaches its
    take-profit), 2 = short (the short trade reaches its take-profit), otherwise hold
    (both stopped, or the horizon came first). When tp_atr < sl_atr both trades can win;
    the earlier exit wins and a tie in one bar is hold. No label (NaN) for the first
    `atr_window` rows (ATR warm-up) and for rows whose outcome is unknown because the
    data ends before it is decided (reason END: never silently called hold).

    `t_end` is the timestamp of the bar at which the label is known: the winning trade's
    exit bar for long/short, the later of the two exits for hold; always
    t < t_end <= t + max_horizon bars. Looks forward by design (labels only).

    `heikin_ashi=True`: barriers, entry and ATR all on Heikin-Ashi prices computed by
    `edgelab.features.candles.heikin_ashi` (on the bid/ask mid when the bars carry both).
    """
    tp = check_positive_float("tp_atr", tp_atr)
    sl = check_positive_float("sl_atr", sl_atr)
    window = check_positive_int("atr_window", atr_window, minimum=1)
    horizon = check_positive_int("max_horizon", max_horizon, minimum=1)
    check_bars(
        bars,
        columns=OHLC,
        min_rows=window + 2,
        what="barrier labels",
        need=f"ATR({window}) warm-up of {window} bars, then an entry and one bar after it",
    )
    prices = barrier_prices(bars, heikin_ashi=heikin_ashi)
    o, h, lo, c = (prices[k].to_numpy(dtype=np.float64) for k in OHLC)
    if heikin_ashi:
        # the HA transform could introduce NaN (e.g. a warm-up row); name it rather than walk it
        check_bars(prices, columns=OHLC, min_rows=window + 2, what="barrier labels (Heikin-Ashi)")
    atr = talib.ATR(h, lo, c, timeperiod=window)
    code, end_idx = _barrier_label_kernel(o, h, lo, c, atr, tp, sl, horizon)
    params = {
        "tp_atr": tp,
        "sl_atr": sl,
        "atr_window": window,
        "max_horizon": horizon,
        "heikin_ashi": bool(heikin_ashi),
    }
    return Labels(
        frame=make_frame(bars.index, code, end_idx),
        label_map=dict(BARRIER_LABEL_MAP),
        horizon=horizon,
        kind="barrier",
        params=params,
        label_sign={HOLD: 0, LONG: 1, SHORT: -1},
    )
