"""edgelab.models.tokens: the token model (the `bert_heikin_ashi` seed system).

Normalized bars -> VQ-VAE tokenizer (`vqvae`) -> integer tokens -> BERT masked-LM
pretraining and [CLS] fine-tuning (`bert`), every stage trained by the one trainer
through this package's batch sources and objectives (`objectives`, `stages`).
`model.BertTokensModel` is the `Model`-contract adapter, registered as `bert_tokens` on
import; `pipeline.run_token_pipeline` runs bars -> reports end to end.
"""

from edgelab.models.tokens.bert import BertConfig, BertNet
from edgelab.models.tokens.model import BertTokensModel
from edgelab.models.tokens.stages import TokenModelConfig
from edgelab.models.tokens.vqvae import VQVAE, VQVAEConfig, codebook_stats

__all__ = [
    "VQVAE",
    "BertConfig",
    "BertNet",
    "BertTokensModel",
    "TokenModelConfig",
    "VQVAEConfig",
    "codebook_stats",
]
