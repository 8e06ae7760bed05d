"""Assemble README.md from its head (docs/readme/_head.md) and the per-topic sections in
docs/readme/, in pipeline order, with a table of contents.

Each topic file starts with a `## Title` heading. Links between topic files
(`[evaluation](evaluation.md)`) become in-page anchors. Run after editing a section:
`python scripts/build_readme.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ROOT / "docs" / "readme"
ORDER = [
    "pipeline",
    "data-sources",
    "data-files",
    "downloaders",
    "dukascopy",
    "features",
    "labels",
    "backtest",
    "models",
    "tokens",
    "evaluation",
    "development",
]


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = title.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def main() -> None:
    head = (SECTIONS / "_head.md").read_text().rstrip() + "\n"
    names = ORDER + sorted(
        p.stem for p in SECTIONS.glob("*.md") if p.stem not in ORDER and not p.stem.startswith("_")
    )
    bodies, titles = {}, {}
    for name in names:
        path = SECTIONS / f"{name}.md"
        if not path.is_file():
            continue
        text = path.read_text().strip() + "\n"
        first = text.splitlines()[0]
        if not first.startswith("## "):
            raise SystemExit(f"{path}: must start with a '## ' heading")
        bodies[name], titles[name] = text, first[3:]
    toc = ["## Contents", ""] + [f"- [{titles[n]}](#{slug(titles[n])})" for n in bodies]
    out = [head, "\n".join(toc) + "\n"]
    for text in bodies.values():
        for other in bodies:
            text = re.sub(
                rf"\]\({re.escape(other)}\.md(#[^)]*)?\)", f"](#{slug(titles[other])})", text
            )
        out.append(text)
    target = ROOT / "README.md"
    tmp = target.with_suffix(".md.tmp")
    tmp.write_text("\n".join(out))
    tmp.replace(target)
    print(f"wrote {target} ({len(bodies)} sections)")


if __name__ == "__main__":
    main()
