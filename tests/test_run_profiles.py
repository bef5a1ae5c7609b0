"""`make run` runs like the product (debug pages off, static files through WhiteNoise); `make dev` does not.

Each profile's settings are loaded in a fresh interpreter, as scripts/run.sh loads them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")  # an allowed host, as a browser on the machine sends
page = client.get("/no-such-page/")
api = client.get("/api/v1/no-such-resource/")
asset = client.get("/static/css/studio.css")
print(json.dumps({
    "debug": settings.DEBUG,
    "page": [page.status_code, page.content.decode(errors="replace")],
    "api": [api.status_code, api.content.decode(errors="replace")],
    "asset": [asset.status_code, asset.get("Content-Type", "")],
}))
"""

DEBUG_PAGE_MARKS = ("URLconf", "urlpatterns", "DEBUG = True", "SECRET_KEY", "Django tried these URL patterns")


def _probe(settings_module: str, tmp_path) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "STUDIO_DATA_DIR": str(tmp_path)}
    env.pop("DJANGO_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_make_run_settings_show_no_debug_page_and_serve_static_files(tmp_path):
    seen = _probe("studio.settings.local", tmp_path)
    assert seen["debug"] is False
    status, body = seen["page"]
    assert status == 404
    assert not [mark for mark in DEBUG_PAGE_MARKS if mark in body]
    assert "studio" in body.lower()  # the studio's own 404 page
    status, body = seen["api"]
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert seen["asset"][0] == 200 and seen["asset"][1].startswith("text/css")


def test_make_dev_is_the_profile_with_debug_pages(tmp_path):
    seen = _probe("studio.settings.dev", tmp_path)
    assert seen["debug"] is True
    status, body = seen["page"]
    assert status == 404 and "URLconf" in body


def test_make_run_serves_with_gunicorn_and_make_dev_with_the_debug_profile():
    makefile = (ROOT / "Makefile").read_text()
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert "\nrun: install\n\tscripts/run.sh\n" in makefile
    assert "\ndev: install\n\tSTUDIO_PROFILE=dev scripts/run.sh\n" in makefile
    assert (
        "gunicorn studio.wsgi" in script
        and "studio.settings.local" in script
        and "studio.settings.dev" in script
    )
