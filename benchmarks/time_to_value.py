"""Time to value: from a labelled file to an endpoint answering the official ``openai`` client, through
the REST API only, on a studio started as users start it (``scripts/run.sh``).

    .venv/bin/python benchmarks/time_to_value.py              # CLINC150 small, 151 intents (target <= 15 min)
    .venv/bin/python benchmarks/time_to_value.py --limit 5    # smoke run: the first 5 intents only
    .venv/bin/python benchmarks/time_to_value.py --database-url postgres://… --broker-url redis://…

Stages, each timed: upload (project + ``clinc150/train_small.jsonl``), charter, training (the default
preset on the default base model, SmolLM2-135M-Instruct, on the real training worker), evaluation (an
eval spec signed by the product owner, run on the evaluation worker), approvals (the product owner asks;
the tier the studio computes decides who approves: the first production version is tier 3, so an ML
engineer, the team owner as product owner and a governance reviewer, each a different person), endpoint
(publish and an API key), first answer (``manage.py serve`` loading the version and answering its first
``openai`` request). Then the endpoint's accuracy on ``clinc150/test_small.jsonl``, through the endpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import live_studio as studio

TARGET_SECONDS = 15 * 60
SLUG = "support-intents"


def first_labels(rows: list[dict], count: int | None) -> list[dict]:
    """The rows of the first ``count`` labels (in file order), or all rows."""
    if not count:
        return rows
    keep = list(dict.fromkeys(row["output"] for row in rows))[:count]
    return [row for row in rows if row["output"] in keep]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="keep only the first N intents (smoke run)")
    parser.add_argument("--data", type=Path, default=studio.DATA / "clinc150")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", ROOT / "var" / "model-cache"))
    )
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL (default: SQLite in the scratch data dir)"
    )
    parser.add_argument("--broker-url", default="", help="Redis (default: the embedded filesystem broker)")
    parser.add_argument(
        "--stress-per-perturbation", type=int, default=10, help="the eval spec's stress layer"
    )
    parser.add_argument(
        "--accuracy-clients", type=int, default=8, help="concurrent openai clients for the accuracy pass"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch data dir (its run.log)")
    args = parser.parse_args()

    train = first_labels(studio.read_jsonl(args.data / "train_small.jsonl"), args.limit)
    labels = sorted({row["output"] for row in train})
    test = [row for row in studio.read_jsonl(args.data / "test_small.jsonl") if row["output"] in labels]
    print(f"data: {len(train)} training rows, {len(test)} test rows, {len(labels)} intents", flush=True)

    started = time.perf_counter()
    live = studio.Studio(
        cache=args.cache, database_url=args.database_url, broker_url=args.broker_url, keep=args.keep
    )
    times: dict[str, float] = {}
    try:
        live.wait_ready()
        times["studio start (run.sh, not counted)"] = time.perf_counter() - started
        print(
            f"studio ready in {times['studio start (run.sh, not counted)']:.1f} s ({live.backend}), "
            f"data dir {live.data_dir}",
            flush=True,
        )
        team = studio.team_tokens(live.web)
        product = team["product"]

        def stage(name: str):
            return Stage(times, name)

        with stage("upload"):
            project = studio.project_create(
                product,
                "Support intents",
                "Which intent does this customer message express? Answer with the intent only.",
            )
            version = studio.dataset_upload(product, project["id"], "clinc150-small", train)
        print(
            f"  dataset version {version['id']}: {version.get('row_count')} rows, "
            f"splits {version.get('split_counts')}"
        )

        with stage("charter"):
            studio.charter_write(product, project["id"], target=0.8)
            studio.dataset_version_ready(product, version["id"])

        with stage("training"):
            job = studio.training_run(product, project["id"], version["id"], timeout=3 * 3600)
        model_version = job["model_version"]
        model_version_id = model_version["id"] if isinstance(model_version, dict) else model_version
        print(
            f"  job {job['id']}: preset {job.get('preset')}, base {job.get('base_model')}, "
            f"model version {model_version_id}"
        )

        with stage("evaluation"):
            spec = studio.eval_spec_signed(
                product,
                project["id"],
                {
                    "layers": {
                        "regression": {"dataset_version": version["id"]},
                        "stress": {"per_perturbation": args.stress_per_perturbation},
                    }
                },
            )
            run = studio.eval_run(product, model_version_id, spec["id"], timeout=3 * 3600)
        print(
            f"  eval run {run['id']}: {run['examples_total']} cases, accuracy {accuracy_of(run)}, "
            f"gates passed: {run['gates_passed']}"
        )

        with stage("approvals"):
            promotion = studio.promote_to_production(team, model_version_id, reason="First release.")
        print(
            f"  promotion {promotion['id']}: tier {promotion['tier']}, approved by "
            + ", ".join(f"{a.get('approver')} ({a.get('role')})" for a in promotion.get("approvals", []))
            + (f"; risk accepted for {promotion['risk_accepted']}" if promotion["risk_accepted"] else "")
        )

        with stage("endpoint + key"):
            secret = studio.endpoint_publish(team["owner"], project["id"], SLUG)

        import openai

        client = openai.OpenAI(base_url=f"{live.inference}/v1", api_key=secret, max_retries=0, timeout=600)
        with stage("first openai answer"):
            first = wait_first_answer(client, test[0]["input"])
        print(f"  first answer: {test[0]['input']!r} -> {first!r} (expected {test[0]['output']!r})")

        total = sum(seconds for name, seconds in times.items() if "not counted" not in name)
        accuracy_started = time.perf_counter()
        correct, answered = endpoint_accuracy(client, test, args.accuracy_clients)
        accuracy_seconds = time.perf_counter() - accuracy_started

        print(
            f"\ntime to value ({len(train)} rows, {len(labels)} intents; {live.backend}; "
            f"load average {load()})"
        )
        print(f"  {'stage':<36} {'seconds':>10}   load average at its end")
        for name, seconds in times.items():
            print(f"  {name:<36} {seconds:8.1f} s   {LOADS.get(name, float('nan')):.1f}")
        print(f"  {'total (upload to first answer)':<36} {total:8.1f} s = {total / 60:.1f} min")
        verdict = "MET" if total <= TARGET_SECONDS else "NOT MET"
        print(f"  target <= {TARGET_SECONDS / 60:.0f} min: {verdict}")
        print(
            f"endpoint accuracy on {args.data.name}/test_small.jsonl through the endpoint (openai client): "
            f"{correct}/{len(test)} = {correct / len(test):.3f} ({answered} answered, "
            f"{accuracy_seconds:.1f} s, {len(test) / accuracy_seconds:.2f} requests/s, "
            f"{args.accuracy_clients} clients)"
        )
    finally:
        live.stop()


LOADS: dict[str, float] = {}  # the 1-minute load average as each stage ended (the machine may be shared)


class Stage:
    def __init__(self, times: dict, name: str):
        self.times, self.name = times, name

    def __enter__(self):
        print(f"{self.name}…", flush=True)
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        self.times[self.name] = time.perf_counter() - self.started
        LOADS[self.name] = os.getloadavg()[0]
        if exc[0] is None:
            print(f"  {self.name}: {self.times[self.name]:.1f} s", flush=True)


def accuracy_of(run: dict) -> str:
    value = (run.get("metrics") or {}).get("all", {}).get("accuracy")
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def ask(client, text: str) -> str:
    answer = client.chat.completions.create(model=SLUG, messages=[{"role": "user", "content": text}])
    return (answer.choices[0].message.content or "").strip()


def wait_first_answer(client, text: str, timeout: float = 600) -> str:
    """serve follows the database: the new endpoint is a 404 until it has loaded the version."""
    import openai

    deadline = time.monotonic() + timeout
    while True:
        try:
            return ask(client, text)
        except (openai.NotFoundError, openai.APIConnectionError, openai.InternalServerError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def endpoint_accuracy(client, test: list[dict], clients: int) -> tuple[int, int]:
    def one(row: dict) -> tuple[bool, bool]:
        try:
            return ask(client, row["input"]) == row["output"], True
        except Exception as error:
            print(f"    {type(error).__name__}: {str(error)[:200]}", flush=True)
            return False, False

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, test))
    return sum(ok for ok, _ in results), sum(answered for _, answered in results)


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
