"""ccxt clients for edgelab's downloads: building one, calling it with retries, and
checking symbols and intervals against its markets before anything is fetched.

`Caller` retries network errors, timeouts, 5xx (`ExchangeNotAvailable`), 418/429
(`DDoSProtection`, `RateLimitExceeded`) and malformed bodies (`MalformedResponse`) with
the back-off of a `RetryPolicy`, honouring a ``Retry-After`` header read from
`exchange.last_response_headers`; anything else (unknown symbol, bad arguments) fails
at once. ccxt is an optional dependency, imported on use.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from edgelab.data.sources.retry import RetryPolicy, backoff_seconds, retry_after_seconds
from edgelab.data.store import to_step_ms
from edgelab.errors import DownloadError, SourceError, did_you_mean, unknown_name

BINANCE_FAMILY = ("binance", "binanceusdm", "binancecoinm", "binanceus")


def import_ccxt():
    """The ccxt module, or a SourceError saying how to install it."""
    try:
        import ccxt
    except ImportError as exc:  # an optional dependency: say how to get it
        raise SourceError("exchange downloads need ccxt: pip install 'edgelab[download]'") from exc
    return ccxt


class MalformedResponse(Exception):
    """The exchange answered with a body that is not the JSON it should be (retried)."""


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
        ccxt = import_ccxt()
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
        ccxt = import_ccxt()
        if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            wait = retry_after_seconds(self.exchange.last_response_headers)
            if wait is not None:
                if wait > self.policy.max_retry_after:
                    raise DownloadError(
                        f"{self.exchange.id} rate-limits this client for {wait:.0f} s "
                        f"(Retry-After); try again later"
                    ) from exc
                return wait
        return backoff_seconds(self.policy, attempt, self.rng)


def make_exchange(name: str, *, futures: bool = False, timeout_ms: int = 30_000):
    """A rate-limited ccxt client for `name` (any of `ccxt.exchanges`), public data only.

    With `futures`, Binance becomes `binanceusdm` (USD-M perpetuals) and other exchanges get
    ``options.defaultType = "swap"``. Markets are loaded lazily by the downloaders.
    """
    ccxt = import_ccxt()
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


def page_limit(exchange, symbol: str) -> int:
    """Bars per request: ccxt's declared maximum for this market type (500 if undeclared)."""
    market = exchange.markets.get(symbol, {})
    kind = market.get("type") or "spot"
    features = (exchange.features or {}).get(kind) or {}
    if kind != "spot" and isinstance(features, dict):
        features = features.get("linear" if market.get("linear", True) else "inverse") or features
    limit = ((features or {}).get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else 500
