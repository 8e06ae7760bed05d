"""What `validate_bars` reports: `Finding`, `GapSummary`, `QualityReport`, `render_report`.

A `QualityReport` round-trips through plain JSON (`to_dict` / `from_dict`), so it can be
kept in `bars.attrs['quality']` and in run folders; `render_report` shows it in the CLI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
FIRST_SHOWN = 5  # how many offending rows (or gaps) a finding lists


@dataclass
class Finding:
    """One rule's result: how many rows break it, where first, and what it means."""

    rule: str
    severity: Severity
    count: int
    message: str
    first: list[str] = field(default_factory=list)


@dataclass
class GapSummary:
    """Holes in the time grid: unexpected gaps (faults) and expected market closures."""

    count: int = 0
    missing_bars: int = 0
    longest: str | None = None  # missing span of the longest gap, e.g. "3h"
    where: str | None = None  # "<first missing bar> to <next bar>" of the longest gap
    first: list[str] = field(default_factory=list)
    expected: int = 0  # weekend / overnight / holiday closures of the calendar


@dataclass
class QualityReport:
    """What `validate_bars` found and did. `ok` is True when the input met the contract
    as given (warnings and info allowed); a repaired frame has `ok` False and lists
    its `repairs`."""

    where: str | None = None
    policy: str = "strict"
    rows_in: int = 0
    rows_out: int = 0
    start: str | None = None
    end: str | None = None
    interval: str | None = None
    calendar: str | None = None
    findings: list[Finding] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    gaps: GapSummary = field(default_factory=GapSummary)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def by_severity(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    def rules(self) -> list[str]:
        return [f.rule for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict (strings, numbers, lists) including `ok`."""
        out = asdict(self)
        out["ok"] = self.ok
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        """Inverse of `to_dict` (e.g. a report kept in `bars.attrs['quality']`)."""
        plain = {k: v for k, v in data.items() if k not in ("ok", "findings", "gaps")}
        return cls(
            **plain,
            findings=[Finding(**f) for f in data.get("findings", [])],
            gaps=GapSummary(**data.get("gaps", {})),
        )


def render_report(report: QualityReport):
    """A rich renderable (summary, findings table, repairs) for the CLI."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    status = Text("ok", style="green") if report.ok else Text("NOT OK", style="bold red")
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("data", report.where or "-")
    head.add_row("status", status)
    head.add_row("policy", report.policy)
    head.add_row("rows", f"{report.rows_out} kept of {report.rows_in}")
    head.add_row("span", f"{report.start} to {report.end}")
    head.add_row("interval", report.interval or "-")
    head.add_row("calendar", report.calendar or "-")
    gaps = report.gaps
    gap_text = f"{gaps.count} gaps, {gaps.missing_bars} missing bars"
    if gaps.count:
        gap_text += f", longest {gaps.longest} at {gaps.where}"
    head.add_row("gaps", f"{gap_text}; {gaps.expected} expected closures")
    parts: list[Any] = [head]
    if report.findings:
        table = Table(title="findings", show_lines=False)
        for name in ("severity", "rule", "count", "message", "first at"):
            table.add_column(name)
        colour = {"error": "red", "warning": "yellow", "info": "cyan"}
        for f in report.findings:
            table.add_row(
                Text(f.severity, style=colour[f.severity]),
                f.rule,
                str(f.count),
                f.message,
                "\n".join(f.first[:3]),
            )
        parts.append(table)
    if report.repairs:
        parts.append(Text("repairs:\n" + "\n".join(f"  - {r}" for r in report.repairs)))
    return Group(*parts)
