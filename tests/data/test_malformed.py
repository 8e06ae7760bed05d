"""Every file of the malformed corpus exits 2 with a one-line message naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelab.cli import main

CORPUS = Path(__file__).parent / "malformed"

# file -> words the one-line message must contain (the problem, and where it is)
EXPECTED = {
    "alias_collision.csv": ["'Close' and 'Last' both give 'close'"],
    "ambiguous_dates.csv": ["day- or month-first", "--dayfirst"],
    "bad_time_text.csv": ["cannot read 'yesterday' as a time", "column 'Date', line 4"],
    "bid_above_ask.csv": ["bid above ask", "line 4"],
    "binary.csv": ["not UTF-8"],
    "blank_lines_only.csv": ["empty file"],
    "candles_empty.json": ["symbol 'EURUSD'", "no candles"],
    "candles_no_symbol.json": ["entry 1 has no 'symbol'"],
    "candles_text_price.json": ["column 'h', row 2", "'two' where a number is expected"],
    "duplicate_timestamps.csv": ["duplicate timestamps", "line 5"],
    "duplicated_column.csv": ["duplicated column 'Close'"],
    "empty.csv": ["empty file"],
    "empty_price_field.csv": ["NaN", "line 5"],
    "epoch_mixed_units.csv": ["outside 1990..2100 in ms", "line 5"],
    "epoch_out_of_range.csv": ["123456 is not an epoch time", "line 2"],
    "extra_fields.csv": ["7 fields where the header has 6", "line 4"],
    "garbage.json": ["not valid JSON"],
    "header_only.csv": ["header only"],
    "headerless_7_columns.csv": ["no header row and 7 columns"],
    "high_below_close.csv": ["high < max(open, close)", "line 4"],
    "high_below_low.csv": ["high < low", "line 4"],
    "low_above_open.csv": ["low > min(open, close)", "line 4"],
    "missing_close.csv": ["missing close column"],
    "missing_time.csv": ["missing time", "column 'Date', line 4"],
    "mixed_timezones.csv": ["with and without UTC offset", "line 5"],
    "naive_timestamps.csv": ["no time zone", "--tz UTC"],
    "nan_price.csv": ["NaN", "line 5"],
    "negative_volume.csv": ["negative volume", "line 6"],
    "no_time_column.csv": ["missing time column"],
    "not_feather.feather": ["cannot read as Feather"],
    "not_parquet.parquet": ["cannot read as Parquet"],
    "one_column.csv": ["only one column", "delimiter"],
    "spreadsheet.xlsx": ["unknown file type '.xlsx'"],
    "text_in_price.csv": ["'abc' where a number is expected", "column 'Low', line 4"],
    "truncated_row.csv": ["3 fields where the header has 6", "truncated", "line 5"],
    "unsorted.csv": ["out of time order", "line 4"],
    "wrong_delimiter.csv": ["wrong delimiter", "';'", "line 4"],
    "wrong_layout.json": ["unknown JSON layout"],
    "zero_price.csv": ["price <= 0", "line 3"],
}


def test_corpus_and_table_agree():
    files = sorted(p.name for p in CORPUS.iterdir())
    assert len(files) >= 15
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_exits_2_with_one_line(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "validate", str(CORPUS / name)])
    assert exit_info.value.code == 2
    out = capsys.readouterr()
    message = out.err.strip()
    assert "Traceback" not in out.err + out.out
    assert message.startswith(f"error: {name}")
    assert "\n" not in message
    for words in EXPECTED[name]:
        assert words in message


@pytest.mark.parametrize("name", ["unsorted.csv", "duplicate_timestamps.csv", "nan_price.csv"])
def test_repair_policy_accepts_repairable_files(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "validate", str(CORPUS / name), "--policy", "repair"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "repairs:" in out
    assert "NOT OK" in out


def _write_good(tmp_path):
    rows = "".join(
        f"2024-01-01T{h:02d}:00:00Z,{100 + h},{101.5 + h},{99 + h},{100.5 + h},{10 + h}\n"
        for h in range(24)
    )
    path = tmp_path / "good.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n" + rows)
    return path


def test_validate_prints_the_report(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "validate", str(_write_good(tmp_path))])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "good.csv" in out and "24 kept of 24" in out and "1h" in out


def test_validate_json(tmp_path, capsys):
    import json

    with pytest.raises(SystemExit):
        main(["data", "validate", str(_write_good(tmp_path)), "--json", "--interval", "1h"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["good"]["ok"] is True and doc["good"]["rows_out"] == 24
    assert doc["good"]["interval"] == "1h"


def test_validate_unknown_policy(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "validate", str(_write_good(tmp_path)), "--policy", "lenient"])
    assert exit_info.value.code == 2
    assert "unknown policy 'lenient'" in capsys.readouterr().err
