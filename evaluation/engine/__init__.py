"""Django-free inference for eval runs, imported only by evaluation workers (it loads torch).

`answer.load_predictor` loads a fine-tuned version or a baseline (the base model prompted with the
project's instructions and a few examples); `answer.answer_cases` answers many inputs in batches, never
one `generate` per example: label scoring for classification, JSON-Schema constrained decoding for
extraction, greedy decoding for generation.
"""
