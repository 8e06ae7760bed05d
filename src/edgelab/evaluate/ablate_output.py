"""The folder of `edgelab ablate`: `runs/<UTC time>-<name>-ablation/` with
`ablation.csv` (one row per variant and model, every number), `ablation.md` (the same
as a Markdown table, intervals in brackets), `report.html` (self-contained) and
`summary.json` (the variants, their run folders, and the marker that makes the trial
counter pass over this folder). Writes are atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["markdown_table", "write_ablation"]

ABOUT = (
    "Each variant is one `edgelab run` on the same data and split rules; intervals are "
    "block-bootstrap intervals on the test span. `dsr` and `edge` are as each run reported "
    "them (trials counted up to that run); `dsr_final` and `edge_final` count every run "
    "on the same data after the last variant, the honest figure when choosing among them."
)


def _num(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "not shown"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}f}"
    return str(value)


def display_rows(table: pd.DataFrame) -> list[dict[str, str]]:
    """The comparison with intervals folded into `estimate [low, high]` strings."""
    rows = []
    for r in table.to_dict("records"):
        rows.append(
            {
                "variant": str(r["variant"]),
                "model": str(r["model"]),
                "AUC [interval]": f"{_num(r['auc'], 3)} [{_num(r['auc_low'], 3)}, {_num(r['auc_high'], 3)}]",
                "Sharpe [interval]": f"{_num(r['sharpe'], 2)} [{_num(r['sharpe_low'], 2)}, {_num(r['sharpe_high'], 2)}]",
                "return": _num(r["total_return"], 4),
                "trades": _num(r["n_trades"], 0),
                "DSR (final)": _num(r["dsr_final"], 2),
                "edge after costs (final)": _num(r["edge_final"], 0),
                "run": str(r["run"]),
            }
        )
    return rows


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of `display_rows`."""
    rows = display_rows(table)
    if not rows:
        return "(no variants)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(r[c].replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_ablation(config, runs_dir: Path, table: pd.DataFrame, variants, full: bool) -> Path:
    """Write the ablation folder (module doc) and return it."""
    from edgelab.config import dump_config
    from edgelab.evaluate.trials import SUMMARY_FILE
    from edgelab.report.html import CSS, _esc
    from edgelab.report.html import table as html_table
    from edgelab.track.runs import create_run_dir, write_json_atomic, write_text_atomic

    folder = create_run_dir(runs_dir, f"{config.name}-ablation")
    write_text_atomic(folder / "ablation.csv", table.to_csv(index=False))
    header = f"# Ablation: {config.name}\n\n{ABOUT}\n\n"
    grid = "one factor at a time" if not full else "every combination"
    write_text_atomic(folder / "ablation.md", header + f"Grid: {grid}.\n\n" + markdown_table(table))
    summary = {
        "kind": "ablation",
        "about": "a summary of the run folders below, not a run (not counted as a trial)",
        "grid": grid,
        "variants": [
            {"name": v.name, "changes": v.changes, "config_name": v.config.name} for v in variants
        ],
        "runs": sorted(set(table["run"])),
    }
    write_json_atomic(folder / SUMMARY_FILE, summary)
    body = (
        f"<h1>Ablation: {_esc(config.name)}</h1><p class='muted'>{_esc(ABOUT)}</p>"
        f"<p class='muted'>Grid: {_esc(grid)}; folder {_esc(folder)}</p>"
        + html_table(display_rows(table))
        + f"<h2>Base config</h2><pre>{_esc(dump_config(config))}</pre>"
    )
    html = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>ablation {_esc(config.name)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
    write_text_atomic(folder / "report.html", html)
    return folder
