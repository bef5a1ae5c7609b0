"""Which JSON Schema constrained-decoding library the engine uses: speed and correctness, side by side.

    .venv/bin/python benchmarks/constrained_libraries.py [--rows 12] [--max-new-tokens 96]

The candidates are not project dependencies (only the winner is); install the others beside the venv:

    .venv/bin/pip install --target /tmp/cand --no-deps xgrammar apache-tvm-ffi llguidance \\
        outlines-core lm-format-enforcer interegular
    PYTHONPATH=/tmp/cand .venv/bin/python benchmarks/constrained_libraries.py

For each library and each of three Restaurant-8k-like schemas (plain slots; ``$ref``/``oneOf``/``enum``/
``pattern``; nested objects, arrays and ``anyOf``) it prints: the one-off tokenizer preparation, the schema
compile time, the constraint's own time per generated token (mask + advance), decode tokens/s against
the unconstrained loop, and how many answers are JSON, satisfy the schema (``jsonschema``) and ended
with the end-of-turn token. Two models decode: the real SmolLM2-135M-Instruct (prompted, no adapter)
and a tiny random Llama on SmolLM2's vocabulary, which emits garbage unless constrained.
"""

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema
import torch

from training.engine.base_models import ensure_cached, load_tokenizer
from training.engine.data import PromptFormat
from training.engine.inference import greedy_decode

NAME = {"type": "string", "pattern": "^[A-Z][a-z]+( [A-Z][a-z]+)?$", "maxLength": 30}
SCHEMAS = {
    "slots": {
        "type": "object",
        "properties": {
            slot: {"type": "string", "maxLength": 40}
            for slot in ("people", "date", "time", "first_name", "last_name")
        },
        "additionalProperties": False,
    },
    "ref-oneOf-enum-pattern": {
        "$defs": {
            "name": NAME,
            "party": {
                "oneOf": [
                    {"type": "integer", "minimum": 1, "maximum": 30},
                    {"type": "string", "enum": ["a couple", "a few", "a family", "a big group"]},
                ]
            },
        },
        "type": "object",
        "properties": {
            "people": {"$ref": "#/$defs/party"},
            "date": {"type": "string", "pattern": "^(today|tomorrow|[0-9]{4}-[0-9]{2}-[0-9]{2})$"},
            "time": {"type": "string", "pattern": "^[0-9]{1,2}(:[0-9]{2})? ?(am|pm)?$"},
            "first_name": {"$ref": "#/$defs/name"},
            "last_name": {"$ref": "#/$defs/name"},
            "seating": {"enum": ["indoor", "outdoor", "bar"]},
        },
        "required": ["people"],
        "additionalProperties": False,
    },
    "nested-array-anyOf": {
        "$defs": {"name": NAME},
        "type": "object",
        "properties": {
            "booking": {
                "type": "object",
                "properties": {
                    "guests": {"type": "array", "items": {"$ref": "#/$defs/name"}, "maxItems": 4},
                    "when": {
                        "anyOf": [
                            {"type": "string", "pattern": "^[0-9]{1,2}:[0-9]{2}$"},
                            {"type": "null"},
                        ]
                    },
                    "confirmed": {"type": "boolean"},
                },
                "required": ["guests", "when", "confirmed"],
                "additionalProperties": False,
            }
        },
        "required": ["booking"],
        "additionalProperties": False,
    },
}


def _bits_to_bool(bitmask_row: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """An int32 token bitmask (bit i of word i // 32 = token i allowed) as a bool tensor."""
    shifts = torch.arange(32, dtype=torch.int32)
    bits = (bitmask_row[:, None] >> shifts) & 1
    allowed = bits.flatten().bool()
    if len(allowed) >= vocab_size:
        return allowed[:vocab_size]
    return torch.cat([allowed, allowed.new_zeros(vocab_size - len(allowed))])


# -- the candidates, each behind the engine's TokenConstraint protocol --------------------------------


class UntilStop:
    """A constraint whose answer ends at a stop token; ``consume`` hands every other token to the library."""

    def __init__(self, stop_ids):
        self.stop_ids, self.ended = stop_ids, False

    def advance(self, token_id):
        if token_id in self.stop_ids:
            self.ended = True
        else:
            self.consume(token_id)

    def is_complete(self):
        return self.ended


class XGrammar:
    name = "xgrammar"

    def __init__(self, tokenizer, vocab_size, stop_ids):
        import xgrammar

        self.xgr = xgrammar
        info = xgrammar.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=sorted(stop_ids)
        )
        self.compiler = xgrammar.GrammarCompiler(info, max_threads=2, cache_enabled=False)

    def compile(self, schema):
        return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)

    def constraint(self, compiled):
        xgr = self.xgr

        class Constraint:
            def __init__(self):
                self.matcher = xgr.GrammarMatcher(compiled)
                self.bitmask = xgr.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)

            def allowed_token_mask(self, vocab_size):
                self.matcher.fill_next_token_bitmask(self.bitmask)
                return _bits_to_bool(self.bitmask[0], vocab_size)

            def advance(self, token_id):
                if not self.matcher.accept_token(token_id):
                    raise RuntimeError("xgrammar refused a token it allowed")

            def is_complete(self):
                return self.matcher.is_terminated()

        return Constraint()


