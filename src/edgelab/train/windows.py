"""Zero-copy batching of `Samples` for the trainer: windows, seq2seq chunks, asset panels.

The feature matrix is wrapped once with `torch.from_numpy` (shared memory, no copy) and
viewed through `as_strided`; a batch is one gather of its windows from that view, the only
copy made. The gather itself runs in numpy on the same memory (`gather`): torch's
advanced indexing of a strided view is ~7x slower on one thread, and any multi-threaded
copy stalls when other processes hold the cores. Three sources, all yielding `Batch`:

- `WindowSource`: one window of `window` rows per target row (the window ends at the
  target row, so it holds bars t-window+1 .. t). Shuffled, in order, or in contiguous
  blocks (time-ordered batches, shuffled block order) for the trading losses.
- `ChunkSource`: sequence-to-sequence for causal networks. A chunk is `burn_in + chunk`
  consecutive rows of one asset; the network returns an output per step and the last
  `chunk` steps carry labels, so one pass trains up to `chunk` labels instead of one. Each
  labeled step sees at least `burn_in` earlier rows (replicate-padded with the asset's
  first row only where the asset has fewer).
- `PanelSource`: multi-asset panels. Assets are aligned on the timestamps they all share
  (`Panel.from_samples`); a window is (window, assets x features) and every asset's
  target at the window's last bar is an output.

Targets (`y`, `fwd`, `mask`, `asset`, `row`) share one "target shape" S per batch:
(B,) for windows, (B, chunk) for chunks, (B, assets) for panels; `mask` says which
entries carry a label and `time_dim` which axis of S runs along consecutive bars.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import torch

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError


@dataclass
class Batch:
    """One batch; every target field has the target shape S (see the module doc)."""

    x: torch.Tensor  # float32 (B, T, C)
    y: torch.Tensor  # float32 S: class code or regression target (0 where masked)
    fwd: torch.Tensor  # float32 S: forward return (0 where unknown)
    mask: torch.Tensor  # bool S: entries with a label
    asset: torch.Tensor  # int64 S
    row: torch.Tensor  # int64 S: position in Samples.X (-1: none)
    time_dim: int | None = None  # axis of S along consecutive bars; None: unordered
    burn_in: int = 0  # per-step outputs: the first burn_in steps carry no label
    per_step: bool = False  # the network must return one output per input step

    def to(self, device: torch.device) -> Batch:
        if self.x.device == device:
            return self
        moved = {
            f.name: getattr(self, f.name).to(device, non_blocking=True)
            if isinstance(getattr(self, f.name), torch.Tensor)
            else getattr(self, f.name)
            for f in fields(self)
        }
        return Batch(**moved)

    def select(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Network outputs restricted to the labeled steps (drops the burn-in)."""
        if not self.per_step:
            return out
        return {k: v[:, self.burn_in :] if k in ("logits", "ret") else v for k, v in out.items()}

    @property
    def n_labels(self) -> int:
        return int(self.mask.sum())


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """`torch.from_numpy` without a copy; read-only arrays are shared too (never written)."""
    with warnings.catch_warnings():
        # torch warns that writing through a read-only buffer is undefined; we only read.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def gather(view: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """view[index] along axis 0 as a new contiguous CPU tensor (a numpy gather, see above)."""
    return torch.from_numpy(view.numpy()[index.numpy()])


def strided_windows(X: torch.Tensor, window: int) -> torch.Tensor:
    """All windows of X (n, f) as a view (n - window + 1, window, f); window i ends at row i + window - 1."""
    n, f = X.shape
    if n < window:
        return X.new_zeros((0, window, f))
    X = X.contiguous()
    return X.as_strided((n - window + 1, window, f), (f, f, 1))


class _Targets:
    """Per-row targets of a Samples as tensors, built once (rows of length n_rows)."""

    def __init__(self, samples: Samples):
        n = len(samples.X)
        y = np.asarray(samples.y, dtype=np.float64)
        fwd = samples.forward_return
        fwd = np.zeros(n) if fwd is None else np.asarray(fwd, dtype=np.float64)
        is_target = np.zeros(n, dtype=bool)
        is_target[samples.rows] = True
        # non-target rows are masked out everywhere; zeros keep the arithmetic finite
        self.y = torch.from_numpy(np.where(is_target, np.nan_to_num(y), 0.0).astype(np.float32))
        self.fwd = torch.from_numpy(np.nan_to_num(np.where(is_target, fwd, 0.0)).astype(np.float32))
        self.is_target = torch.from_numpy(is_target)
        self.asset = torch.from_numpy(np.asarray(samples.asset, dtype=np.int64))


def _order(n: int, batch_size: int, shuffle: bool, contiguous: bool, seed: int, epoch: int):
    """Batches of positions 0..n-1: in order, shuffled, or contiguous blocks in shuffled order."""
    rng = np.random.default_rng([seed, epoch])  # per-epoch stream: resuming replays it exactly
    if shuffle and not contiguous:
        perm = rng.permutation(n)
        return [perm[i : i + batch_size] for i in range(0, n, batch_size)]
    blocks = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if shuffle:
        blocks = [blocks[i] for i in rng.permutation(len(blocks))]
    return blocks


