"""ALBERT: BERT's post-LN block with one set of weights shared by every block.

    z(0)     = embedding_hidden_mapping_in(embeddings)   (E -> D, before block 0)
    a_j      = attention.LayerNorm(u_j W_O + b_O + z_j)   u_j = concat_h c_j^h (before attention.dense)
    z(l+1)_j = full_layer_layer_norm(a_j + ffn_output(act(ffn(a_j))))

Block l is the ``inner_group_num`` layers of hidden group ``l · groups / L`` unrolled, so every
block is one AlbertLayer call; the same module serves several blocks, and the recorded forward
tells its calls apart by order (``hooks.recording``). q, k, v are affine in z: the
projection-space fast path applies as for BERT.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ligsite.models.bert import PostLNBlock, PostLNPieces
from ligsite.models.hf import Dims, HFAdapter


class AlbertAdapter(HFAdapter):
    """``encoder.albert_layer_groups[g].albert_layers[i]``, unrolled into blocks."""

    family = "albert"

    @classmethod
    def dims(cls, config) -> Dims:
        dims = super().dims(config)
        blocks = int(config.num_hidden_layers) * int(getattr(config, "inner_group_num", 1) or 1)
        return Dims(blocks, dims.n_heads, dims.head_dim, dims.hidden_size, dims.max_positions)

    def layers(self) -> Sequence[nn.Module]:
        config, groups = self.config, self.model.encoder.albert_layer_groups
        per_group = config.num_hidden_layers / config.num_hidden_groups
        return [layer for i in range(config.num_hidden_layers)
                for layer in groups[int(i / per_group)].albert_layers]

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attention

    def make_block(self, module: nn.Module, index: int) -> PostLNBlock:
        att = module.attention
        pieces = PostLNPieces(
            query=att.query, key=att.key, value=att.value, out=att.dense, ln1=att.LayerNorm,
            ffn_in=module.ffn, act=module.activation, ffn_out=module.ffn_output,
            ln2=module.full_layer_layer_norm, scale=float(att.scaling),
        )
        return PostLNBlock(index, pieces, self.n_heads, self.head_dim, causal=False)
