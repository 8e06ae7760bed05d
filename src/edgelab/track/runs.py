"""Run folders: where one `edgelab run` writes everything it produced, reproducibly.

This module owns the layout of `runs/<UTC time>-<name>/` and its provenance:

- `create_run_dir` makes a fresh folder (`20250101T120000Z-default`); a name already
  taken gets `-2`, `-3`, ... so a run never overwrites another.
- `fingerprint(bars)` is a SHA-256 of one input series (its timestamps, column names
  and float64 values): equal fingerprints mean byte-equal inputs.
- `provenance(...)` collects the fingerprints, package versions, git revision and seed;
  `write_config` writes `config.yaml` = the resolved config plus a `provenance:` block
  (`load_config` ignores that block, so a run's config re-runs as is).
- Every write is atomic (temp file in the same folder, then `os.replace`).

Files of a run: `config.yaml`, `data.json` (sources, spans, split, quality reports),
`models/<name>/` (bundles), `predictions.parquet`, `metrics.json`, `report.html`,
`plots/*.png`.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from edgelab.config import ExperimentConfig
from edgelab.models.base import FILE_MODE, write_json_atomic

PACKAGES = (
    "edgelab",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "lightgbm",
    "scipy",
    "numba",
    "ta-lib",
    "torch",
    "pydantic",
    "matplotlib",
)

__all__ = [
    "create_run_dir",
    "data_summary",
    "fingerprint",
    "git_revision",
    "package_versions",
    "provenance",
    "write_bytes_atomic",
    "write_config",
    "write_json_atomic",
    "write_parquet_atomic",
    "write_text_atomic",
]


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return slug or "run"


def create_run_dir(runs_dir: str | os.PathLike, name: str, now: datetime | None = None) -> Path:
    """Create and return a new, empty run folder `runs_dir/<UTC time>-<name>[-N]`."""
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{_slug(name)}"
    for attempt in range(1, 1000):
        path = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()  # atomic: fails if another run took the name first
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not find a free run folder name under {root} for {base}")


def fingerprint(bars: pd.DataFrame) -> str:
    """SHA-256 (hex) of a Bars frame: timestamps (ns), column names and float64 values."""
    digest = hashlib.sha256()
    index = pd.DatetimeIndex(bars.index)
    digest.update(np.ascontiguousarray(index.as_unit("ns").asi8).tobytes())
    for column in sorted(map(str, bars.columns)):
        digest.update(column.encode())
        values = bars[column].to_numpy(dtype=np.float64, na_value=np.nan)
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide a run's numbers (None: absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """`{"commit": sha or None, "dirty": bool or None}` of the git checkout holding `path`
    (default: the edgelab sources). None when git or a commit is unavailable."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"commit": commit.stdout.strip(), "dirty": dirty}


def provenance(config: ExperimentConfig, bars: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """What makes a run reproducible: input fingerprints, seed, versions, git revision."""
    return {
        "seed": config.seed,
        "fingerprints": {name: fingerprint(frame) for name, frame in bars.items()},
        "packages": package_versions(),
        "git": git_revision(),
        "platform": f"{platform.system()} {platform.machine()}",
        "argv": list(sys.argv),
    }


def data_summary(config, bars, features, labels, dataset) -> dict[str, Any]:
    """data.json: per asset source, span, interval, calendar, quality, fingerprint, counts."""
    assets = {}
    for name, frame in bars.items():
        assets[name] = {
            "source": frame.attrs.get("source", config.data.source),
            "bars": len(frame),
            "start": frame.index[0].isoformat(),
            "end": frame.index[-1].isoformat(),
            "interval": frame.attrs.get("interval"),
            "calendar": (frame.attrs.get("quality") or {}).get("calendar")
            or frame.attrs.get("calendar"),
            "columns": list(map(str, frame.columns)),
            "fingerprint": fingerprint(frame),
            "feature_warmup": int(features[name].attrs.get("warmup", 0)),
            "label_counts": labels[name].counts(),
            "quality": frame.attrs.get("quality"),
        }
    return {
        "source": config.data.source,
        "assets": assets,
        "features": {"set": config.features.set, "columns": dataset.feature_names},
        "labels": {
            "kind": config.labels.kind,
            "label_map": dataset.label_map,
            "horizon": dataset.horizon,
        },
        "split": dataset.split.to_dict(),
        "samples": dataset.counts,
        "scaler": dataset.scaler.to_dict(),
    }


def write_config(run_dir: Path, config: ExperimentConfig, prov: dict[str, Any]) -> Path:
    """Write `config.yaml`: the resolved config and its `provenance:` block."""
    data = config.model_dump(mode="json")
    data["provenance"] = prov
    return write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(data, sort_keys=False))


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; run files are ordinary files
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return _atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    return _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def write_parquet_atomic(path: Path, frame: pd.DataFrame) -> Path:
    return _atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
