"""Where networks run: device choice (CUDA -> MPS -> CPU) and mixed precision (CUDA only).

AMP is used on CUDA only: bfloat16 where the GPU supports it (no loss scaling needed),
float16 with a `GradScaler` otherwise. On CPU and MPS everything stays float32, which is
what makes CPU training bit-for-bit reproducible for a given seed and thread count.
"""

from __future__ import annotations

import contextlib

import torch

from edgelab.errors import ModelError, unknown_name

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """`"auto"` picks CUDA, then MPS, then CPU; a named device must be available."""
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ModelError(unknown_name("device", name, DEVICES))
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device '{name}' asked for but CUDA is not available (use device: auto)")
    if kind == "mps" and not _mps_available():
        raise ModelError(f"device '{name}' asked for but MPS is not available (use device: auto)")
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def amp_dtype(device: torch.device, enabled: bool | None = None) -> torch.dtype | None:
    """The autocast dtype to train with, or None for plain float32.

    `enabled=None` means: on for CUDA, off elsewhere. Asking for AMP off CUDA is an error
    rather than a silent no-op.
    """
    if enabled is None:
        enabled = device.type == "cuda"
    if not enabled:
        return None
    if device.type != "cuda":
        raise ModelError(f"amp is only supported on CUDA, not on '{device.type}' (set amp: false)")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Context manager: autocast to `dtype` on `device`, or nothing when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler | None:
    """A loss scaler for float16 training (bfloat16 and float32 need none)."""
    if dtype is torch.float16:
        return torch.amp.GradScaler(device.type)
    return None
