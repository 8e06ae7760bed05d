"""edgelab.models.deep: the PyTorch model zoo.

One file per network (a config dataclass and an `nn.Module` returning class logits and/or
an expected return): `lstm`, `gru`, `transformer`, `hybrid`, `resnet1d`; `heads` holds
their shared output heads. `wrapper.TorchModel` adapts them all to the `Model` contract
and registers them under those names on import.
"""

from edgelab.models.deep import gru, hybrid, lstm, resnet1d, transformer  # noqa: F401
from edgelab.models.deep.wrapper import (
    GRUModel,
    HybridModel,
    LSTMModel,
    ResNet1DModel,
    TorchModel,
    TransformerModel,
)

__all__ = [
    "GRUModel",
    "HybridModel",
    "LSTMModel",
    "ResNet1DModel",
    "TorchModel",
    "TransformerModel",
]
