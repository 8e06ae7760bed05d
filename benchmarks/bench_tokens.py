"""Seconds per epoch of the token model's stages, at the `bert_heikin_ashi` recipe size.

    .venv/bin/python benchmarks/bench_tokens.py [--device cpu|cuda|auto] [--threads 2]
        [--bars 5000] [--assets 2] [--codebook 256] [--epochs 3]

Data: the recipe's synthetic market (FX-like 15-minute bars with bid/ask, AR signal),
mid-price Heikin-Ashi stochastically normalized over 100 bars, ATR barrier labels, the
chronological split (`prepare_dataset`). Stages, each trained by the one trainer:
- VQ-VAE tokenizer (1 bar per token, `--codebook` codes, batch 256);
- BERT masked-LM pretraining (context 100 + [CLS], d_model 64, 2 layers, ff 128, 4
  heads, batch 64, sequences ending every 2 bars);
- fine-tuning of the [CLS] head (batch 64, every 4th target row).
Per stage: the median seconds per epoch over `--epochs` epochs (the trainer's own
per-epoch clock: training pass + validation pass), sequences per epoch and per second.
It also prints the tokenizer's reconstruction error against the mean baseline and the
last epoch's MLM accuracy against the most-frequent-token baseline, so the speed figures
come with evidence that the stages learn.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--bars", type=int, default=5000, help="bars per asset")
    ap.add_argument("--assets", type=int, default=2)
    ap.add_argument("--codebook", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3, help="epochs timed per stage")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from edgelab.data.sources.synthetic import synthetic_market
    from edgelab.models.tokens.pipeline import TokenPipelineConfig, prepare_dataset
    from edgelab.models.tokens.stages import (
        TokenModelConfig,
        finetune,
        fit_tokenizer,
        mlm_source,
        pretrain_mlm,
        tokenize,
    )
    from edgelab.models.tokens.vqvae import codebook_stats

    bars = synthetic_market(
        args.bars, assets=args.assets, interval="15m", calendar="fx", signal="ar",
        strength=0.1, seed=7,
    )  # fmt: skip
    ds = prepare_dataset(bars, TokenPipelineConfig(), 100)
    tr, va = ds["train"], ds["val"]
    e = args.epochs
    cfg = TokenModelConfig.from_params(
        {
            "tokenizer": {"codebook_size": args.codebook, "epochs": e, "patience": None},
            "bert": {"context": 100, "d_model": 64, "n_heads": 4, "layers": 2, "ff": 128},
            "pretrain": {"epochs": e, "lr": 1e-3, "stride": 2},
            "finetune": {"epochs": e, "lr": 1e-3, "stride": 4, "patience": None},
            "device": args.device,
        },
        n_features=tr.n_features,
        n_classes=tr.n_classes,
    )
    rows = []
    t0 = time.perf_counter()
    vq, res = fit_tokenizer(tr.X, tr.asset, cfg, va.X, va.asset)
    rows.append(_row("VQ-VAE tokenizer", res.history, len(tr.X), "patches"))
    tokens, tokens_val = tokenize(vq, tr.X, tr.asset), tokenize(vq, va.X, va.asset)
    recon = vq.decode(torch.from_numpy(tokens_val).to(next(vq.parameters()).device))
    recon = recon.cpu().numpy()[:, 0]
    mse = float(np.mean((recon - va.X) ** 2))
    base = float(np.mean((va.X - tr.X.mean(0)) ** 2))
    net, res, mlm = pretrain_mlm(tokens, tr.asset, cfg, tokens_val, va.asset)
    n_seq = len(mlm_source(tokens, tr.asset, cfg, cfg.pretrain.stride, training=True).ends)
    rows.append(_row("BERT MLM pretraining", res.history, n_seq, "sequences"))
    net, res, _ = finetune(net, tr, tokens, cfg, va, tokens_val)
    rows.append(_row("fine-tuning [CLS]", res.history, len(tr.rows[::4]), "sequences"))
    total = time.perf_counter() - t0

    device = str(next(net.parameters()).device)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, device {device}")  # fmt: skip
    print(f"data: {args.assets} assets x {args.bars} bars; train rows {len(tr.X)}, "
          f"val rows {len(va.X)}; codebook {args.codebook}")  # fmt: skip
    print("\n| stage | s/epoch (median) | items/epoch | items/s |\n|---|---|---|---|")
    for stage, sec, n, unit in rows:
        print(f"| {stage} | {sec:.2f} | {n} {unit} | {n / sec:,.0f} |")
    stats = codebook_stats(tokens, args.codebook)
    last = mlm.passes[-1] if mlm.passes else {}
    print(f"\ntokenizer: val reconstruction MSE {mse:.5f} vs mean baseline {base:.5f} "
          f"(ratio {mse / base:.3f}); train usage {stats['usage']:.1%}, "
          f"perplexity {stats['perplexity']:.0f}")  # fmt: skip
    if last:
        print(f"MLM after {e} epochs: top-1 {last['top1']:.1%} (baseline {last['base_top1']:.1%}), "
              f"top-5 {last['top5']:.1%} (baseline {last['base_top5']:.1%})")  # fmt: skip
    print(f"total {total:.1f} s")


def _row(stage: str, history: list[dict], n: int, unit: str):
    return stage, statistics.median(h["seconds"] for h in history), n, unit


if __name__ == "__main__":
    main()
