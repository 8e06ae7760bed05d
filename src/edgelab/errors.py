"""The one exception hierarchy of edgelab.

Every error a user can cause derives from `EdgelabError`; the CLI prints its message on
one line and exits with code 2. Anything else is a bug (exit code 1). Messages say what is
wrong, where (file, column, row, field) and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EdgelabError(Exception):
    """Base of every user-facing error (bad input, bad config, missing data)."""

    exit_code = 2


class ConfigError(EdgelabError):
    """A configuration value or key is invalid."""


class DataError(EdgelabError):
    """Market data cannot be read or violates the Bars contract.

    `where` names the file, column and/or first offending row, e.g.
    ``prices.csv, column 'close', row 17``.
    """

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.where = where
        self.fix = fix
        text = f"{where}: {message}" if where else message
        if fix:
            text = f"{text} ({fix})"
        super().__init__(text)


class SourceError(EdgelabError):
    """A data source name or its parameters are unknown or invalid."""


class DownloadError(EdgelabError):
    """A download failed after its retries, or the remote answered with invalid data."""


class FeatureError(EdgelabError):
    """A feature or feature set cannot be computed on the given bars."""


class LabelError(EdgelabError):
    """Labels cannot be computed on the given bars."""


class ModelError(EdgelabError):
    """A model name, bundle or its use is invalid."""


class BacktestError(EdgelabError):
    """Positions, costs or bars given to the backtest are inconsistent."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return `" (did you mean 'x'?)"` for the closest choice, or `""` when none is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def unknown_name(kind: str, word: str, choices: Iterable[str]) -> str:
    """Message for an unknown registry name: `unknown model 'lstn' (did you mean 'lstm'?); known: ...`."""
    choices = sorted(choices)
    return f"unknown {kind} '{word}'{did_you_mean(word, choices)}; known: {', '.join(choices)}"
