"""Server time of the evaluation dashboards with many versions and results (issue 11, target < 300 ms).

    .venv/bin/python benchmarks/dashboard_render.py [--versions 50] [--results 10000] [--repeat 20]

A scratch data dir and database (SQLite, or PostgreSQL when DATABASE_URL is set), migrated, holding a
classification project with `--versions` model versions (the baseline and fine-tuned ones), one finished
eval run of each against the signed spec (metrics over 12 slices) and `--results` stored per-example
results spread over the runs. Each page is requested through Django's full request handler as the team
owner (middleware, view, template, plotly figures serialised), after one warm-up request: the figure is
the wall time from the call to the response, median and worst of `--repeat`, with the SQL queries it ran.
The same pages on a project with 5 versions show that the query count does not grow with the data.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LABELS = [f"intent_{i}" for i in range(10)]


def build(owner, team, *, name: str, versions: int, results: int):
    from django.utils import timezone

    from evaluation import services as evaluation_services
    from evaluation.models import EvalResult, EvalRun
    from projects import services as project_services
    from projects.tests.factories import CharterFactory, classification_rows, jsonl_bytes
    from training.models import ModelVersion
    from training.tests.factories import BaseModelFactory

    project = project_services.project_create(
        team=team, user=owner, name=name, task_type="classification", instructions="Name the intent."
    )
    CharterFactory(project=project, author=owner, version=1, data_classes=["internal"])
    project_services.dataset_upload(  # the spec's regression layer reads a dataset version's test split
        project=project,
        user=owner,
        file=io.BytesIO(jsonl_bytes(classification_rows(40))),
        filename="intents.jsonl",
        name="Intents",
    )
    spec = evaluation_services.eval_spec_sign(
        spec=evaluation_services.eval_spec_create(project=project, user=owner, document={}), user=owner
    )
    base_model = BaseModelFactory()
    per_run = max(1, results // versions)
    for number in range(versions):
        version = ModelVersion.objects.create(
            project=project,
            number=number,
            kind="baseline" if number == 0 else "fine_tuned",
            base_model=base_model,
            storage_name=f"{project.pk}-v{number}",
            training_config={
                "labels": LABELS,
                "hyperparameters": {"learning_rate": 1e-3, "lora_r": 8 + number},
            },
            lineage={"base_model": {"key": "tiny"}, "code_version": f"c{number}"},
            created_by=owner,
        )
        accuracy = 0.5 + 0.45 * number / versions
        metrics = {"all": {"accuracy": accuracy, "macro_f1": accuracy - 0.02, "ece": 0.08, "count": per_run}}
        metrics.update({f"label:{label}": {"accuracy": accuracy, "count": per_run // 10} for label in LABELS})
        metrics["length:long"] = {"accuracy": accuracy - 0.1, "count": per_run // 4}
        run = EvalRun.objects.create(
            project=project,
            spec=spec,
            model_version=version,
            created_by=owner,
            status="succeeded",
            finished_at=timezone.now(),
            metrics=metrics,
            gates_passed=accuracy > 0.7,
            gate_report={"passed": accuracy > 0.7, "verdicts": []},
            coverage_curve=[
                {"threshold": t / 10, "coverage": 1 - t / 10, "accuracy": accuracy} for t in range(10)
            ],
        )
        EvalResult.objects.bulk_create(
            EvalResult(
                run=run,
                index=i,
                case_key=f"k{i}",
                layer="regression",
                input=f"example request number {i} about {LABELS[i % 10]}",
                expected=LABELS[i % 10],
                output=LABELS[(i + number) % 10] if i % 3 else LABELS[i % 10],
                correct=not (i % 3) or (number % 10 == 0),
                confidence=0.5 + (i % 50) / 100,
                slices=f"|all|label:{LABELS[i % 10]}|",
            )
            for i in range(per_run)
        )
    return project, version


def measure(client, url: str, repeat: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert client.get(url).status_code == 200, url  # warm-up: first-request imports and template loading
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(times) * 1000, max(times) * 1000, len(queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="dashboard-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings.local")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from projects.services import team_create

    owner = get_user_model().objects.create_user("bench-owner", password="x")
    team = team_create(user=owner, name="Bench")
    started = time.perf_counter()
    small, small_top = build(
        owner, team, name="Small", versions=5, results=5 * (args.results // args.versions)
    )
    large, large_top = build(owner, team, name="Large", versions=args.versions, results=args.results)
    print(
        f"database: {connection.vendor}; built {args.versions} versions with {args.results:,} results "
        f"(and a 5-version project) in {time.perf_counter() - started:.1f} s"
    )

    client = Client()
    client.force_login(owner)
    pages = {
        "leaderboard": lambda project, top: reverse("evaluation:project_evaluation", args=[project.pk]),
        "compare (vs baseline)": lambda project, top: reverse("evaluation:compare", args=[top.pk]),
        "eval run": lambda project, top: reverse("evaluation:run_detail", args=[top.eval_runs.get().pk]),
    }
    print(f"{'page':24}{'versions':>9}{'median ms':>11}{'worst ms':>10}{'queries':>9}{'KiB':>8}")
    worst_median = 0.0
    for name, url_of in pages.items():
        counts = []
        for project, top, versions in ((small, small_top, 5), (large, large_top, args.versions)):
            median, worst, queries, size = measure(client, url_of(project, top), args.repeat)
            counts.append(queries)
            print(f"{name:24}{versions:>9}{median:>11.1f}{worst:>10.1f}{queries:>9}{size / 1024:>8.0f}")
            if versions == args.versions:
                worst_median = max(worst_median, median)
        print(f"{'':24}queries with {args.versions} vs 5 versions: {counts[1]} vs {counts[0]}")
    print(f"slowest page, median server time: {worst_median:.1f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