class LLGuidance:
    name = "llguidance"

    def __init__(self, tokenizer, vocab_size, stop_ids):
        import llguidance
        import llguidance.hf
        import llguidance.torch

        self.llg = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=min(stop_ids))
        self.stop_ids = stop_ids

    def compile(self, schema):
        grammar = self.llg.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
        error = self.llg.LLMatcher.validate_grammar(grammar, self.tokenizer)
        if error:
            raise ValueError(error)
        return grammar

    def constraint(self, compiled):
        llg, tokenizer, stop_ids = self.llg, self.tokenizer, self.stop_ids

        class Constraint(UntilStop):
            def __init__(self):
                super().__init__(stop_ids)
                self.matcher = llg.LLMatcher(tokenizer, compiled)
                self.bitmask = llg.torch.allocate_token_bitmask(1, tokenizer.vocab_size)

            def allowed_token_mask(self, vocab_size):
                if self.matcher.is_stopped():  # the document is complete: only the end of turn remains
                    allowed = torch.zeros(vocab_size, dtype=torch.bool)
                    allowed[sorted(stop_ids)] = True
                    return allowed
                llg.torch.fill_next_token_bitmask(self.matcher, self.bitmask, 0)
                return _bits_to_bool(self.bitmask[0], vocab_size)

            def consume(self, token_id):
                if not self.matcher.consume_token(token_id):
                    raise RuntimeError(f"llguidance refused a token it allowed: {self.matcher.get_error()}")

        return Constraint()


class OutlinesCore:
    name = "outlines-core"

    def __init__(self, tokenizer, vocab_size, stop_ids):
        import outlines_core

        self.oc = outlines_core
        # Byte-level BPE tokens (GPT-2 alphabet) back to their bytes; special tokens are left out.
        alphabet = _gpt2_byte_decoder()
        special = set(tokenizer.all_special_ids)
        tokens: dict[bytes, list[int]] = {}
        for token, token_id in tokenizer.get_vocab().items():
            if token_id in special or token_id >= vocab_size or any(char not in alphabet for char in token):
                continue
            tokens.setdefault(bytes(alphabet[char] for char in token), []).append(token_id)
        self.vocabulary = outlines_core.Vocabulary(min(stop_ids), tokens)
        self.stop_ids = stop_ids

    def compile(self, schema):
        from outlines_core.json_schema import build_regex_from_schema

        return self.oc.Index(build_regex_from_schema(json.dumps(schema), r""), self.vocabulary)

    def constraint(self, compiled):
        oc, stop_ids = self.oc, self.stop_ids

        class Constraint(UntilStop):
            def __init__(self):
                super().__init__(stop_ids)
                self.guide = oc.Guide(compiled)

            def allowed_token_mask(self, vocab_size):
                allowed = torch.zeros(vocab_size, dtype=torch.bool)
                allowed[self.guide.get_tokens()] = True
                return allowed

            def consume(self, token_id):
                self.guide.advance(token_id)

        return Constraint()


class LMFormatEnforcer:
    name = "lm-format-enforcer"

    def __init__(self, tokenizer, vocab_size, stop_ids):
        import transformers

        # 0.11.3 imports a module transformers 5 no longer has; give it the class it wants to see.
        sys.modules.setdefault(
            "transformers.tokenization_utils",
            types.SimpleNamespace(PreTrainedTokenizerBase=transformers.PreTrainedTokenizerBase),
        )
        from lmformatenforcer import JsonSchemaParser, TokenEnforcer
        from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data

        self.parser_class, self.enforcer_class = JsonSchemaParser, TokenEnforcer
        self.data = build_token_enforcer_tokenizer_data(tokenizer, vocab_size=vocab_size)
        self.stop_ids = stop_ids

    def compile(self, schema):
        return schema

    def constraint(self, compiled):
        enforcer = self.enforcer_class(self.data, self.parser_class(compiled))
        stop_ids = self.stop_ids

        class Constraint(UntilStop):
            def __init__(self):
                super().__init__(stop_ids)
                self.tokens: list[int] = []

            def allowed_token_mask(self, vocab_size):
                tokens = enforcer.get_allowed_tokens(self.tokens)
                if tokens.use_bitmask:
                    return _bits_to_bool(tokens.allowed_tokens, vocab_size)
                allowed = torch.zeros(vocab_size, dtype=torch.bool)
                allowed[tokens.allowed_tokens] = True
                return allowed

            def consume(self, token_id):
                self.tokens.append(token_id)

        return Constraint()


def _gpt2_byte_decoder() -> dict[str, int]:
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


class Timed:
    """Wraps a constraint and adds the seconds it spends to a shared counter."""

    def __init__(self, inner, clock: list[float]):
        self.inner, self.clock = inner, clock

    def allowed_token_mask(self, vocab_size):
        started = time.perf_counter()
        try:
            return self.inner.allowed_token_mask(vocab_size)
        finally:
            self.clock[0] += time.perf_counter() - started

    def advance(self, token_id):
        started = time.perf_counter()
        self.inner.advance(token_id)
        self.clock[0] += time.perf_counter() - started

    def is_complete(self):
        return self.inner.is_complete()


