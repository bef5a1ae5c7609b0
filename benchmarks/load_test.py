"""A bounded load test on loopback: concurrent API clients against the studio as users run it
(``scripts/run.sh``: gunicorn web, two Celery workers, ``manage.py serve``), across the management API and
the OpenAI-compatible endpoint, for a fixed time.

    .venv/bin/python benchmarks/load_test.py                      # 16 clients for 60 s (embedded default)
    .venv/bin/python benchmarks/load_test.py --seconds 10         # smoke run
    .venv/bin/python benchmarks/load_test.py --database-url postgres://… --broker-url redis://…

Set-up, through the REST API (not timed): a project on the first ``--intents`` intents of
``clinc150/train_small.jsonl``, a short LoRA run on the real SmolLM2-135M-Instruct (``--steps``, custom
preset: the adapter is not meant to be good, the endpoint serves it like any other), an eval run, the
tier-3 approvals and a published endpoint with a key. Then ``--clients`` threads for ``--seconds``:
``--inference-clients`` of them send OpenAI chat completions (classification over the intents) to serve,
the others walk the management API as the four demo users: list and detail reads, and every tenth
request a write (a project update, a new charter version, a new eval-spec version).

Printed side by side: per request class the count, 5xx count, p50/p95/p99 latency and throughput; the
answers by status; the RSS of every process of run.sh (web: the gunicorn master and its workers summed;
each Celery worker with its pool child; serve) at the start, the middle and the end of the load, with the
end/start ratio ("memory flat").
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import live_studio as studio

SLUG = "load-intents"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def set_up(live: studio.Studio, args, train: list[dict]) -> dict:
    """Everything the load needs, through the REST API: the team's clients, ids to read, the endpoint key."""
    team = studio.team_tokens(live.web)
    product = team["product"]
    project = studio.project_create(product, "Load intents", "Which intent does this message express?")
    version = studio.dataset_upload(product, project["id"], "load-intents", train)
    studio.charter_write(product, project["id"], target=0.5)
    studio.dataset_version_ready(product, version["id"])
    hyperparameters = {
        "max_steps": args.steps,
        "epochs": None,
        "batch_size": 8,
        "eval_interval_steps": args.steps,
    }
    job = studio.training_run(
        product, project["id"], version["id"], preset="custom", hyperparameters=hyperparameters, timeout=1800
    )
    model_version = job["model_version"]
    model_version = model_version["id"] if isinstance(model_version, dict) else model_version
    layers = {
        "regression": {"dataset_version": version["id"]},
        "stress": {"enabled": False},
        "policy": {"enabled": False},
    }
    spec = studio.eval_spec_signed(product, project["id"], {"layers": layers})
    run = studio.eval_run(product, model_version, spec["id"], timeout=1800)
    promotion = studio.promote_to_production(team, model_version)
    accepted = f", risk accepted for {promotion['risk_accepted']}" if promotion["risk_accepted"] else ""
    print(
        f"  eval run {run['id']}: gates passed {run['gates_passed']}; "
        f"promotion tier {promotion['tier']}{accepted}"
    )
    key = studio.endpoint_publish(team["owner"], project["id"], SLUG, rate_limit=1_000_000)
    studio.wait_served(live.inference, key, SLUG)
    return {
        "team": team,
        "project": project["id"],
        "dataset": version["dataset"],
        "dataset_version": version["id"],
        "job": job["id"],
        "model_version": model_version,
        "spec": spec["id"],
        "run": run["id"],
        "promotion": promotion["id"],
        "key": key,
    }


