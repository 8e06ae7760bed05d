"""`edgelab data download | update | cached | list` end to end, against the fake Binance and
yfinance's own frame assembly over a fake Ticker (no network)."""

from __future__ import annotations

import pandas as pd
import pytest
import yfinance as yf
import yfinance.multi
from fake_exchange import HOUR, T0, binance_for
from fake_yahoo import FakeTicker
from typer.testing import CliRunner

from edgelab.cli import app, main
from edgelab.data.sources import ccxt_source, yahoo
from edgelab.data.store import BarStore

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")


@pytest.fixture
def cli_env(fake, monkeypatch, tmp_path):
    """CLI commands reach the fake exchange and see the fake's clock; data in tmp_path."""
    real_make = ccxt_source.make_exchange

    def make_exchange(name, *, futures=False, **kw):
        if name != "binance":
            return real_make(name, futures=futures, **kw)
        return binance_for(fake, futures=futures)

    monkeypatch.setattr(ccxt_source, "make_exchange", make_exchange)
    monkeypatch.setattr(
        ccxt_source, "utc_now", lambda: pd.Timestamp(fake.now_ms, unit="ms", tz="UTC")
    )
    return tmp_path / "data"


def invoke(*args):
    result = runner.invoke(app, ["data", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_download_then_cached_then_update(fake, cli_env):
    out = invoke(
        "download",
        "binance",
        "BTC/USDT",
        "ETH/USDT",
        "1h",
        "--limit",
        "200",
        "--data-dir",
        str(cli_env),
    )
    assert "BTC/USDT" in out and "ETH/USDT" in out
    store = BarStore(cli_env)
    btc = store.read("binance", "BTC/USDT", "1h")
    assert len(btc) == 200 and btc.index[-1] == pd.Timestamp(T0 + 2499 * HOUR, unit="ms", tz="UTC")

    listing = invoke("cached", "--data-dir", str(cli_env))
    assert "BTC/USDT" in listing and "200" in listing
    assert invoke("list", "--data-dir", str(cli_env)) == listing

    fake.now_ms += 3 * HOUR
    fake.log.clear()
    out = invoke("update", "--data-dir", str(cli_env))
    assert len(store.read("binance", "BTC/USDT", "1h")) == 203
    assert len(store.read("binance", "ETH/USDT", "1h")) == 203
    assert sorted(int(r.params["startTime"]) for r in fake.log) == [T0 + 2500 * HOUR] * 2


def test_env_var_sets_the_store(fake, cli_env, monkeypatch):
    monkeypatch.setenv("EDGELAB_DATA_DIR", str(cli_env))
    invoke("download", "binance", "BTC/USDT", "1h", "--limit", "5")
    assert len(BarStore(cli_env).read("binance", "BTC/USDT", "1h")) == 5


def test_yahoo_download(monkeypatch, tmp_path):
    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    monkeypatch.setattr(yahoo, "yf_download", lambda tickers, **kw: yf.download(tickers, **kw))
    monkeypatch.setattr(yahoo, "utc_now", lambda: pd.Timestamp("2024-01-21 12:00", tz="UTC"))
    out = invoke(
        "download",
        "yahoo",
        "BTC-USD",
        "^GSPC",
        "1d",
        "--start",
        "2024-01-01",
        "--data-dir",
        str(tmp_path),
    )
    assert "^GSPC" in out
    assert len(BarStore(tmp_path).read("yahoo", "^GSPC", "1d")) == 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["binanse", "BTC/USDT", "1h", "--limit", "5"], "did you mean 'binance'"),
        (["binance", "1h"], "expected EXCHANGE_OR_yahoo SYMBOL... INTERVAL"),
        (["binance", "BTC/USDT", "1h", "--start", "yesterday-ish"], "is not a date"),
        (["binance", "BTC/USDT", "1h", "--months", "2", "--limit", "3"], "only one of"),
        (["yahoo", "BTC-USD", "4h", "--limit", "3"], "unknown Yahoo interval '4h'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["data", "download", *args, "--data-dir", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_cached_on_an_empty_store(tmp_path):
    assert "nothing cached" in invoke("cached", "--data-dir", str(tmp_path))
