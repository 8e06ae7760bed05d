"""The self-contained `report.html` of a run: opens offline, no CDN, no scripts.

This module owns the report's layout. Everything is inlined: the CSS in a `<style>`
block and every plot as a base64 PNG `data:` URI, so the one file can be mailed or
archived and still shows everything. Sections: warnings (a deliberate leak), run
summary, leaderboard (AUC and Sharpe with their bootstrap intervals, deflated Sharpe,
verdict), extra sections (a walk-forward's folds), data (sources, spans, quality
findings, fingerprints), split, per model (the verdict box: "edge after costs: yes /
not shown", its interval, deflated Sharpe, trials counted and a caution; prediction
metrics; intervals; calibration; thresholds; the paired test against the best
baseline; backtest KPIs; plots; trades), and the resolved config. Text from data or
configs is HTML-escaped.

`render_report(report)` returns the HTML text; `write_report(path, report)` writes it
atomically. `report` is a `ReportData` the pipeline fills.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from edgelab.track.runs import write_text_atomic

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
h3{margin-top:24px}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}tr:nth-child(even) td{background:#fafafa}
.muted{color:#777;font-size:13px}pre{background:#f7f7f7;padding:12px;overflow-x:auto;font-size:12px}
img{max-width:100%;border:1px solid #eee;margin:4px 0}.plots{display:flex;flex-wrap:wrap;gap:8px}
.plots figure{margin:0;flex:1 1 520px}figcaption{font-size:12px;color:#555}
.neg{color:#b00}.pos{color:#070}details{margin:8px 0}
.verdict{border:2px solid #c90;background:#fff8e6;padding:8px 14px;margin:8px 0;max-width:900px}
.verdict.yes{border-color:#070;background:#effaef}.verdict p{margin:3px 0;font-size:14px}
.verdict .label{font-weight:bold;font-size:16px}.warn{border:3px solid #b00;background:#fee;
padding:10px 14px;font-weight:bold;color:#900}
"""

PERCENT_KEYS = {"total_return", "cagr", "volatility", "max_drawdown", "exposure", "time_in_market",
                "hit_ratio", "average_trade", "accuracy", "balanced_accuracy", "sign_hit_rate",
                "gross_return", "net_return", "costs", "fees", "return", "max DD"}  # fmt: skip


HEADERS = {
    "auc": "ROC-AUC",
    "ic": "Spearman IC",
    "sign_hit_rate": "sign hit rate",
    "sharpe": "Sharpe",
    "total_return": "total return",
    "max_drawdown": "max drawdown",
    "return": "total return",
    "n_trades": "trades",
}


@dataclass
class ModelSection:
    """What the report shows for one model."""

    name: str
    type: str
    metrics: dict[str, Any]  # {"val": {...}, "test": {...}, "backtest": {...}}
    plots: list[tuple[str, Path]] = field(default_factory=list)
    trades: pd.DataFrame | None = None
    note: str = ""
    verdict: list[str] = field(default_factory=list)  # edge.verdict_lines; first = label
    edge: bool = False


@dataclass
class ReportData:
    """Everything the report needs; the pipeline fills it."""

    title: str
    run_dir: str
    summary: dict[str, Any]
    leaderboard: list[dict[str, Any]]
    data: dict[str, Any]
    split: dict[str, Any]
    config_yaml: str
    models: list[ModelSection]
    benchmark: dict[str, Any] = field(default_factory=dict)
    plots: list[tuple[str, Path]] = field(default_factory=list)
    trade_rows: int = 200
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # under the leaderboard
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, HTML) after it


