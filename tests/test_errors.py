import pytest

from edgelab.cli import main
from edgelab.errors import DataError, did_you_mean, unknown_name


def test_did_you_mean_suggests_the_closest_name():
    assert did_you_mean("lstn", ["lstm", "gru"]) == " (did you mean 'lstm'?)"
    assert did_you_mean("zzzz", ["lstm", "gru"]) == ""
    assert unknown_name("model", "lstn", ["lstm", "gru"]) == (
        "unknown model 'lstn' (did you mean 'lstm'?); known: gru, lstm"
    )


def test_data_error_names_where_and_fix():
    err = DataError(
        "text in a price column", where="prices.csv, column 'close', row 17", fix="clean it"
    )
    assert str(err) == "prices.csv, column 'close', row 17: text in a price column (clean it)"


def test_cli_unknown_command_is_exit_2_without_traceback(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
