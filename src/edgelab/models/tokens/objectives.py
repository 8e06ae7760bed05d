"""The token model's plug-ins for `edgelab.train.Trainer`: batch sources and objectives.

Batch sources (the `BatchSource` protocol: `len()`, `batches(epoch)`, `n_labels`):
- `PatchSource`: patches of `patch` consecutive rows of a feature matrix, for the VQ-VAE
  (x (B, patch, F); the target is x itself).
- `MLMSource`: token sequences `[CLS] + context tokens` ending every `stride` rows, with
  `mask_rate` of the tokens chosen for prediction and replaced 80% by [MASK], 10% by a
  random token and 10% left as they are (Devlin et al. 2019). Masks are drawn from a
  per-epoch seeded stream; `batches(0)` is the fixed validation masking.
- `SequenceSource`: one `[CLS] + context tokens` sequence per labeled row of a `Samples`,
  as a `edgelab.train.windows.Batch` (x holds int64 token ids), for fine-tuning with the
  house `Objective`.

Token layout: `tokens` has one entry per row of X (the code of the patch ending at that
row, `pad_id` where the patch would cross an asset start); a sequence ending at row r
reads the tokens at rows r - (context - 1) * patch, ..., r - patch, r: non-overlapping
patches, the last one ending at r, so it is causal (bars up to and including r).

Objectives (`__call__(out, batch) -> (loss, parts)`, `collect(out, batch)`, `to(device)`,
and `metrics(got)`: the extra validation metrics, see the module `pipeline` docstring on
the trainer hook):
- `VQObjective`: reconstruction MSE + `commitment` x commitment loss (+ codebook loss).
- `MLMObjective`: cross-entropy over the predicted positions; top-1 / top-5 accuracy and
  the most-frequent-token baselines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError
from edgelab.train.windows import Batch, BatchSource, asset_runs, strided_windows

IGNORE = -100  # target of positions that are not predicted (F.cross_entropy's default)


def _order(n: int, batch_size: int, shuffle: bool, seed: int, epoch: int) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, epoch])  # per-epoch stream: replayable
    order = rng.permutation(n) if shuffle else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def run_starts(asset: np.ndarray) -> np.ndarray:
    """First row of the asset run each row belongs to, (n,) int64."""
    out = np.zeros(len(asset), dtype=np.int64)
    for s, e in asset_runs(asset):
        out[s:e] = s
    return out


def patch_rows(asset: np.ndarray, patch: int) -> np.ndarray:
    """Rows r whose patch r - patch + 1 .. r lies inside one asset run."""
    r = np.arange(len(asset))
    return np.flatnonzero(r - run_starts(asset) >= patch - 1).astype(np.int64)


def sequence_ids(
    tokens: np.ndarray, ends: np.ndarray, context: int, patch: int, cls_id: int
) -> np.ndarray:
    """(len(ends), context + 1) int64: [CLS] then the tokens of the sequence ending at each
    row of `ends` (see the module docstring); ends must be >= (context - 1) * patch."""
    offsets = patch * np.arange(context - 1, -1, -1)
    ids = np.empty((len(ends), context + 1), dtype=np.int64)
    ids[:, 0] = cls_id
    ids[:, 1:] = tokens[np.asarray(ends)[:, None] - offsets[None, :]]
    return ids


def sequence_rows(tokens: np.ndarray, asset: np.ndarray, context: int, patch: int, pad_id: int):
    """Rows where a full sequence of real tokens, all in one asset, ends."""
    span = (context - 1) * patch
    r = np.arange(len(tokens))
    ok = (r - run_starts(asset) >= span + patch - 1) & (tokens != pad_id)
    return np.flatnonzero(ok).astype(np.int64)


def mask_tokens(
    ids: np.ndarray, rng: np.random.Generator, vocab_size: int, mask_id: int, rate: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """BERT masking of ids (B, 1 + context) ([CLS] first): per sequence, round(rate x
    context) positions (at least 1) are predicted; of those 80% become [MASK], 10% a
    uniform random real token, 10% stay. Returns (inputs, targets) with targets = the
    original token at predicted positions and `IGNORE` elsewhere."""
    b, length = ids.shape
    k = max(1, int(round(rate * (length - 1))))
    # k distinct positions in 1..length-1 per row: the k smallest of uniform keys
    pos = 1 + np.argsort(rng.random((b, length - 1)), axis=1)[:, :k]
    rows = np.repeat(np.arange(b), k)
    cols = pos.ravel()
    targets = np.full_like(ids, IGNORE)
    targets[rows, cols] = ids[rows, cols]
    inputs = ids.copy()
    kind = rng.random(len(cols))
    random_tok = rng.integers(0, vocab_size, len(cols))
    inputs[rows, cols] = np.where(
        kind < 0.8, mask_id, np.where(kind < 0.9, random_tok, ids[rows, cols])
    )
    return inputs, targets


# --- batches and sources ------------------------------------------------------------------


@dataclass
class TokenBatch:
    """One MLM batch: x (B, L) inputs, target (B, L) (`IGNORE` where not predicted), the
    end row and asset of each sequence, and whether it is the first batch of its pass."""

    x: torch.Tensor
    target: torch.Tensor
    row: torch.Tensor
    asset: torch.Tensor
    first: bool = False
    per_step: bool = False

    def to(self, device: torch.device) -> TokenBatch:
        if self.x.device == device:
            return self
        return TokenBatch(
            **{
                f.name: getattr(self, f.name).to(device)
                if isinstance(getattr(self, f.name), torch.Tensor)
                else getattr(self, f.name)
                for f in fields(self)
            }
        )

    def select(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return out

    @property
    def mask(self) -> torch.Tensor:
        return self.target != IGNORE

    @property
    def n_labels(self) -> int:
        return int(self.mask.sum())


class PatchSource(BatchSource):
    """Patches of `patch` rows of X (n, F) float32 ending at `rows`: x (B, patch, F)."""

    def __init__(
        self,
        X: np.ndarray,
        rows: np.ndarray,
        patch: int,
        batch_size: int = 256,
        *,
        shuffle: bool = False,
        seed: int = 0,
    ):
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        self.view = strided_windows(self.X, patch)
        self.rows = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        if len(self.rows) and int(self.rows.min()) < patch - 1:
            raise ModelError("PatchSource: a row lies before its first full patch")
        self.patch, self.batch_size, self.shuffle, self.seed = patch, batch_size, shuffle, seed
        self.n_labels = len(self.rows)

    def __len__(self) -> int:
        return -(-self.n_labels // self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        for pos in _order(self.n_labels, self.batch_size, self.shuffle, self.seed, epoch):
            r = self.rows[torch.from_numpy(pos)]
            zeros = torch.zeros(len(r))
            yield Batch(
                x=self.view[r - (self.patch - 1)], y=zeros, fwd=zeros,
                mask=torch.ones(len(r), dtype=torch.bool), asset=torch.zeros_like(r), row=r,
            )  # fmt: skip


class MLMSource(BatchSource):
    """Masked sequences for pretraining (see the module docstring)."""

    def __init__(
        self,
        tokens: np.ndarray,
        ends: np.ndarray,
        asset: np.ndarray,
        *,
        context: int,
        patch: int,
        vocab_size: int,
        batch_size: int = 64,
        mask_rate: float = 0.15,
        shuffle: bool = False,
        seed: int = 0,
    ):
        if not 0.0 < mask_rate < 1.0:
            raise ModelError(f"mask_rate must be in (0, 1), got {mask_rate}")
        self.tokens = np.asarray(tokens, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.asset = np.asarray(asset, dtype=np.int64)
        self.context, self.patch, self.vocab_size = context, patch, vocab_size
        self.batch_size, self.mask_rate, self.shuffle, self.seed = (
            batch_size, mask_rate, shuffle, seed,
        )  # fmt: skip
        self.n_labels = len(self.ends) * max(1, int(round(mask_rate * context)))

    def __len__(self) -> int:
        return -(-len(self.ends) // self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[TokenBatch]:
        mask_id, cls_id = self.vocab_size + 1, self.vocab_size + 2
        for i, pos in enumerate(
            _order(len(self.ends), self.batch_size, self.shuffle, self.seed, epoch)
        ):
            ends = self.ends[pos]
            ids = sequence_ids(self.tokens, ends, self.context, self.patch, cls_id)
            rng = np.random.default_rng([self.seed, epoch, i, 1])
            inputs, targets = mask_tokens(ids, rng, self.vocab_size, mask_id, self.mask_rate)
            yield TokenBatch(
                x=torch.from_numpy(inputs), target=torch.from_numpy(targets),
                row=torch.from_numpy(ends), asset=torch.from_numpy(self.asset[ends]), first=i == 0,
            )  # fmt: skip


class SequenceSource(BatchSource):
    """One `[CLS] + context` token sequence per target row of `samples` (row-aligned
    `tokens`), as a house `Batch` whose x is int64 ids (B, context + 1)."""

    def __init__(
        self,
        samples: Samples,
        tokens: np.ndarray,
        *,
        context: int,
        patch: int,
        cls_id: int,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int = 0,
    ):
        self.samples, self.tokens = samples, np.asarray(tokens, dtype=np.int64)
        self.context, self.patch, self.cls_id = context, patch, cls_id
        self.rows = np.asarray(samples.rows, dtype=np.int64)
        if len(self.rows) and int(self.rows.min()) < context * patch - 1:
            raise ModelError(
                f"Samples rows start at {int(self.rows.min())}, before a full sequence of "
                f"{context} tokens x {patch} bars; build the Samples with window >= {context * patch}"
            )
        y = np.nan_to_num(np.asarray(samples.y, dtype=np.float64))
        fwd = samples.forward_return
        fwd = np.zeros(len(y)) if fwd is None else np.nan_to_num(np.asarray(fwd, np.float64))
        self.y = torch.from_numpy(y.astype(np.float32))
        self.fwd = torch.from_numpy(fwd.astype(np.float32))
        self.asset = torch.from_numpy(np.asarray(samples.asset, dtype=np.int64))
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.n_labels = len(self.rows)

    def __len__(self) -> int:
        return -(-self.n_labels // self.batch_size)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        for pos in _order(self.n_labels, self.batch_size, self.shuffle, self.seed, epoch):
            r = self.rows[pos]
            ids = sequence_ids(self.tokens, r, self.context, self.patch, self.cls_id)
            rt = torch.from_numpy(r)
            yield Batch(
                x=torch.from_numpy(ids), y=self.y[rt], fwd=self.fwd[rt],
                mask=torch.ones(len(r), dtype=torch.bool), asset=self.asset[rt], row=rt,
                time_dim=None if self.shuffle else 0,
            )  # fmt: skip


# --- objectives -----------------------------------------------------------------------------


def _neutral(n: int, row: torch.Tensor, asset: torch.Tensor) -> dict[str, np.ndarray]:
    """The fields `validation_metrics` reads, for objectives without a trading position."""
    zeros = np.zeros(n, dtype=np.float32)
    return {
        "fwd": zeros, "position": zeros,
        "row": row.cpu().numpy(), "asset": asset.cpu().numpy(),
    }  # fmt: skip


@dataclass
class VQObjective:
    """Reconstruction MSE + commitment x commitment loss + the codebook loss (0 with EMA)."""

    codebook_size: int
    commitment: float = 0.25

    def to(self, device: torch.device) -> VQObjective:
        return self

    def __call__(self, out: dict[str, torch.Tensor], batch: Batch) -> tuple[torch.Tensor, dict]:
        recon = F.mse_loss(out["recon"].float(), batch.x.float())
        loss = recon + self.commitment * out["commit"] + out["codebook"]
        return loss, {"recon": recon.detach(), "commit": out["commit"].detach()}

    def collect(self, out: dict[str, torch.Tensor], batch: Batch) -> dict[str, np.ndarray]:
        err = (out["recon"].float() - batch.x.float()).pow(2).flatten(1).mean(1)
        got = _neutral(len(err), batch.row, batch.asset)
        got.update(
            y=np.zeros(len(err), dtype=np.float32),
            sq_err=err.cpu().numpy(),
            codes=out["codes"].cpu().numpy(),
        )
        return got

    def metrics(self, got: dict[str, np.ndarray]) -> dict[str, float]:
        """Validation reconstruction MSE, codebook usage and perplexity."""
        from edgelab.models.tokens.vqvae import codebook_stats

        if not got or len(got["sq_err"]) == 0:
            return {}
        stats = codebook_stats(got["codes"], self.codebook_size)
        return {
            "mse": float(got["sq_err"].mean()),
            "usage": stats["usage"],
            "perplexity": stats["perplexity"],
        }


@dataclass
class MLMObjective:
    """Cross-entropy of the masked-LM head at the predicted positions.

    `top_tokens`: the training corpus's tokens by decreasing frequency (at least 5), for
    the most-frequent-token baselines (top-1: always guess the most frequent token; top-5:
    the five most frequent). `passes` records, per validation pass (one per epoch in the
    trainer), top-1 / top-5 accuracy and the baselines: it works without the trainer
    hook that would merge `metrics(got)` into the epoch row.
    """

    vocab_size: int
    top_tokens: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.passes: list[dict[str, float]] = []
        self._acc: np.ndarray | None = None

    def to(self, device: torch.device) -> MLMObjective:
        return self

    def __call__(
        self, out: dict[str, torch.Tensor], batch: TokenBatch
    ) -> tuple[torch.Tensor, dict]:
        m = batch.mask
        loss = F.cross_entropy(out["mlm_logits"][m].float(), batch.target[m])
        return loss, {"mlm": loss.detach()}

    def collect(self, out: dict[str, torch.Tensor], batch: TokenBatch) -> dict[str, np.ndarray]:
        m = batch.mask
        logits = out["mlm_logits"][m].float()
        truth = batch.target[m]
        top5 = logits.topk(min(5, logits.shape[-1]), -1).indices
        hit1 = (top5[:, 0] == truth).cpu().numpy()
        hit5 = (top5 == truth[:, None]).any(1).cpu().numpy()
        y = truth.cpu().numpy()
        seq = m.nonzero()[:, 0]
        got = _neutral(len(y), batch.row[seq], batch.asset[seq])
        got.update(y=y.astype(np.float32), top1=hit1, top5=hit5)
        self._record(batch.first, got)
        return got

    def metrics(self, got: dict[str, np.ndarray]) -> dict[str, float]:
        """top1 / top5 accuracy at the masked positions and the baselines' accuracy."""
        if not got or len(got["y"]) == 0:
            return {}
        y = got["y"].astype(np.int64)
        out = {"top1": float(got["top1"].mean()), "top5": float(got["top5"].mean())}
        if len(self.top_tokens) >= 5:
            out["base_top1"] = float(np.mean(y == self.top_tokens[0]))
            out["base_top5"] = float(np.isin(y, self.top_tokens[:5]).mean())
        return out

    def _record(self, first: bool, got: dict[str, np.ndarray]) -> None:
        # counts per pass: [n, top1 hits, top5 hits, baseline top1 hits, baseline top5 hits]
        if first or self._acc is None:
            self._acc = np.zeros(5)
            self.passes.append({})
        y = got["y"].astype(np.int64)
        base = self.top_tokens[:5] if len(self.top_tokens) >= 5 else (-1,)
        self._acc += [
            len(y),
            got["top1"].sum(),
            got["top5"].sum(),
            (y == base[0]).sum(),
            np.isin(y, base).sum(),
        ]
        n = max(self._acc[0], 1.0)
        self.passes[-1] = dict(
            zip(
                ("top1", "top5", "base_top1", "base_top5"),
                (self._acc[1:] / n).tolist(),
                strict=True,
            )
        )