def _esc(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any, key: str = "") -> str:
    """Display a metric: percentages for returns/rates, 4 significant digits otherwise."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if key in PERCENT_KEYS:
            return f"{100 * value:.2f}%"
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _cls(value: Any) -> str:
    if isinstance(value, float) and not math.isnan(value) and value != 0:
        return " class='pos'" if value > 0 else " class='neg'"
    return ""


def table(
    rows: list[dict[str, Any]], columns: list[str] | None = None, signed: set[str] = frozenset()
) -> str:
    """An HTML table of dict rows (first column left-aligned)."""
    if not rows:
        return "<p class='muted'>none</p>"
    columns = columns or list(rows[0])
    head = "".join(
        f"<th{' class=l' if i == 0 else ''}>{_esc(HEADERS.get(c, c))}</th>"
        for i, c in enumerate(columns)
    )
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(columns):
            v = row.get(c)
            attr = " class='l'" if i == 0 else (_cls(v) if c in signed else "")
            cells.append(f"<td{attr}>{_esc(fmt(v, c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv_table(values: dict[str, Any]) -> str:
    rows = [{"name": k, "value": v} for k, v in values.items() if not isinstance(v, dict | list)]
    if not rows:
        return "<p class='muted'>none</p>"
    body = "".join(
        f"<tr><td class='l'>{_esc(r['name'])}</td><td>{_esc(fmt(r['value'], r['name']))}</td></tr>"
        for r in rows
    )
    return f"<table><tbody>{body}</tbody></table>"


def image(path: Path, caption: str) -> str:
    """A figure with the PNG inlined as a data URI (no file reference left in the HTML)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{_esc(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _plots(plots: list[tuple[str, Path]]) -> str:
    shown = [image(p, t) for t, p in plots if Path(p).is_file()]
    return f"<div class='plots'>{''.join(shown)}</div>" if shown else ""


def _metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ["n", "accuracy", "balanced_accuracy", "roc_auc", "pr_auc", "brier", "log_loss",
            "precision_macro", "recall_macro", "f1_macro", "mae", "rmse", "spearman_ic",
            "sign_hit_rate"]  # fmt: skip
    rows = []
    for key in keys:
        if any(key in (metrics.get(s) or {}) for s in ("val", "test")):
            rows.append(
                {"metric": key, **{s: (metrics.get(s) or {}).get(key) for s in ("val", "test")}}
            )
    return [{**r, "val": r["val"], "test": r["test"]} for r in rows]


def _per_class(test: dict[str, Any]) -> str:
    per = test.get("per_class") or {}
    rows = [{"class": name, **vals} for name, vals in per.items()]
    return table(rows, ["class", "precision", "recall", "f1", "support"]) if rows else ""


def _trades(trades: pd.DataFrame | None, limit: int) -> str:
    if trades is None or len(trades) == 0:
        return "<p class='muted'>no trades</p>"
    shown = trades.head(limit)
    rows = shown.to_dict("records")
    note = (
        f"<p class='muted'>first {limit} of {len(trades)} trades</p>" if len(trades) > limit else ""
    )
    return note + table(rows, list(shown.columns), signed={"net_return", "gross_return"})


def verdict_box(lines: list[str], edge: bool) -> str:
    """The verdict box: the label in bold, then the plain-language lines."""
    if not lines:
        return ""
    body = "".join(f"<p>{_esc(line)}</p>" for line in lines[1:])
    return (
        f"<div class='verdict{' yes' if edge else ''}'><p class='label'>{_esc(lines[0])}</p>"
        f"{body}</div>"
    )


def _intervals(ci: dict[str, Any]) -> str:
    rows = [
        {"statistic": k, **{part: fmt(v.get(part), k) for part in ("estimate", "low", "high")},
         "level": v.get("level"), "block (bars)": v.get("block")}
        for k, v in ci.items() if isinstance(v, dict)
    ]  # fmt: skip
    if not rows:
        return ""
    return "<h4>Uncertainty (test, block bootstrap)</h4>" + table(rows)


def _calibration(cal: dict[str, Any] | None) -> str:
    if not cal:
        return ""
    rows = []
    for split in ("val", "test"):
        for which, scores in (cal.get(split) or {}).items():
            rows.append({"split": split, "probabilities": which, **scores})
    head = f"<h4>Calibration ({_esc(cal.get('method'))}, fitted on validation)</h4>"
    return head + table(rows, ["split", "probabilities", "ece", "mce", "brier", "n_bins"])


def _thresholds(thr: dict[str, Any] | None) -> str:
    if not thr:
        return ""
    rows = [
        {"asset": "all assets" if a == "__all__" else a, "threshold": t,
         f"validation {thr.get('objective')}": (thr.get("scores") or {}).get(a)}
        for a, t in (thr.get("thresholds") or {}).items()
    ]  # fmt: skip
    note = (
        f"<p class='muted'>searched on validation ({_esc(thr.get('objective'))}, side "
        f"{_esc(thr.get('side'))}, costs {fmt(thr.get('cost_bps'))} bps per unit traded, at "
        f"least {_esc(thr.get('min_trades'))} trades), frozen for test; empty = never traded</p>"
    )
    return "<h4>Decision thresholds</h4>" + table(rows) + note


def _versus(vs: dict[str, Any] | None) -> str:
    if not vs:
        return ""
    row: dict[str, Any] = {"baseline": vs.get("baseline")}
    dm, pb = vs.get("diebold_mariano") or {}, vs.get("paired_bootstrap_sharpe") or {}
    row.update(
        {"DM statistic": dm.get("statistic"), "DM p-value": dm.get("p_value"),
         "Sharpe difference (per bar)": pb.get("difference"), "bootstrap p-value": pb.get("p_value")}
    )  # fmt: skip
    note = vs.get("note")
    text = f"<p class='muted'>{_esc(note)}</p>" if note else table([row])
    return (
        "<h4>Against the best other baseline (same bars)</h4>" + text + "<p class='muted'>"
        "p-values test whether this model is better than that baseline</p>"
    )


def _model_section(m: ModelSection, trade_rows: int) -> str:
    parts = [
        f"<h3 id='model-{_esc(m.name)}'>{_esc(m.name)} <span class='muted'>({_esc(m.type)})</span></h3>",
        verdict_box(m.verdict, m.edge),
    ]
    if m.note:
        parts.append(f"<p class='muted'>{_esc(m.note)}</p>")
    for line in m.metrics.get("notes") or []:
        parts.append(f"<p class='muted'>{_esc(line)}</p>")
    parts.append(
        "<h4>Prediction metrics</h4>" + table(_metric_rows(m.metrics), ["metric", "val", "test"])
    )
    parts.append(_per_class(m.metrics.get("test") or {}))
    parts.append(_intervals(m.metrics.get("intervals") or {}))
    parts.append(_calibration(m.metrics.get("calibration")))
    parts.append(_thresholds(m.metrics.get("thresholds")))
    parts.append(_versus(m.metrics.get("vs_baseline")))
    parts.append("<h4>Backtest (after costs)</h4>")
    parts.append(kv_table(m.metrics.get("backtest") or {}))
    parts.append(_plots(m.plots))
    parts.append(
        f"<details><summary>Trades ({len(m.trades) if m.trades is not None else 0})</summary>"
    )
    parts.append(_trades(m.trades, trade_rows) + "</details>")
    return "\n".join(p for p in parts if p)


def _data_section(data: dict[str, Any]) -> str:
    rows = []
    findings = []
    for name, info in (data.get("assets") or {}).items():
        quality = info.get("quality") or {}
        rows.append(
            {
                "asset": name,
                "source": info.get("source"),
                "bars": info.get("bars"),
                "start": info.get("start"),
                "end": info.get("end"),
                "interval": info.get("interval"),
                "calendar": info.get("calendar"),
                "fingerprint": str(info.get("fingerprint", ""))[:16],
            }
        )
        for f in quality.get("findings") or []:
            if isinstance(f, dict):
                findings.append(
                    {
                        "asset": name,
                        **{k: v for k, v in f.items() if not isinstance(v, list | dict)},
                    }
                )
    out = table(rows)
    out += "<h4>Quality findings</h4>" + (
        table(findings)
        if findings
        else "<p class='muted'>no findings: the data passed every check</p>"
    )
    return out


def render_report(report: ReportData) -> str:
    """The report as one HTML string (see module doc)."""
    lb_cols = list(report.leaderboard[0]) if report.leaderboard else []
    sections = [
        f"<h1>{_esc(report.title)}</h1>",
        *(f"<p class='warn'>{_esc(w)}</p>" for w in report.warnings),
        f"<p class='muted'>run folder: {_esc(report.run_dir)}</p>",
        kv_table(report.summary),
        "<h2>Leaderboard (after costs)</h2>",
        table(report.leaderboard, lb_cols, signed={"total_return", "sharpe", "return"}),
        "<p class='muted'>Prediction scores on the test labels; trading figures from the "
        "backtest after fees, slippage and spread. Buy &amp; hold of the same "
        "span for reference: "
        + _esc(", ".join(f"{k} {fmt(v, k)}" for k, v in report.benchmark.items()))
        + "</p>",
        *(f"<p class='muted'>{_esc(n)}</p>" for n in report.notes),
        _plots(report.plots),
        *(f"<h2>{_esc(title)}</h2>{body}" for title, body in report.sections),
        "<h2>Data</h2>",
        _data_section(report.data),
        "<h2>Split</h2>",
        table([{"span": k, **v} for k, v in report.split.items() if isinstance(v, dict)]),
        f"<p class='muted'>gap {report.split.get('gap')} bars; labels look {report.split.get('lookahead')} bars ahead</p>",
        "<h2>Models</h2>",
        *(_model_section(m, report.trade_rows) for m in report.models),
        "<h2>Config (resolved)</h2>",
        f"<pre>{_esc(report.config_yaml)}</pre>",
    ]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(report.title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def write_report(path: str | Path, report: ReportData) -> Path:
    """Render and write the report atomically; returns its path."""
    return write_text_atomic(Path(path), render_report(report))
