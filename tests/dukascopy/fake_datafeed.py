"""Test doubles for Dukascopy: a `.bi5` writer and a fake datafeed on 127.0.0.1.

The writer builds files the way Dukascopy ships them, independently of the reader under
test: records packed with `struct` (big-endian ``>IIIff`` ticks, ``>IIIIIf`` candles) and
compressed with LZMA in the legacy "alone" container (``.lzma``: 13-byte header with
properties, dictionary size and length), which is what dukascopy-node (lzma-native /
lzma-purejs `decompressFile`) and Rust readers (`lzma_rs::lzma_decompress`) decode.

`FakeDatafeed` serves ``/datafeed/{INSTRUMENT}/{YYYY}/{MM0}/{DD}/{HH}h_ticks.bi5``; each path
maps to bytes (200), or to a list of faults consumed one per request before the bytes:
an HTTP status such as ``"503"`` or ``"403"`` (``"429"`` comes with
Retry-After: 0), ``"drop"`` (connection closed without
an answer), ``"short"`` (Content-Length larger than the body, then closed). Paths not in
the map answer 404. `log` records every requested path.
"""

from __future__ import annotations

import lzma
import struct
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd

H0 = pd.Timestamp("2019-02-04 00:00", tz="UTC")  # a Monday; path EURUSD/2019/01/04/00h
TICK = struct.Struct(">IIIff")
CANDLE = struct.Struct(">IIIIIf")


def lzma_alone(payload: bytes, preset: int = 6) -> bytes:
    """LZMA in the legacy .lzma ('alone') container, like real .bi5 files."""
    return lzma.compress(payload, format=lzma.FORMAT_ALONE, preset=preset)


def tick_file(records) -> bytes:
    """`.bi5` bytes of tick records (ms, ask_points, bid_points, ask_volume, bid_volume);
    b"" for no records (Dukascopy's empty hour)."""
    records = list(records)
    if not records:
        return b""
    return lzma_alone(b"".join(TICK.pack(*r) for r in records))


def candle_file(records) -> bytes:
    """`.bi5` bytes of candle records (sec, open, close, low, high, volume)."""
    return lzma_alone(b"".join(CANDLE.pack(*r) for r in records))


def hour_path(instrument: str, hour: pd.Timestamp) -> str:
    """Written out by hand (not with the code under test): 0-based month."""
    return (
        f"/datafeed/{instrument}/{hour.year}/{hour.month - 1:02d}/{hour.day:02d}/"
        f"{hour.hour:02d}h_ticks.bi5"
    )


def random_hour(seed: int, n: int = 200, *, start_points: int = 110_000) -> list[tuple]:
    """`n` plausible EURUSD-like tick records in one hour, sorted by time."""
    rng = np.random.default_rng(seed)
    ms = np.sort(rng.integers(0, 3_600_000, n))
    bid = start_points + np.cumsum(rng.integers(-3, 4, n))
    ask = bid + rng.integers(1, 6, n)
    ask_vol = np.round(rng.uniform(0.5, 5, n), 2).astype(np.float32)
    bid_vol = np.round(rng.uniform(0.5, 5, n), 2).astype(np.float32)
    return [
        (int(m), int(a), int(b), float(av), float(bv))
        for m, a, b, av, bv in zip(ms, ask, bid, ask_vol, bid_vol, strict=True)
    ]


class FakeDatafeed:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port (context manager)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.log: list[str] = []
        self._lock = threading.Lock()
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                with feed._lock:
                    feed.log.append(self.path)
                    fault = feed.faults[self.path].pop(0) if feed.faults[self.path] else None
                body = feed.files.get(self.path)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if (fault or "").isdigit() or body is None:
                    code = int(fault) if fault else 404
                    self.send_response(code)
                    if code == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body) + (50 if fault else 0)))
                self.end_headers()
                self.wfile.write(body)
                if fault == "short":  # promised more bytes than sent: a cut transfer
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/datafeed"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakeDatafeed:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def put(self, instrument: str, hour: pd.Timestamp, body: bytes, *faults: str) -> str:
        path = hour_path(instrument, hour)
        self.files[path] = body
        self.faults[path] = list(faults)
        return path

    def requests(self, path: str) -> int:
        return sum(p == path for p in self.log)
