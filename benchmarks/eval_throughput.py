"""Eval throughput (issue 11, benchmark 1): batched label scoring against one-example-at-a-time loops.

    .venv/bin/python benchmarks/eval_throughput.py [--adapter DIR] [--examples 300] [--threads N]

One model version (a LoRA adapter on SmolLM2-135M-Instruct: ``--adapter`` from ``training_quality.py
--keep`` or a studio model version, else one trained here with the ``quick`` preset on
clinc150/train_small.jsonl), the first 300 examples of clinc150/test_small.jsonl, 151 labels:

1. studio: the eval run's own path, ``evaluation.engine.answer.answer_cases`` (what an eval worker calls:
   chunks of 64 through ``classify.score_label_batch``, batches of 16, the shared prompt prefix once per
   batch, every label's log-probability by tree attention, negligible labels skipped within the default
   tolerance, with per-case latency and token counts);
2. per-text loop: ``inference.score_labels`` one text at a time (the path it replaces: the prompt once,
   its cache repeated for the 24 likeliest first tokens' labels);
3. generate loop: Hugging Face ``model.generate`` once per example, greedy, at most 64 new tokens, the
   answer counted correct when it is exactly the label;
4. with ``--exact``, the studio scorer with tolerance 0 (every label of every input scored).

The methods take turns on chunks of the examples, so a change in machine load hits each alike.
"""

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from training_quality import SHARED_DATA, read_jsonl, train_adapter

from evaluation.engine.answer import answer_cases
from training.engine.base_models import ensure_cached
from training.engine.classify import LabelTree, score_label_batch
from training.engine.config import resolve_preset
from training.engine.data import PromptFormat
from training.engine.hardware import detect
from training.engine.inference import DEFAULT_TOLERANCE, LabelTrie, load_model_version, score_labels

INSTRUCTIONS = "Classify the user's request into its intent label."


def studio(predictor, labels, texts):
    """The eval worker's path (`evaluation.engine.answer.answer_cases`), default tolerance."""
    answers = answer_cases(predictor, texts, task_type="classification", labels=labels)
    return [a.output for a in answers], [sum(map(math.isfinite, a.log_probs.values())) for a in answers]


def exact(predictor, fmt, tree, texts):
    scores = score_label_batch(predictor.model, fmt, texts, tree, tolerance=0.0)
    return [score.label for score in scores]


def per_text(predictor, fmt, trie, texts):
    predicted = []
    for text in texts:
        probabilities = score_labels(predictor.model, fmt, text, trie)
        predicted.append(max(probabilities, key=probabilities.get))
    return predicted


@torch.no_grad()
def generate_loop(predictor, fmt, texts):
    answers = []
    for text in texts:
        input_ids = torch.tensor([fmt.prompt_ids(text)], device=predictor.device)
        output = predictor.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=64,
            do_sample=False,
            eos_token_id=sorted(fmt.stop_ids),
            pad_token_id=predictor.tokenizer.pad_token_id,
        )
        answers.append(fmt.decode_answer(output[0, input_ids.shape[1] :].tolist()))
    return answers


def train_quick(cached, data: Path, work: Path, labels: list[str]) -> Path:
    train = read_jsonl(data / "train_small.jsonl")
    hp = resolve_preset("quick", n_train_examples=len(train), device_type=detect()["device"])
    print(f"training a quick adapter: {hp.model_dump_json()}")
    result = train_adapter(
        cached, train, hp, work, instructions=INSTRUCTIONS, task_type="classification", labels=labels
    )
    return result.output_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "clinc150")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", "var/model-cache"))
    )
    parser.add_argument("--adapter", type=Path, help="a saved model version (else a quick one is trained)")
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=60, help="examples per turn of each method")
    parser.add_argument("--threads", type=int, help="torch threads (default: every core)")
    parser.add_argument("--exact", action="store_true", help="also time the scorer with tolerance 0")
    parser.add_argument("--skip-per-text", action="store_true", help="leave out the slow per-text loop")
    args = parser.parse_args()

    test = read_jsonl(args.data / "test_small.jsonl")[: args.examples]
    labels = sorted({row["output"] for row in read_jsonl(args.data / "train_small.jsonl")})
    cached = ensure_cached(None, args.cache)
    with tempfile.TemporaryDirectory() as work:
        adapter = args.adapter or train_quick(cached, args.data, Path(work), labels)
        predictor = load_model_version(adapter, cached)
    if args.threads:
        torch.set_num_threads(args.threads)
    fmt = PromptFormat(predictor.tokenizer, predictor.instructions or INSTRUCTIONS)
    sequences = {label: fmt.answer_ids(label) for label in labels}
    tree, trie = LabelTree(sequences), LabelTrie(sequences)
    hardware = detect()
    print(f"device: {hardware['device']} ({hardware['name']}), torch threads {torch.get_num_threads()}")
    print(f"model version: {adapter}")
    print(f"{len(test)} examples of test_small.jsonl, {len(labels)} labels, {len(tree)} label-trie nodes")

    methods = ["studio"] + ([] if args.skip_per_text else ["per-text"]) + ["generate"]
    methods += ["exact"] if args.exact else []
    seconds = dict.fromkeys(methods, 0.0)
    predicted: dict[str, list[str]] = {method: [] for method in methods}
    scored_labels: list[int] = []
    for start in range(0, len(test), args.chunk):
        texts = [row["input"] for row in test[start : start + args.chunk]]
        for method in methods:
            started = time.perf_counter()
            if method == "studio":
                answers, counts = studio(predictor, labels, texts)
                scored_labels += counts
            elif method == "exact":
                answers = exact(predictor, fmt, tree, texts)
            elif method == "per-text":
                answers = per_text(predictor, fmt, trie, texts)
            else:
                answers = generate_loop(predictor, fmt, texts)
            seconds[method] += time.perf_counter() - started
            predicted[method] += answers
        done = start + len(texts)
        print(
            f"  {done}/{len(test)}: " + ", ".join(f"{m} {done / seconds[m]:.2f}/s" for m in methods),
            flush=True,
        )

    gold = [row["output"] for row in test]
    print()
    print(f"{'method':<44}{'examples/s':>12}{'accuracy':>10}{'vs generate':>13}")
    accuracy = {
        method: sum(p == g for p, g in zip(predicted[method], gold, strict=True)) / len(gold)
        for method in methods
    }
    names = {
        "studio": f"studio eval path (tolerance {DEFAULT_TOLERANCE:g})",
        "exact": "studio batched scoring (tolerance 0)",
        "per-text": "per-text score_labels loop (shortlist 24)",
        "generate": "generate() loop, max 64 new tokens",
    }
    for method in methods:
        rate = len(test) / seconds[method]
        ratio = seconds["generate"] / seconds[method]
        print(f"{names[method]:<44}{rate:>12.2f}{accuracy[method]:>10.3f}{ratio:>12.1f}x")
    outside = sum(answer not in labels for answer in predicted["generate"])
    print(f"generate() answers that are not a label: {outside}/{len(test)}")
    mean_scored = sum(scored_labels) / len(scored_labels)
    print(f"labels scored per input by the studio scorer: mean {mean_scored:.1f} of {len(labels)}")
    met = seconds["generate"] / seconds["studio"] >= 10 and accuracy["studio"] >= accuracy["generate"]
    print(f"target >= 10x the generate() loop with equal or better accuracy: {'MET' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