class BatchSource:
    """Base: `len()` batches per epoch, `batches(epoch)` yields them, `n_labels` per epoch."""

    batch_size: int
    n_labels: int = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        raise NotImplementedError


class WindowSource(BatchSource):
    """One window per target row of `samples`, ending at that row.

    window: rows per window (default `samples.window`; at most `samples.window`, whose
    rows guarantee a full window inside one asset). x: (B, window, n_features).
    """

    def __init__(
        self,
        samples: Samples,
        batch_size: int = 256,
        *,
        window: int | None = None,
        shuffle: bool = False,
        contiguous: bool = False,
        seed: int = 0,
    ):
        self.window = samples.window if window is None else int(window)
        if not 1 <= self.window <= samples.window:
            raise ModelError(
                f"window {self.window} must be in 1..Samples.window ({samples.window})"
            )
        self.X = shared_tensor(samples.X)
        self.view = strided_windows(self.X, self.window)
        self.rows = torch.from_numpy(np.asarray(samples.rows, dtype=np.int64))
        self.t = _Targets(samples)
        self.batch_size, self.seed = batch_size, seed
        self.shuffle, self.contiguous = shuffle, contiguous
        self.n_labels = len(self.rows)

    def __len__(self) -> int:
        return -(-self.n_labels // self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        ordered = not self.shuffle or self.contiguous
        for pos in _order(
            self.n_labels, self.batch_size, self.shuffle, self.contiguous, self.seed, epoch
        ):
            r = self.rows[torch.from_numpy(pos)]
            yield Batch(
                x=gather(self.view, r - (self.window - 1)),
                y=self.t.y[r],
                fwd=self.t.fwd[r],
                mask=torch.ones(len(r), dtype=torch.bool),
                asset=self.t.asset[r],
                row=r,
                time_dim=0 if ordered else None,
            )


def asset_runs(asset: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of equal asset ids in row order."""
    if len(asset) == 0:
        return []
    cut = np.flatnonzero(np.asarray(asset)[1:] != np.asarray(asset)[:-1]) + 1
    edges = np.r_[0, cut, len(asset)]
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


class ChunkSource(BatchSource):
    """Sequence-to-sequence chunks: `burn_in + chunk` rows in, one output per step.

    Per asset run, outputs cover the first to the last target row in steps of `chunk`;
    chunk k reads rows [o_k - burn_in, o_k + chunk) (clamped to the run: replicate
    padding) and its outputs at rows [o_k, o_k + chunk) are labeled where they are target
    rows. x: (B, burn_in + chunk, n_features); target shape (B, chunk), time_dim 1.
    """

    def __init__(
        self,
        samples: Samples,
        chunk: int = 256,
        burn_in: int | None = None,
        batch_size: int = 32,
        *,
        shuffle: bool = False,
        seed: int = 0,
    ):
        self.burn_in = samples.window - 1 if burn_in is None else int(burn_in)
        if chunk < 1 or self.burn_in < 0:
            raise ModelError(f"chunk must be >= 1 and burn_in >= 0, got {chunk}, {self.burn_in}")
        self.chunk, self.batch_size, self.shuffle, self.seed = int(chunk), batch_size, shuffle, seed
        self.X = shared_tensor(samples.X)
        self.t = _Targets(samples)
        starts, lo, hi = [], [], []
        rows = np.asarray(samples.rows)
        for s, e in asset_runs(samples.asset):
            inside = rows[(rows >= s) & (rows < e)]
            if len(inside) == 0:
                continue
            o = np.arange(inside[0], inside[-1] + 1, self.chunk)
            starts.append(o)
            lo.append(np.full(len(o), s))
            hi.append(np.full(len(o), e - 1))
        cat = (lambda a: torch.from_numpy(np.concatenate(a).astype(np.int64))) if starts else None
        empty = torch.zeros(0, dtype=torch.int64)
        self.out_start = cat(starts) if cat else empty
        self.run_lo, self.run_hi = (cat(lo), cat(hi)) if cat else (empty, empty)
        self.n_labels = len(rows)
        self.steps = torch.arange(self.burn_in + self.chunk)

    def __len__(self) -> int:
        return -(-len(self.out_start) // self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        for pos in _order(
            len(self.out_start), self.batch_size, self.shuffle, False, self.seed, epoch
        ):
            p = torch.from_numpy(pos)
            o, lo, hi = self.out_start[p, None], self.run_lo[p, None], self.run_hi[p, None]
            idx = torch.minimum(torch.maximum(o - self.burn_in + self.steps, lo), hi)
            out_rows = o + self.steps[: self.chunk]
            inside = out_rows <= hi
            r = torch.minimum(out_rows, hi)
            yield Batch(
                x=gather(self.X, idx),
                y=self.t.y[r],
                fwd=self.t.fwd[r],
                mask=inside & self.t.is_target[r],
                asset=self.t.asset[r],
                row=torch.where(inside, r, -1),
                time_dim=1,
                burn_in=self.burn_in,
                per_step=True,
            )


@dataclass
class Panel:
    """Assets aligned in time: X (T, channels) and `row_of` (T, assets), each cell's row in
    Samples.X. Channels are asset-major (asset 0's features first), or, for a panel feature
    set whose every row already holds all assets' features ("ASSET:feature" columns, the
    same at a given time for every asset), those columns once."""

    X: torch.Tensor
    row_of: np.ndarray
    times: np.ndarray
    n_assets: int

    @classmethod
    def from_samples(cls, samples: Samples) -> Panel:
        """Align the stacked assets of `samples` on the timestamps all of them share.

        A target row at a time some other asset lacks cannot be predicted by a panel
        model: that is a `ModelError` naming the asset, never a silent drop.
        """
        ids = np.unique(samples.asset)
        if len(ids) == 1:  # one asset: the panel is X itself (no copy)
            n = len(samples.X)
            return cls(shared_tensor(samples.X), np.arange(n)[:, None], samples.index.asi8, 1)
        rows_by = [np.flatnonzero(samples.asset == a) for a in ids]
        times_by = [samples.index.asi8[r] for r in rows_by]  # int64 ns since the epoch, UTC
        common = times_by[0]
        for t in times_by[1:]:
            common = np.intersect1d(common, t, assume_unique=True)
        row_of = np.stack(
            [r[np.searchsorted(t, common)] for r, t in zip(rows_by, times_by, strict=True)], 1
        )
        is_target = np.zeros(len(samples.X), dtype=bool)
        is_target[samples.rows] = True
        for j, (a, r) in enumerate(zip(ids, rows_by, strict=True)):
            lost = int(is_target[r].sum() - is_target[row_of[:, j]].sum())
            if lost:
                raise ModelError(
                    f"panel: asset '{samples.assets[a]}' has {lost} target rows at times other "
                    "assets lack; panel models need assets on shared timestamps (align data.start "
                    "or choose symbols with the same history)"
                )
        if shares_panel_features(samples, ids):
            X = samples.X[row_of[:, 0]]  # the one copy: (T, A * F) columns as given
            for j in range(1, len(ids)):
                if not np.array_equal(samples.X[row_of[:, j]], X):
                    raise ModelError(
                        "panel: 'ASSET:feature' columns differ between assets at the same time; "
                        "a panel feature set must give every asset the same row"
                    )
        else:
            X = samples.X[row_of].reshape(len(common), -1)  # the one copy: (T, A * F)
        return cls(torch.from_numpy(np.ascontiguousarray(X)), row_of, common, len(ids))


def shares_panel_features(samples: Samples, ids: np.ndarray | None = None) -> bool:
    """Whether every feature is an 'ASSET:feature' column of the assets in `samples`."""
    ids = np.unique(samples.asset) if ids is None else ids
    names = {samples.assets[a] for a in ids}
    prefixes = {n.split(":", 1)[0] if ":" in n else None for n in samples.feature_names}
    return len(ids) > 1 and prefixes == names


def panel_channels(samples: Samples) -> tuple[int, int]:
    """(assets, input channels) of the panel `Panel.from_samples` would build."""
    n_assets = len(np.unique(samples.asset))
    shared = shares_panel_features(samples)
    return n_assets, samples.n_features * (1 if shared else n_assets)


class PanelSource(BatchSource):
    """Windows over a `Panel`: x (B, window, assets * features), targets (B, assets).

    A panel time is a sample when its window fits and any asset has a target there.
    """

    def __init__(
        self,
        samples: Samples,
        batch_size: int = 64,
        *,
        window: int | None = None,
        panel: Panel | None = None,
        shuffle: bool = False,
        contiguous: bool = False,
        seed: int = 0,
    ):
        self.window = samples.window if window is None else int(window)
        self.panel = Panel.from_samples(samples) if panel is None else panel
        self.view = strided_windows(self.panel.X, self.window)
        self.t = _Targets(samples)
        row_of = torch.from_numpy(self.panel.row_of.astype(np.int64))
        has = self.t.is_target[row_of].any(1)
        has[: self.window - 1] = False
        self.times = torch.nonzero(has).flatten()
        self.row_of = row_of
        self.batch_size, self.seed = batch_size, seed
        self.shuffle, self.contiguous = shuffle, contiguous
        self.n_labels = int(self.t.is_target[row_of[self.times]].sum())

    def __len__(self) -> int:
        return -(-len(self.times) // self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        ordered = not self.shuffle or self.contiguous
        for pos in _order(
            len(self.times), self.batch_size, self.shuffle, self.contiguous, self.seed, epoch
        ):
            t = self.times[torch.from_numpy(pos)]
            r = self.row_of[t]  # (B, A)
            yield Batch(
                x=gather(self.view, t - (self.window - 1)),
                y=self.t.y[r],
                fwd=self.t.fwd[r],
                mask=self.t.is_target[r],
                asset=self.t.asset[r],
                row=r,
                time_dim=0 if ordered else None,
            )
