"""A fake Binance REST server on 127.0.0.1 for the downloader tests.

It speaks the public endpoints ccxt's `binance` (spot) and `binanceusdm` (USD-M futures)
use to load markets and fetch klines and funding rates, in Binance's wire format:

- ``GET /api/v3/exchangeInfo``, ``/fapi/v1/exchangeInfo``: minimal but real-shaped market lists;
- ``GET /api/v3/klines``, ``/fapi/v1/klines`` with symbol, interval, startTime, endTime,
  limit: 12-field arrays, prices as strings, like the real API (openTime >= startTime and
  <= endTime, the first `limit` of them; without startTime the latest `limit`);
- ``GET /fapi/v1/fundingRate`` with symbol, startTime, endTime, limit;
- ``GET /api/v3/time``.

Faults are scripted per kline request number (1-based, counting every kline request) with
`script`, or forever from some request on with `fail_from`: ``"429"`` (with Retry-After),
``"500"``, ``"malformed"`` (a 200 with a truncated JSON body) and ``"drop"`` (the connection
is closed without an answer). `log` records every kline request and what it got.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from edgelab.data.sources.ccxt_exchange import make_exchange
from edgelab.data.sources.retry import RetryPolicy

MINUTE = 60_000
HOUR = 3_600_000
T0 = 1_700_000_000_000 // HOUR * HOUR  # 2023-11-14 22:00 UTC, an hour boundary
FAST = RetryPolicy(attempts=6, base_delay=0.001, max_delay=0.01, seed=0)
_STEPS = {
    "1m": MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "1h": HOUR,
    "4h": 4 * HOUR,
    "1d": 24 * HOUR,
}


def make_series(start_ms: int, step_ms: int, n: int, *, gaps=(), seed: int = 0) -> np.ndarray:
    """`n` bars as rows (open_ms, open, high, low, close, volume) from `start_ms`, with the bars
    whose positions fall in any `gaps` (half-open position ranges) left out, as an exchange
    outage would. Prices are a seeded random walk rounded to cents, so string round trips are
    exact."""
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.round(np.concatenate(([100.0], close[:-1])), 2)
    high = np.round(np.maximum(open_, close) + rng.uniform(0, 0.5, n), 2)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, 0.5, n), 2)
    volume = np.round(rng.uniform(1, 1000, n), 3)
    opens = start_ms + step_ms * np.arange(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    for a, b in gaps:
        keep[a:b] = False
    rows = np.column_stack([opens, open_, high, low, close, volume])
    return rows[keep]


@dataclass
class LoggedRequest:
    path: str
    params: dict[str, str]
    outcome: str  # "ok", or the fault served
    rows: list[int] = field(default_factory=list)  # open times served when ok


def _kline(row, step_ms: int) -> list:
    t, o, h, low, c, v = row
    t = int(t)
    return [
        t,
        f"{o:.8f}",
        f"{h:.8f}",
        f"{low:.8f}",
        f"{c:.8f}",
        f"{v:.8f}",
        t + step_ms - 1,
        f"{v * c:.8f}",
        42,
        f"{v / 2:.8f}",
        f"{v * c / 2:.8f}",
        "0",
    ]


def _spot_symbol(base: str, quote: str) -> dict:
    return {
        "symbol": base + quote,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _futures_symbol(base: str, quote: str) -> dict:
    return {
        "symbol": base + quote,
        "pair": base + quote,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "556.80",
                "maxPrice": "4529764",
                "tickSize": "0.10",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.001",
                "maxQty": "120",
                "stepSize": "0.001",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


class FakeBinance:
    """The server. `klines[(market_id, interval)]` holds rows from `make_series`;
    `funding[market_id]` holds (time_ms, rate) rows. Use as a context manager."""

    def __init__(self, *, now_ms: int, retry_after: int = 1):
        self.now_ms = now_ms
        self.retry_after = retry_after
        self.klines: dict[tuple[str, str], np.ndarray] = {}
        self.futures_klines: dict[tuple[str, str], np.ndarray] = {}
        self.funding: dict[str, list[tuple[int, float]]] = {}
        self.spot_pairs = [("BTC", "USDT"), ("ETH", "USDT")]
        self.futures_pairs = [("BTC", "USDT")]
        self.honour_end_time = True  # False: act like an exchange that ignores endTime
        self.max_limit = 1000  # lower: act like an exchange capping pages below ccxt's limit
        self.delay = 0.0  # seconds before each data answer
        self.script: dict[int, str] = {}
        self.fail_from: int | None = None
        self.log: list[LoggedRequest] = []
        self.other_paths: list[str] = []
        self._count = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        if getattr(self, "_url", None):  # a stand-in for a server in another process
            return self._url
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeBinance:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def ok_requests(self) -> list[LoggedRequest]:
        return [r for r in self.log if r.outcome == "ok"]

    def served_opens(self) -> list[int]:
        """Every bar open time answered with data, in order, repeats included."""
        return [t for r in self.ok_requests() for t in r.rows]

    def point(self, exchange) -> None:
        """Aim a ccxt binance/binanceusdm instance at this server."""
        api = exchange.urls["api"]
        api["public"] = f"{self.url}/api/v3"
        api["fapiPublic"] = f"{self.url}/fapi/v1"

    # ------------------------------------------------------------------ request handling
    def _fault_for_next_kline(self) -> str | None:
        with self._lock:
            self._count += 1
            n = self._count
        if self.fail_from is not None and n >= self.fail_from:
            return "500"
        return self.script.get(n)

    def _klines(self, table, params) -> tuple[list, list[int]]:
        key = (params["symbol"], params["interval"])
        rows = table.get(key)
        if rows is None:
            return None, []
        step = _STEPS[params["interval"]]
        limit = min(int(params.get("limit", 500)), self.max_limit)
        opens = rows[:, 0].astype(np.int64)
        mask = opens <= self.now_ms  # the current bar exists, still changing
        if "startTime" in params:
            mask &= opens >= int(params["startTime"])
        if "endTime" in params and self.honour_end_time:
            mask &= opens <= int(params["endTime"])
        picked = rows[mask]
        picked = picked[:limit] if "startTime" in params else picked[-limit:]
        return [_kline(r, step) for r in picked], [int(t) for t in picked[:, 0]]

    def _funding(self, params) -> tuple[list, list[int]]:
        rows = self.funding.get(params["symbol"], [])
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        limit = min(int(params.get("limit", 100)), 1000)
        picked = [(t, r) for t, r in rows if start <= t <= end and t <= self.now_ms][:limit]
        body = [
            {
                "symbol": params["symbol"],
                "fundingTime": t,
                "fundingRate": f"{r:.8f}",
                "markPrice": "100.0",
            }
            for t, r in picked
        ]
        return body, [t for t, _ in picked]

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: str, headers: dict | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                if url.path == "/api/v3/exchangeInfo":
                    info = [_spot_symbol(b, q) for b, q in fake.spot_pairs]
                    return self._send(200, json.dumps(_exchange_info(info, fake.now_ms)))
                if url.path == "/fapi/v1/exchangeInfo":
                    info = [_futures_symbol(b, q) for b, q in fake.futures_pairs]
                    return self._send(200, json.dumps(_exchange_info(info, fake.now_ms)))
                if url.path in ("/api/v3/time", "/fapi/v1/time"):
                    return self._send(200, json.dumps({"serverTime": fake.now_ms}))
                if url.path in ("/api/v3/klines", "/fapi/v1/klines", "/fapi/v1/fundingRate"):
                    return self._data(url.path, params)
                fake.other_paths.append(url.path)
                return self._send(404, json.dumps({"code": -1, "msg": "not served by the fake"}))

            def _data(self, path: str, params: dict) -> None:
                if fake.delay:
                    time.sleep(fake.delay)
                fault = fake._fault_for_next_kline()
                entry = LoggedRequest(path, params, fault or "ok")
                fake.log.append(entry)
                if fault == "429":
                    body = json.dumps({"code": -1003, "msg": "Too many requests; IP banned"})
                    return self._send(429, body, {"Retry-After": str(fake.retry_after)})
                if fault == "500":
                    return self._send(500, "<html>Internal Server Error</html>")
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # socket.SHUT_RDWR: no status line at all
                    return None
                if path == "/fapi/v1/fundingRate":
                    body, opens = fake._funding(params)
                else:
                    table = fake.klines if path.startswith("/api") else fake.futures_klines
                    body, opens = fake._klines(table, params)
                    if body is None:
                        entry.outcome = "bad symbol"
                        msg = {"code": -1121, "msg": "Invalid symbol."}
                        return self._send(400, json.dumps(msg))
                text = json.dumps(body)
                if fault == "malformed":
                    return self._send(200, text[: len(text) // 2])
                entry.rows = opens
                return self._send(200, text)

        return Handler


def _exchange_info(symbols: list[dict], now_ms: int) -> dict:
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }


def clock_at(ms: int):
    """A fixed clock for the downloaders."""
    return lambda: pd.Timestamp(ms, unit="ms", tz="UTC")


def binance_for(server: FakeBinance, futures: bool = False):
    """A ccxt client built by edgelab's `make_exchange`, aimed at `server`."""
    exchange = make_exchange("binance", futures=futures, timeout_ms=3000)
    server.point(exchange)
    exchange.rateLimit = 1  # keep ccxt's throttle, but fast
    return exchange
