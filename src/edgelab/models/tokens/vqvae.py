"""VQ-VAE tokenizer: normalized bars (one bar or a short patch per token) -> integer codes.

x (B, patch, n_features) -> flattened -> MLP encoder -> z (B, code_dim) -> nearest of
`codebook_size` codes (straight-through gradient) -> MLP decoder -> reconstruction
(B, patch, n_features). The codebook learns either by exponential moving averages of the
vectors assigned to each code (`ema=True`, van den Oord et al. 2017, appendix) or by the
codebook loss ||sg(z) - e||^2 (`ema=False`); the encoder always pays the commitment loss
||z - sg(e)||^2 (weighted by `commitment` in the objective).

EMA updates and dead-code restarts happen inside `forward` in training mode (buffers, not
parameters, so the optimizer never touches them): every `restart_every` training steps,
each code whose moving-average usage fell below `dead_threshold` assignments per step is
moved onto a random encoder output of the current batch. Randomness comes from torch's
global RNG, which the trainer seeds, so training is deterministic on CPU.

Tokenization (`encode`) runs the encoder and the distances in float64 on the module's
weights: a token never depends on the batch it was computed in (float32 BLAS kernels
round differently for different batch sizes, which could flip a near tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from edgelab.errors import ModelError
from edgelab.figures import save_png


@dataclass
class VQVAEConfig:
    n_features: int = 4  # features per bar (4: normalized Heikin-Ashi OHLC)
    patch: int = 1  # bars per token
    codebook_size: int = 1536
    code_dim: int = 16
    hidden: int = 64
    ema: bool = True  # EMA codebook updates; False: codebook loss on a learned codebook
    decay: float = 0.99  # EMA decay of code sums and counts
    dead_threshold: float = 0.03  # moving-average assignments per step below which a code is dead
    restart_every: int = 10  # training steps between dead-code restarts (0: never)

    def __post_init__(self) -> None:
        for name in ("n_features", "patch", "codebook_size", "code_dim", "hidden"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"VQ-VAE {name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.decay < 1.0:
            raise ModelError(f"VQ-VAE decay must be in (0, 1), got {self.decay}")
        if self.restart_every < 0 or self.dead_threshold < 0:
            raise ModelError("VQ-VAE restart_every and dead_threshold must be >= 0")

    @property
    def input_size(self) -> int:
        return self.patch * self.n_features


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
        nn.Linear(hidden, n_out),
    )  # fmt: skip


class VectorQuantizer(nn.Module):
    """Nearest-code quantization with EMA or loss-trained codes and dead-code restarts.

    Buffers: `embed` (K, D) (a Parameter instead when ema=False), `cluster_size` (K) and
    `embed_sum` (K, D) (EMA statistics), `usage` (K) moving-average assignments per step,
    `steps`, `restarts` and `initialized` (scalars).
    """

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        self.config = config
        k, d = config.codebook_size, config.code_dim
        embed = torch.randn(k, d) * 0.1
        if config.ema:
            self.register_buffer("embed", embed)
            self.register_buffer("cluster_size", torch.zeros(k))
            self.register_buffer("embed_sum", embed.clone())
        else:
            self.embed = nn.Parameter(embed)
        self.register_buffer("usage", torch.zeros(k))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.int64))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    @staticmethod
    def nearest(z: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """Index of the closest code (squared Euclidean) of each row of z (N, D); ties: lowest."""
        dist = (z * z).sum(1, keepdim=True) - 2.0 * z @ embed.T + (embed * embed).sum(1)[None]
        return dist.argmin(1)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z (N, D) -> quantized (N, D) with straight-through gradient, codes (N,), and the
        commitment and codebook losses (scalars; the codebook loss is 0 with EMA)."""
        # distances in float32 even under CUDA autocast: half precision would flip near ties
        with torch.autocast(z.device.type, enabled=False):
            z = z.float()
            if self.training and not bool(self.initialized):
                self._init_from(z.detach())
            embed = self.embed if not self.config.ema else self.embed.detach()
            codes = self.nearest(z.detach(), embed.detach())
            q = embed[codes]
            if self.training:
                self._update(z.detach(), codes)
            commit = F.mse_loss(z, q.detach())
            codebook = z.new_zeros(()) if self.config.ema else F.mse_loss(q, z.detach())
            quantized = z + (q - z).detach()  # straight-through: decoder gradient flows to z
        return {"quantized": quantized, "codes": codes, "commit": commit, "codebook": codebook}

    @torch.no_grad()
    def _init_from(self, z: torch.Tensor) -> None:
        """First training batch: codes on random encoder outputs (plus noise, so that codes
        drawn from the same output still differ)."""
        k = self.config.codebook_size
        pick = torch.randint(len(z), (k,), device=z.device)
        spread = z.std(0, keepdim=True).clamp(min=1e-3)
        new = z[pick] + 0.01 * spread * torch.randn(k, z.shape[1], device=z.device)
        self.embed.data.copy_(new)
        if self.config.ema:
            self.embed_sum.copy_(new)
            self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _update(self, z: torch.Tensor, codes: torch.Tensor) -> None:
        c = self.config
        counts = torch.bincount(codes, minlength=c.codebook_size).to(z.dtype)
        self.usage.mul_(c.decay).add_(counts, alpha=1 - c.decay)
        if c.ema:
            sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, z)
            self.cluster_size.mul_(c.decay).add_(counts, alpha=1 - c.decay)
            self.embed_sum.mul_(c.decay).add_(sums, alpha=1 - c.decay)
            # Laplace smoothing keeps never-assigned codes finite (Sonnet's VQ-VAE-EMA)
            n = self.cluster_size.sum()
            size = (self.cluster_size + 1e-5) / (n + c.codebook_size * 1e-5) * n
            self.embed.copy_(self.embed_sum / size[:, None])
        self.steps.add_(1)
        if c.restart_every and int(self.steps) % c.restart_every == 0:
            self._restart_dead(z)

    @torch.no_grad()
    def _restart_dead(self, z: torch.Tensor) -> None:
        dead = torch.nonzero(self.usage < self.config.dead_threshold).flatten()
        if len(dead) == 0:
            return
        pick = torch.randint(len(z), (len(dead),), device=z.device)
        spread = z.std(0, keepdim=True).clamp(min=1e-3)
        new = z[pick] + 0.01 * spread * torch.randn(len(dead), z.shape[1], device=z.device)
        self.embed.data[dead] = new
        # a restarted code gets two restart periods to win assignments before it is dead again
        self.usage[dead] = 2.0 * self.config.dead_threshold
        if self.config.ema:
            self.cluster_size[dead] = 1.0
            self.embed_sum[dead] = new
        self.restarts.add_(len(dead))


