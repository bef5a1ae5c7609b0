"""The fused LoRA adapter path: peft's maths (outputs and gradients); dropout only while training.

Django-free (run with ``-p no:django``).
"""

import contextlib

import pytest
import torch

from training.engine.lora import fuse_adapter_path


def _adapted(tiny_model, *, dropout: float = 0.0, fused: bool = True, dtype=torch.float32):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=dtype)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # B starts at zero, which would hide anything A's output goes through
            torch.nn.init.normal_(parameter, std=0.5)
    if fused:
        assert fuse_adapter_path(model, dropout) > 0
    return model


def _loss_and_grads(model, ids, autocast):
    model.train()
    with autocast:
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = {name: p.grad.float() for name, p in model.named_parameters() if p.requires_grad}
    return loss.detach().float(), grads


@pytest.mark.parametrize("number_format", ["fp32", "bf16-autocast"])
def test_the_fused_path_computes_what_peft_computes_forward_and_backward(tiny_model, number_format):
    ids = torch.tensor([[1, 5, 9, 14, 3, 7], [2, 8, 4, 4, 11, 6]])
    bf16 = number_format == "bf16-autocast"
    dtype = torch.bfloat16 if bf16 else torch.float32

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    peft_loss, peft_grads = _loss_and_grads(_adapted(tiny_model, fused=False, dtype=dtype), ids, autocast())
    fused = _adapted(tiny_model, dtype=dtype)
    fused_loss, fused_grads = _loss_and_grads(fused, ids, autocast())
    # The fused path is what ran: every adapted layer trains its one plain adapter through it.
    paths = [module.forward for module in fused.modules() if hasattr(module.forward, "plain_adapter")]
    assert paths and all(path.plain_adapter() == "default" for path in paths)

    tolerance = 2e-2 if bf16 else 1e-5
    assert fused_loss == pytest.approx(peft_loss.item(), rel=tolerance)
    assert fused_grads.keys() == peft_grads.keys() and any("lora_A" in name for name in fused_grads)
    for name, grad in peft_grads.items():
        scale = grad.abs().max().clamp_min(1e-6)
        assert (fused_grads[name] - grad).abs().max() / scale < tolerance * 5, name


IDS = torch.tensor([[1, 5, 9, 14, 3]])


def _logits(model, *, training: bool) -> torch.Tensor:
    model.train(training)
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_training_forwards_differ_and_answers_do_not(tiny_model):
    model = _adapted(tiny_model, dropout=0.5)
    assert not torch.allclose(_logits(model, training=True), _logits(model, training=True))
    assert torch.equal(_logits(model, training=False), _logits(model, training=False))


def test_no_dropout_leaves_training_deterministic(tiny_model):
    model = _adapted(tiny_model, dropout=0.0)
    assert torch.equal(_logits(model, training=True), _logits(model, training=True))


def test_a_disabled_adapter_trains_as_the_base_model(tiny_model):
    model, reference = _adapted(tiny_model), _adapted(tiny_model, fused=False)
    adapted = _logits(model, training=True)
    with model.disable_adapter():
        base = _logits(model, training=True)
    with reference.disable_adapter():
        assert torch.allclose(base, _logits(reference, training=True))
    assert not torch.allclose(adapted, base)


def test_a_model_answers_by_peft_own_path_so_it_answers_alike_when_reloaded(tiny_model):
    fused, reference = (
        _adapted(tiny_model, dtype=torch.bfloat16),
        _adapted(tiny_model, fused=False, dtype=torch.bfloat16),
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(_logits(fused, training=False), _logits(reference, training=False))
