"""Dataset upload end to end through the studio's upload service, 10k vs 100k rows side by side.

    .venv/bin/python benchmarks/ingest_upload_service.py

`projects.services.dataset_upload` does what a browser or API upload does after the body has arrived:
one streaming validation pass (with PII scan and token counts in SmolLM2's tokenizer when its cache
exists), the deterministic stratified split, the contamination check, the version row, its files and
the audit event. Each size runs in a fresh process on a fresh SQLite database; the figures are rows/s
and the growth of the process's peak RSS (VmHWM) during the upload.
Targets: >= 20,000 rows/s on this 2-core machine; peak memory growth under 150 MB whatever the size.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest_throughput import _vm_kib, generate

SIZES = (10_000, 100_000)


def child(path: str) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from projects.services import dataset_upload, project_create, team_create

    user = get_user_model().objects.create_user("bench", password="x")
    team = team_create(user=user, name="Bench")
    project = project_create(
        team=team, user=user, name="Intents", task_type="classification", instructions="Classify the request."
    )
    rss_before = _vm_kib("VmRSS")
    started = time.perf_counter()
    with open(path, "rb") as upload:
        version = dataset_upload(project=project, user=user, file=upload, filename="bench.jsonl")
    seconds = time.perf_counter() - started
    return {
        "rows": version.row_count,
        "seconds": seconds,
        "rss_growth_mib": (_vm_kib("VmHWM") - rss_before) / 1024,
        "unit": version.stats["length_unit"],
        "tokenizer": version.stats.get("tokenizer") or "none",
        "pii": sum(version.pii_summary.values()),
        "splits": version.split_counts,
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
        return
    results = []
    with tempfile.TemporaryDirectory() as work:
        for rows in SIZES:
            path = Path(work) / f"{rows}.jsonl"
            generate(path, rows)
            data_dir = Path(work) / f"data-{rows}"
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "studio.settings.test",
                "STUDIO_DATA_DIR": str(data_dir),
                "STUDIO_MODEL_CACHE": os.environ.get("STUDIO_MODEL_CACHE", str(ROOT / "var" / "model-cache")),
                "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
            }
            env.pop("CELERY_BROKER_URL", None)
            data_dir.mkdir()
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            results.append({"size_mb": path.stat().st_size / 1e6, **json.loads(out.stdout.splitlines()[-1])})
    first = results[0]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, lengths in {first['unit']} "
        f"(tokenizer: {first['tokenizer']}), through projects.services.dataset_upload"
    )
    print(f"{'rows':>8} {'file MB':>8} {'seconds':>8} {'rows/s':>9} {'RSS+ MiB':>9} {'PII':>6}  splits")
    for r in results:
        print(
            f"{r['rows']:>8} {r['size_mb']:>8.1f} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>9,.0f} "
            f"{r['rss_growth_mib']:>9.1f} {r['pii']:>6}  {r['splits']}"
        )
    growth = results[-1]["rss_growth_mib"] - results[0]["rss_growth_mib"]
    print(
        f"memory growth from {SIZES[0]:,} to {SIZES[-1]:,} rows: {growth:+.1f} MiB "
        f"(target: under 150 MB at any size)"
    )


if __name__ == "__main__":
    main()
