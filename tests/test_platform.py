"""Deployment facts: production settings pass `check --deploy`, the web process never imports torch,
docker-compose.yml validates, and the sign-in page works."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {**os.environ, **_env_example(), "STUDIO_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL")  # `check` needs no database server; SQLite keeps this test self-contained
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser-test harness, never in deployment
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in {**os.environ, **_env_example()}.items() if k != "DJANGO_SECRET_KEY"}
    env["STUDIO_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_web_process_does_not_import_torch():
    code = (
        "import sys, django; django.setup();"
        "import studio.wsgi;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "from django.test import Client; Client().get('/accounts/login/');"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules);"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "studio.settings.test"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_file_is_valid(tmp_path):
    assert shutil.which("docker-compose"), "Debian's docker-compose is missing: `make test` installs it"
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    services = subprocess.run(
        ["docker-compose", "config", "--services"], cwd=tmp_path, capture_output=True, text=True
    )
    assert {"postgres", "redis", "web", "worker", "gpu-worker", "inference"} <= set(services.stdout.split())
    resolved = yaml.safe_load(
        subprocess.run(["docker-compose", "config"], cwd=tmp_path, capture_output=True, text=True).stdout
    )
    for name in ("web", "worker", "gpu-worker", "inference"):  # never against an unmigrated database
        assert resolved["services"][name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name


@pytest.mark.django_db
def test_sign_in_page_and_demo_logins(client):
    from django.core.management import call_command

    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert client.get("/accounts/login/").status_code == 200
    for username in ("owner", "product", "engineer", "viewer", "reviewer"):
        assert client.login(username=username, password="studio-demo"), username
        assert client.get("/team/").status_code == 200
        client.logout()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115  (idempotent)
    from projects.models import Membership

    assert Membership.objects.filter(team__slug="support").count() == 4


@pytest.mark.django_db
def test_health_endpoint(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_a_refused_browser_action_goes_back_with_the_reason(client, team, owner):
    from projects.models import Membership

    client.force_login(owner)
    own = Membership.objects.get(team=team, user=owner)
    response = client.post(
        f"/members/{own.pk}/role/",
        {"role": "viewer"},
        HTTP_REFERER=f"http://testserver/teams/{team.slug}/",
        follow=True,
    )
    assert response.status_code == 200
    assert b"at least one owner" in response.content
