"""The adapter path of peft's LoRA layers as the training loop runs it: dropout and scale on the rank-r
side, the add fused into the matrix product.

peft computes ``result + lora_B(lora_A(dropout(x))) * scaling``: its dropout draws a random number per
*input* feature, it casts the layer input to the adapter's fp32 (under bf16 autocast the product casts it
back), and the scale and the add each run over the layer's full output width. On a CPU those full-width
passes cost as much as the adapter's matrix products. Here the same sum is
``addmm(result, dropout(x A^T) * scaling, B^T)``: the dropout and the scale touch r numbers per token,
the add happens inside the product, and x is never copied. The maths (and so what the adapter learns and
saves) is peft's; only dropout's placement differs (A's output rather than its input, the same
regulariser on the adapter path). In eval mode the layer runs peft's own forward, as a reloaded version
and the serving engine do, so a model answers alike in memory and reloaded: in bf16 the two paths round
differently (the fused one once, inside the product), enough to move a confidence by a point or two.
"""

import torch


def fuse_adapter_path(model, dropout: float = 0.0) -> int:
    """Give every vanilla LoRA ``Linear`` of a peft model the fused forward; returns how many."""
    from peft.tuners.lora.layer import Linear

    fused = 0
    for layer in model.modules():
        if isinstance(layer, Linear) and isinstance(layer.base_layer, torch.nn.Linear):
            layer.forward = _FusedForward(layer, layer.forward, dropout)
            fused += 1
    return fused


class _FusedForward:
    """A LoRA layer's forward: the fused path for one plain adapter, peft's own for anything else."""

    def __init__(self, layer, peft_forward, dropout: float):
        self.layer, self.peft_forward, self.dropout = layer, peft_forward, dropout

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        layer = self.layer
        name = None if (args or kwargs) else self.plain_adapter()
        if name is None:
            return self.peft_forward(x, *args, **kwargs)
        result = layer.base_layer(x)
        hidden = torch.nn.functional.linear(x, layer.lora_A[name].weight.to(x.dtype))
        hidden = torch.nn.functional.dropout(hidden, self.dropout, training=True) * layer.scaling[name]
        width = result.shape[-1]
        fused = torch.addmm(
            result.reshape(-1, width),
            hidden.reshape(-1, hidden.shape[-1]).to(result.dtype),
            layer.lora_B[name].weight.t().to(result.dtype),
        )
        return fused.view(result.shape)

    def plain_adapter(self) -> str | None:
        """The one active adapter while training, if it is plain LoRA without biases; else None."""
        layer = self.layer
        if not layer.training or layer.disable_adapters or layer.merged or len(layer.active_adapters) != 1:
            return None
        name = layer.active_adapters[0]
        if name not in layer.lora_A or name in layer.lora_variant:
            return None
        if layer.lora_A[name].bias is not None or layer.lora_B[name].bias is not None:
            return None
        return name
