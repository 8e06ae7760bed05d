"""Trials counted from the run history, for the deflated Sharpe ratio.

This module owns the answer to "how many configurations were tried on this data?",
which the deflated Sharpe ratio needs and which a user should not have to type:

- Every run folder under the runs directory whose recorded data fingerprint equals the
  current one is part of the search, and every model it backtested is one trial
  (baselines included: they were looked at too).
- The data fingerprint of a run is `data_fingerprint` of the per-asset SHA-256s that
  `edgelab.track.runs.provenance` writes under `provenance.fingerprints` in the run's
  `config.yaml`; each trial's Sharpe ratio is `models.<name>.backtest.sharpe` (annualized)
  with `periods_per_year` from `metrics.json`, turned into a per-bar Sharpe ratio.
- Folders that cannot be read (no `config.yaml`, no `metrics.json`, malformed files) are
  not counted and are listed in `TrialHistory.skipped` with the reason, so the report can
  say what was left out.
- A folder holding `summary.json` (`SUMMARY_FILE`) is not a trial and is passed over: an
  ablation's comparison table (its variants are ordinary run folders and count), or an
  `edgelab cv` model-selection run (it never sees the test span, so it backtests nothing).

Reads files only; writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgelab.errors import DataError

__all__ = [
    "SUMMARY_FILE",
    "Trial",
    "TrialHistory",
    "collect_trials",
    "data_fingerprint",
    "run_fingerprint",
]


#: Marks a folder under the runs directory that summarizes other runs (not a trial).
SUMMARY_FILE = "summary.json"


def data_fingerprint(fingerprints: dict[str, str]) -> str:
    """One SHA-256 (hex) for a run's inputs from its per-asset fingerprints
    (`provenance.fingerprints`): equal iff the same assets have the same data."""
    if not fingerprints:
        raise DataError("no data fingerprints given; a run records one per asset")
    text = "\n".join(f"{asset}={fingerprints[asset]}" for asset in sorted(fingerprints))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Trial:
    """One model backtested in one run: its annualized Sharpe ratio after costs."""

    run: str
    model: str
    sharpe: float | None
    periods_per_year: float | None

    @property
    def sharpe_per_bar(self) -> float | None:
        """sharpe / sqrt(periods_per_year); None when either is missing or not finite."""
        s, ppy = self.sharpe, self.periods_per_year
        if s is None or ppy is None or not (math.isfinite(s) and ppy > 0):
            return None
        return s / math.sqrt(ppy)


@dataclass(frozen=True)
class TrialHistory:
    """The trials on one data fingerprint, and the run folders that were not read."""

    fingerprint: str
    trials: list[Trial]
    skipped: list[str] = field(default_factory=list)

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def runs(self) -> list[str]:
        return sorted({t.run for t in self.trials})

    def sharpes_per_bar(self) -> list[float]:
        """Per-bar Sharpe ratios of the trials that have one (NaN Sharpe: left out)."""
        return [s for s in (t.sharpe_per_bar for t in self.trials) if s is not None]

    def var_sharpe_per_bar(self) -> float | None:
        """Sample variance (ddof=1) of the per-bar Sharpe ratios; None with fewer than 2."""
        values = self.sharpes_per_bar()
        return float(np.var(values, ddof=1)) if len(values) >= 2 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "n_trials": self.n_trials,
            "runs": self.runs,
            "var_sharpe_per_bar": self.var_sharpe_per_bar(),
            "skipped": list(self.skipped),
        }


def _read_yaml(path: Path) -> Any:
    with path.open() as fh:
        return yaml.safe_load(fh)


def run_fingerprint(run_dir: str | os.PathLike) -> str:
    """The data fingerprint recorded in a run folder's `config.yaml`.

    Raises DataError naming the file when it is missing or has no
    `provenance.fingerprints` block.
    """
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise DataError("no config.yaml", where=str(path.parent), fix="not a finished run folder")
    try:
        data = _read_yaml(path)
    except yaml.YAMLError as exc:
        raise DataError(f"malformed YAML ({exc.__class__.__name__})", where=str(path)) from None
    prints = (
        ((data or {}).get("provenance") or {}).get("fingerprints")
        if isinstance(data, dict)
        else None
    )
    if not isinstance(prints, dict) or not prints:
        raise DataError(
            "no provenance.fingerprints block", where=str(path), fix="written by an older edgelab?"
        )
    return data_fingerprint({str(k): str(v) for k, v in prints.items()})


def _run_trials(run_dir: Path) -> list[Trial]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise DataError("no metrics.json", where=str(run_dir), fix="the run did not finish")
    try:
        metrics = json.loads(path.read_text())
        models = metrics["models"]
        out = []
        for name, m in models.items():
            bt = m.get("backtest") or {}
            sharpe, ppy = bt.get("sharpe"), bt.get("periods_per_year")
            out.append(
                Trial(
                    run_dir.name,
                    str(name),
                    None if sharpe is None else float(sharpe),
                    None if ppy is None else float(ppy),
                )
            )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"malformed metrics.json ({exc!r})", where=str(path)) from None
    return out


def collect_trials(runs_dir: str | os.PathLike, fingerprint: str) -> TrialHistory:
    """All trials on data `fingerprint` (see `data_fingerprint`) under `runs_dir`.

    Each sub-folder of `runs_dir` is read; those with another fingerprint are ignored,
    unreadable ones are listed in `skipped` ("<folder>: <reason>"). Folders are visited
    in name order (the UTC time prefix), so the result is deterministic.
    """
    root = Path(runs_dir)
    trials: list[Trial] = []
    skipped: list[str] = []
    if not root.is_dir():
        return TrialHistory(fingerprint, trials, skipped)
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (run_dir / SUMMARY_FILE).is_file():
            continue  # a summary of other runs (e.g. an ablation), not a run
        try:
            if run_fingerprint(run_dir) != fingerprint:
                continue
            trials.extend(_run_trials(run_dir))
        except DataError as exc:
            skipped.append(f"{run_dir.name}: {exc}")
    return TrialHistory(fingerprint, trials, skipped)
