"""LoRA dropout acts inside the adapter while training and not at all when the model answers.

Django-free (run with ``-p no:django``).
"""

import torch

from training.engine.runner import _dropout_between_a_and_b


def _adapted(tiny_model, dropout: float):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # B starts at zero, which would hide anything A's output goes through
            torch.nn.init.normal_(parameter, std=0.5)
    _dropout_between_a_and_b(model, dropout)
    return model


def test_training_forwards_differ_and_answers_do_not(tiny_model):
    model = _adapted(tiny_model, 0.5)
    ids = torch.tensor([[1, 5, 9, 14, 3]])

    model.train()
    with torch.no_grad():
        first, second = model(input_ids=ids).logits, model(input_ids=ids).logits
    assert not torch.allclose(first, second)

    model.eval()
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)


def test_no_dropout_leaves_training_deterministic(tiny_model):
    model = _adapted(tiny_model, 0.0)
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    model.train()
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