class VQVAE(nn.Module):
    """Encoder -> vector quantizer -> decoder over patches of normalized bars."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = _mlp(config.input_size, config.hidden, config.code_dim)
        self.quantizer = VectorQuantizer(config)
        self.decoder = _mlp(config.code_dim, config.hidden, config.input_size)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.ndim != 3 or x.shape[1:] != (c.patch, c.n_features):
            raise ModelError(
                f"VQ-VAE input must be (batch, {c.patch}, {c.n_features}), got {tuple(x.shape)}"
            )
        return x.reshape(len(x), -1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x (B, patch, n_features) -> `recon` (same shape), `codes` (B,), `commit`,
        `codebook` (scalar losses)."""
        z = self.encoder(self._flat(x).float())
        vq = self.quantizer(z)
        recon = self.decoder(vq["quantized"]).reshape(x.shape)
        return {
            "recon": recon,
            "codes": vq["codes"],
            "commit": vq["commit"],
            "codebook": vq["codebook"],
        }

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (B,) int64 of patches x (B, patch, n_features), on x's device; computed in
        float64 (on the CPU for MPS, which has no float64), so batch-independent."""
        device = x.device
        on = torch.device("cpu") if device.type == "mps" else device
        params = {k: v.to(on, torch.float64) for k, v in self.encoder.state_dict().items()}
        z = functional_call(self.encoder, params, (self._flat(x).to(on, torch.float64),))
        embed = self.quantizer.embed.detach().to(on, torch.float64)
        return VectorQuantizer.nearest(z, embed).to(device)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstructed patches (B, patch, n_features) of codes (B,)."""
        q = self.quantizer.embed.detach()[codes]
        return self.decoder(q).reshape(len(codes), self.config.patch, self.config.n_features)


def codebook_stats(codes: np.ndarray, codebook_size: int) -> dict[str, float]:
    """Usage (fraction of codes used at least once), perplexity (exp of the entropy of the
    code frequencies: the effective number of codes; at most `codebook_size`), and the
    share of the most frequent code, over a 1-D array of codes."""
    codes = np.asarray(codes)
    codes = codes[(codes >= 0) & (codes < codebook_size)]
    if len(codes) == 0:
        return {"usage": 0.0, "perplexity": 0.0, "used": 0, "top_share": float("nan")}
    freq = np.bincount(codes, minlength=codebook_size) / len(codes)
    nz = freq[freq > 0]
    return {
        "usage": float(len(nz) / codebook_size),
        "used": int(len(nz)),
        "perplexity": float(np.exp(-(nz * np.log(nz)).sum())),
        "top_share": float(freq.max()),
    }


def plot_reconstruction(
    x: np.ndarray, recon: np.ndarray, path, *, feature_names: list[str] | None = None
) -> None:
    """PNG of original vs reconstructed features over consecutive tokens.

    x, recon: (n_tokens, patch, n_features); one panel per feature, tokens' bars laid end
    to end. Written atomically (temp file + rename)."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n_feat = x.shape[-1]
    names = feature_names or [f"feature {i}" for i in range(n_feat)]
    flat_x, flat_r = x.reshape(-1, n_feat), recon.reshape(-1, n_feat)
    fig, axes = plt.subplots(n_feat, 1, figsize=(10, 1.8 * n_feat), sharex=True, squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(flat_x[:, i], label="input", linewidth=1.2)
        ax.plot(flat_r[:, i], label="reconstruction", linewidth=1.0, linestyle="--")
        ax.set_ylabel(names[i], fontsize="small")
    axes[0, 0].legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("bar")
    fig.suptitle("VQ-VAE reconstruction")
    fig.tight_layout()
    save_png(fig, path, dpi=80)