def management_requests(ids: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    project = ids["project"]
    lists = [
        "/api/v1/projects/",
        f"/api/v1/datasets/?project={project}",
        "/api/v1/dataset-versions/",
        f"/api/v1/training-jobs/?project={project}",
        f"/api/v1/model-versions/?project={project}",
        f"/api/v1/eval-runs/?project={project}",
        "/api/v1/promotions/",
        "/api/v1/endpoints/",
        "/api/v1/audit-events/",
        f"/api/v1/charters/?project={project}",
    ]
    details = [
        f"/api/v1/projects/{project}/",
        f"/api/v1/datasets/{ids['dataset']}/",
        f"/api/v1/dataset-versions/{ids['dataset_version']}/",
        f"/api/v1/training-jobs/{ids['job']}/",
        f"/api/v1/model-versions/{ids['model_version']}/",
        f"/api/v1/eval-runs/{ids['run']}/",
        f"/api/v1/eval-specs/{ids['spec']}/",
        f"/api/v1/promotions/{ids['promotion']}/",
        f"/api/v1/endpoints/{SLUG}/",
    ]
    return [("list", path) for path in lists], [("detail", path) for path in details]


def write_request(ids: dict, number: int) -> tuple[str, str, dict]:
    project = ids["project"]
    kind = number % 3
    if kind == 0:
        return "PATCH", f"/api/v1/projects/{project}/", {"description": f"Load test update {number}."}
    if kind == 1:
        body = {
            "project": project,
            "problem_statement": f"Route each message to its intent (revision {number}).",
            "business_metric": "Share of messages routed to the right queue",
            "data_classes": ["internal"],
            "confidence_threshold": 0.5,
            "success_measures": [{"metric": "accuracy", "baseline": 0.1, "target": 0.5}],
            "change_note": f"load test {number}",
        }
        return "POST", "/api/v1/charters/", body
    layers = {"regression": {"dataset_version": ids["dataset_version"]}, "stress": {"enabled": False}}
    return "POST", "/api/v1/eval-specs/", {"project": project, "layers": layers}


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.errors: list[str] = []

    def add(self, kind: str, status: int | str, seconds: float, detail: str = "") -> None:
        with self.lock:
            self.statuses[kind][status] += 1
            if isinstance(status, int) and status < 400:
                self.latency[kind].append(seconds)
            elif len(self.errors) < 20:
                self.errors.append(f"{kind} {status} {detail}"[:300])


def management_client(index: int, ids: dict, stop_at: float, recorder: Recorder, web: str) -> None:
    team = ids["team"]
    users = list(team)
    clients = {user: studio.Api(web, team[user].token, timeout=120) for user in users}
    lists, details = management_requests(ids)
    rng = random.Random(index)
    number = 0
    while time.monotonic() < stop_at:
        number += 1
        if number % 10 == 0:
            kind, api = "write", clients["product"]
            method, path, body = write_request(ids, index * 100_000 + number)
        else:
            kind, path = rng.choice(lists if number % 2 else details)
            api, method, body = clients[rng.choice(users)], "GET", None
        started = time.perf_counter()
        try:
            status, payload = api.request(method, path, body)
        except OSError as error:
            api.close()
            recorder.add(kind, type(error).__name__, time.perf_counter() - started, path)
            continue
        recorder.add(kind, status, time.perf_counter() - started, f"{method} {path} {str(payload)[:160]}")
    for api in clients.values():
        api.close()


def inference_client(
    index: int, ids: dict, stop_at: float, recorder: Recorder, inference: str, texts: list
) -> None:
    api = studio.Api(inference, ids["key"], timeout=300)
    rng = random.Random(1000 + index)
    while time.monotonic() < stop_at:
        body = {"model": SLUG, "messages": [{"role": "user", "content": rng.choice(texts)}]}
        started = time.perf_counter()
        try:
            status, payload = api.request("POST", "/v1/chat/completions", body)
        except OSError as error:
            api.close()
            recorder.add("inference", type(error).__name__, time.perf_counter() - started)
            continue
        recorder.add("inference", status, time.perf_counter() - started, str(payload)[:200])
    api.close()


def sample_memory(live: studio.Studio, stop: threading.Event, samples: list, started: float) -> None:
    while not stop.is_set():
        samples.append((time.monotonic() - started, live.rss_mib()))
        stop.wait(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--inference-clients", type=int, default=4, help="of --clients, those calling serve")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--intents", type=int, default=10, help="intents of clinc150 the endpoint knows")
    parser.add_argument("--steps", type=int, default=4, help="LoRA steps of the set-up training job")
    parser.add_argument("--data", type=Path, default=studio.DATA / "clinc150")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("STUDIO_MODEL_CACHE", ROOT / "var" / "model-cache"))
    )
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL (default: SQLite in the scratch data dir)"
    )
    parser.add_argument("--broker-url", default="", help="Redis (default: the embedded filesystem broker)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data dir (its run.log)")
    args = parser.parse_args()

    rows = studio.read_jsonl(args.data / "train_small.jsonl")
    intents = list(dict.fromkeys(row["output"] for row in rows))[: args.intents]
    train = [row for row in rows if row["output"] in intents]
    texts = [
        row["input"] for row in studio.read_jsonl(args.data / "test_small.jsonl") if row["output"] in intents
    ]

    live = studio.Studio(
        cache=args.cache, database_url=args.database_url, broker_url=args.broker_url, keep=args.keep
    )
    try:
        started = time.perf_counter()
        live.wait_ready()
        print(
            f"studio ready in {time.perf_counter() - started:.1f} s ({live.backend}); setting up…", flush=True
        )
        started = time.perf_counter()
        ids = set_up(live, args, train)
        print(
            f"set-up (project, {len(train)} rows, {args.steps} LoRA steps, eval, approvals, endpoint) "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        warm = studio.Api(
            live.inference, ids["key"]
        )  # the first answer loads the adapter: not part of the load
        warm.call(
            "POST",
            "/v1/chat/completions",
            {"model": SLUG, "messages": [{"role": "user", "content": texts[0]}]},
        )
        warm.close()

        recorder, samples, stop = Recorder(), [], threading.Event()
        load_started = time.monotonic()
        stop_at = load_started + args.seconds
        sampler = threading.Thread(
            target=sample_memory, args=(live, stop, samples, load_started), daemon=True
        )
        sampler.start()
        threads = []
        for index in range(args.clients):
            if index < args.inference_clients:
                target, extra = inference_client, (live.inference, texts)
            else:
                target, extra = management_client, (live.web,)
            threads.append(threading.Thread(target=target, args=(index, ids, stop_at, recorder, *extra)))
        print(
            f"load: {args.clients} clients ({args.inference_clients} on serve) for {args.seconds:.0f} s; "
            f"load average before {load()}",
            flush=True,
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - load_started
        stop.set()
        sampler.join()
        samples.append((elapsed, live.rss_mib()))
        report(args, live, recorder, samples, elapsed)
    finally:
        live.stop()


def report(args, live, recorder: Recorder, samples: list, elapsed: float) -> None:
    print(
        f"\nload test: {args.clients} clients for {elapsed:.1f} s on loopback ({live.backend}; "
        f"serve: SmolLM2-135M-Instruct + LoRA, {args.intents} intents; load average after {load()})"
    )
    print(
        f"{'class':<10} {'requests':>8} {'5xx':>5} {'other':>6} "
        f"{'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'req/s':>8}"
    )
    total_5xx = total = 0
    for kind in ("list", "detail", "write", "inference"):
        statuses = recorder.statuses.get(kind, Counter())
        count = sum(statuses.values())
        fives = sum(n for status, n in statuses.items() if not isinstance(status, int) or status >= 500)
        other = sum(n for status, n in statuses.items() if isinstance(status, int) and 400 <= status < 500)
        total_5xx, total = total_5xx + fives, total + count
        values = [1000 * s for s in recorder.latency.get(kind, [])]
        print(
            f"{kind:<10} {count:>8} {fives:>5} {other:>6} {percentile(values, 0.5):>9.1f} "
            f"{percentile(values, 0.95):>9.1f} {percentile(values, 0.99):>9.1f} {count / elapsed:>8.2f}"
        )
    print(f"{'all':<10} {total:>8} {total_5xx:>5}{'':>46} {total / elapsed:>8.2f}")
    for kind, statuses in sorted(recorder.statuses.items()):
        print(f"  {kind} answers by status: {dict(sorted(statuses.items(), key=str))}")
    print(f"no 5xx (or dropped connection): {'yes' if total_5xx == 0 else f'NO ({total_5xx})'}")
    for line in recorder.errors[:8]:
        print(f"  e.g. {line}")

    start = samples[0][1]
    middle = min(samples, key=lambda sample: abs(sample[0] - elapsed / 2))[1]
    end = samples[-1][1]
    peak = {role: max(sample[1][role] for sample in samples) for role in start}
    print(
        f"\n{'RSS MiB':<26} {'start':>9} {'middle':>9} {'end':>9} {'peak':>9} "
        f"{'end/start':>10} {'end/middle':>11}"
    )
    for role in start:
        ratio = end[role] / start[role] if start[role] else float("nan")
        settled = end[role] / middle[role] if middle[role] else float("nan")
        print(
            f"{role:<26} {start[role]:>9.0f} {middle[role]:>9.0f} {end[role]:>9.0f} "
            f"{peak[role]:>9.0f} {ratio:>9.2f}x {settled:>10.2f}x"
        )


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
