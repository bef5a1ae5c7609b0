"""How long an upload holds the web request: checked in the request (inline) vs on a worker (off-web).

    .venv/bin/python benchmarks/ingest_web_hold.py [--sizes 10000,100000]

Each size and mode runs in a fresh process on a fresh SQLite database. The upload is a multipart POST
to `/api/v1/datasets/` through Django's full request handler (middleware, multipart parser, DRF, the
view), timed from the call to the response (the body encoded beforehand, after a warm-up request):
that is how long a gunicorn worker is held. Inline, the
request validates, splits and stores the rows (201); off-web it only stores the file and queues a
dataset import (202), and the check then runs on a worker, timed separately (the time until the
version exists). The rows are the ingest benchmark's (~250 bytes each, 3% with personal data).
"""

import argparse
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

from ingest_throughput import generate

MODES = ("inline", "off-web")


def child(path: str, mode: str) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from projects.models import DatasetImport
    from projects.services import project_create, team_create
    from projects.services.imports import dataset_import_run

    settings.STUDIO_UPLOAD_INLINE_BYTES = 1 << 40 if mode == "inline" else 1 << 20
    user = get_user_model().objects.create_user("bench", password="x")
    team = team_create(user=user, name="Bench")
    project = project_create(
        team=team, user=user, name="Intents", task_type="classification", instructions="Classify the request."
    )
    client = APIClient()
    client.force_authenticate(user)
    client.get("/api/v1/datasets/")  # first-request imports and URL loading are not the upload's
    # The multipart body is encoded before the clock starts: a browser sends it ready-made.
    body = encode_multipart(
        BOUNDARY, {"project": project.pk, "file": SimpleUploadedFile("bench.jsonl", Path(path).read_bytes())}
    )
    started = time.perf_counter()
    response = client.generic("POST", "/api/v1/datasets/", body, MULTIPART_CONTENT)
    held = time.perf_counter() - started
    result = {"status": response.status_code, "held": held, "worker": None}
    if response.status_code == 202:
        # What the worker then does (in this process, as the task would): check and store the rows.
        record = DatasetImport.objects.get(pk=response.json()["id"])
        started = time.perf_counter()
        version = dataset_import_run(import_id=record.pk, worker="bench")
        result["worker"] = time.perf_counter() - started
        result["rows"] = version.row_count
    else:
        result["rows"] = response.json()["row_count"]
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as work:
        for rows in sizes:
            path = Path(work) / f"{rows}.jsonl"
            generate(path, rows)
            for mode in MODES:
                data_dir = Path(work) / f"data-{rows}-{mode}"
                data_dir.mkdir()
                env = {
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": "studio.settings.test",
                    "STUDIO_DATA_DIR": str(data_dir),
                    "STUDIO_MODEL_CACHE": os.environ.get(
                        "STUDIO_MODEL_CACHE", str(ROOT / "var" / "model-cache")
                    ),
                    "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
                }
                env.pop("CELERY_BROKER_URL", None)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(path), mode],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                result = json.loads(out.stdout.splitlines()[-1])
                results.append({"rows": rows, "mb": path.stat().st_size / 1e6, "mode": mode, **result})
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; POST /api/v1/datasets/ in-process")
    header = f"{'rows':>8} {'file MB':>8}  {'inline: held s':>15} {'off-web: held s':>16} {'worker s':>9}"
    print(f"{header}  held less")
    for rows in sizes:
        inline, off = (next(r for r in results if r["rows"] == rows and r["mode"] == m) for m in MODES)
        assert (inline["status"], off["status"]) == (201, 202), (inline, off)
        print(
            f"{rows:>8,} {inline['mb']:>8.1f}  {inline['held']:>15.2f} {off['held']:>16.3f} "
            f"{off['worker']:>9.2f}  {inline['held'] / off['held']:>8.0f}x"
        )


if __name__ == "__main__":
    main()