def decode(model, fmt: PromptFormat, prompts, max_new_tokens: int, constraints=None):
    """Greedy answers to the prompts and the seconds they took."""
    started = time.perf_counter()
    generated = greedy_decode(
        model,
        prompts,
        pad_id=fmt.tokenizer.pad_token_id,
        stop_ids=fmt.stop_ids,
        max_new_tokens=max_new_tokens,
        constraints=constraints,
    )
    return generated, time.perf_counter() - started


def check(fmt: PromptFormat, generated: list[list[int]], schema: dict, show: bool = False) -> dict:
    validator = jsonschema.Draft202012Validator(schema)
    counts = {"json": 0, "schema": 0, "ended": 0}
    for ids in generated:
        counts["ended"] += bool(ids) and ids[-1] in fmt.stop_ids
        answer = fmt.decode_answer(ids)
        try:
            value = json.loads(answer)
        except ValueError:
            if show:
                print(f"      not JSON: {answer!r}")
            continue
        counts["json"] += 1
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        counts["schema"] += error is None
        if show and error is not None:
            print(f"      schema: {error.message} in {answer!r}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "restaurant8k")
    parser.add_argument("--cache", type=Path, default=Path("var/model-cache"))
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--libraries", default="xgrammar,llguidance,outlines-core,lm-format-enforcer")
    parser.add_argument("--models", default="SmolLM2,tiny random")
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    from training.engine.tiny import build_tiny_llama

    cached = ensure_cached(None, args.cache)
    tokenizer = load_tokenizer(cached.path)
    models = {"SmolLM2": AutoModelForCausalLM.from_pretrained(cached.path, dtype=torch.float32).eval()}
    tiny_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "constrained-libraries-tiny"
    if not (tiny_dir / "config.json").exists():
        build_tiny_llama(tiny_dir, vocab_from=cached.path, hidden_size=64)
    models["tiny random"] = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    vocab_size = models["SmolLM2"].config.vocab_size
    with open(args.data / "test_small.jsonl") as handle:
        texts = [json.loads(line)["input"] for line in handle][: args.rows]

    candidates = {"xgrammar": XGrammar, "llguidance": LLGuidance}
    candidates |= {"outlines-core": OutlinesCore, "lm-format-enforcer": LMFormatEnforcer}
    stop_ids = PromptFormat(tokenizer, "").stop_ids
    libraries = {}
    for name in args.libraries.split(","):
        started = time.perf_counter()
        try:
            libraries[name] = candidates[name](tokenizer, vocab_size, stop_ids)
        except ImportError as error:
            print(f"{name:<19} not installed ({error})")
            continue
        print(f"{name:<19} tokenizer preparation (once) {time.perf_counter() - started:6.2f} s")
    print(f"{args.rows} Restaurant-8k inputs per schema, greedy, max {args.max_new_tokens} new tokens")
    for model_name in args.models.split(","):
        model = models[model_name]
        print(f"\n== {model_name}")
        for schema_name, schema in SCHEMAS.items():
            instructions = f"Extract the booking as JSON matching this schema: {json.dumps(schema)}"
            fmt = PromptFormat(tokenizer, instructions)
            prompts = [fmt.prompt_ids(text) for text in texts]
            free, free_seconds = decode(model, fmt, prompts, args.max_new_tokens)
            free_tokens = sum(len(ids) for ids in free)
            counts = check(fmt, free, schema)
            print(
                f"  {schema_name:<24} {'unconstrained':<19} {'':>18} {'':>13} "
                f"{free_tokens / free_seconds:8.1f} tok/s  json {counts['json']}/{len(texts)} "
                f"schema {counts['schema']}/{len(texts)} ended {counts['ended']}/{len(texts)}"
            )
            for name, library in libraries.items():
                try:
                    started = time.perf_counter()
                    compiled = library.compile(schema)
                    compile_seconds = time.perf_counter() - started
                except Exception as error:  # a library that cannot take the schema is a finding
                    print(
                        f"  {schema_name:<24} {name:<19} FAILED to compile: {type(error).__name__}: {error}"
                    )
                    continue
                clock = [0.0]
                try:
                    constraints = [Timed(library.constraint(compiled), clock) for _ in prompts]
                    generated, seconds = decode(model, fmt, prompts, args.max_new_tokens, constraints)
                except Exception as error:
                    print(f"  {schema_name:<24} {name:<19} FAILED while decoding: {error!r}")
                    continue
                tokens = sum(len(ids) for ids in generated)
                counts = check(fmt, generated, schema, show=args.show_failures)
                print(
                    f"  {schema_name:<24} {name:<19} compile {compile_seconds * 1000:7.1f} ms "
                    f"{clock[0] / max(tokens, 1) * 1000:6.2f} ms/tok {tokens / seconds:8.1f} tok/s  "
                    f"json {counts['json']}/{len(texts)} schema {counts['schema']}/{len(texts)} "
                    f"ended {counts['ended']}/{len(texts)}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
