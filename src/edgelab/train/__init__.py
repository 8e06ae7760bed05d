"""edgelab.train: the one training loop, its losses, batching and device choice.

`Trainer(TrainConfig(...)).fit(net, objective, train_source, val_source)` trains any
network whose `forward(x)` returns `{"logits": ..., "ret": ...}`; batch sources from
`edgelab.train.windows` turn `Samples` into batches without copying the feature matrix.
"""

from edgelab.train.device import resolve_device
from edgelab.train.losses import Objective
from edgelab.train.trainer import TrainConfig, Trainer, TrainResult
from edgelab.train.windows import Batch, ChunkSource, Panel, PanelSource, WindowSource

__all__ = [
    "Batch",
    "ChunkSource",
    "Objective",
    "Panel",
    "PanelSource",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "WindowSource",
    "resolve_device",
]
