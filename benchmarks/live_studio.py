"""A studio started the way users start it (``scripts/run.sh``: gunicorn, two Celery workers and
``manage.py serve``) in a scratch data dir, and a small REST client for it (stdlib only).

Shared by ``load_test.py`` and ``time_to_value.py``; not a test module and not used by the test suite.
The demo users ``seed_demo`` creates (owner, product, engineer, reviewer; password ``studio-demo``) sign
in once through the login form to mint a personal access token; everything after that is the REST API.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PASSWORD = "studio-demo"
USERS = ("owner", "product", "engineer", "reviewer")
TEAM = "support"

# What each process of run.sh is, told by its command line (the first pattern that matches).
ROLES = (
    ("web", "gunicorn"),
    ("worker default,evaluation", "default,evaluation"),
    ("worker training", "-Q training"),
    ("serve", "manage.py serve"),
)


class ApiError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Studio:
    """``scripts/run.sh`` as a child process (its own process group) on free ports in a scratch data dir.

    ``database_url``/``broker_url``: PostgreSQL and Redis instead of the embedded SQLite and broker."""

    def __init__(self, *, cache: Path, database_url: str = "", broker_url: str = "", keep: bool = False):
        self.data_dir = Path(tempfile.mkdtemp(prefix="slm-bench-"))
        self.keep = keep
        self.web_port, self.serve_port = free_port(), free_port()
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.inference = f"http://127.0.0.1:{self.serve_port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the venv's editable install points to
            "STUDIO_DATA_DIR": str(self.data_dir),
            "STUDIO_MODEL_CACHE": str(cache),
            "STUDIO_PORT": str(self.web_port),
            "SERVING_PORT": str(self.serve_port),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)  # run.sh's own choice: studio.settings.local
        if database_url:
            env["DATABASE_URL"] = database_url
        if broker_url:
            env["CELERY_BROKER_URL"] = broker_url
        self.backend = (
            "PostgreSQL + Redis" if database_url and broker_url else "embedded (SQLite + filesystem broker)"
        )
        self.log_path = self.data_dir / "run.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "run.sh")],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 600) -> None:
        """Until the web answers /healthz, serve answers /readyz and run.sh printed its banner (the base
        models are prepared by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"scripts/run.sh stopped:\n{self.log()}")
            if (
                "SLM Studio is running" in self.log()
                and status_of(self.web + "/healthz") == 200
                and status_of(self.inference + "/readyz") == 200
            ):
                return
            time.sleep(0.5)
        raise SystemExit(f"the studio was not ready in {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def processes(self) -> dict[str, list]:
        """run.sh's processes by role (each role with its own children: gunicorn and Celery pool workers)."""
        import psutil

        found: dict[str, list] = {role: [] for role, _ in ROLES}
        for child in psutil.Process(self.process.pid).children():
            try:
                command = " ".join(child.cmdline())
            except psutil.Error:
                continue
            role = next((role for role, pattern in ROLES if pattern in command), None)
            if role is not None:
                found[role] += [child, *child.children(recursive=True)]
        return found

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each role, its processes summed (MiB)."""
        import psutil

        sizes = {}
        for role, members in self.processes().items():
            total = 0
            for process in members:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            sizes[role] = total / 2**20
        return sizes

    def stop(self) -> None:
        """SIGTERM to run.sh's process group (its trap stops the rest), then SIGKILL whatever is left of the
        group after a minute: a Celery worker may outlive run.sh while it shuts down."""
        group = self.process.pid
        if self.process.poll() is None:
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.process.poll()  # reaps run.sh once it exits (a zombie would keep the group alive)
            if not group_alive(group):
                break
            time.sleep(0.2)
        if group_alive(group):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()
        self._log.close()
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def sign_in_token(web: str, username: str, *, manage_tokens: bool = False) -> str:
    """Sign in through the login form (the browser's way) and mint a personal access token with the API."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{web}/accounts/login/", timeout=60).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf})
    opener.open(urllib.request.Request(f"{web}/accounts/login/", data=form.encode()), timeout=60).read()
    cookie = next(c.value for c in jar if c.name == "csrftoken")
    body = json.dumps({"name": f"benchmark {secrets.token_hex(3)}", "can_manage_tokens": manage_tokens})
    request = urllib.request.Request(
        f"{web}/api/v1/tokens/",
        data=body.encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": cookie, "Referer": f"{web}/"},
    )
    try:
        return json.loads(opener.open(request, timeout=60).read())["token"]
    except urllib.error.HTTPError as error:
        raise ApiError(f"{username} could not mint a token: {error.code} {error.read()[:300]!r}") from error


class Api:
    """One user's REST client (``Authorization: Bearer <token>``) over one keep-alive connection."""

    def __init__(self, base: str, token: str, timeout: float = 300):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port, self.token, self.timeout = parts.hostname, parts.port, token, timeout
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body=None, *, headers: dict | None = None
    ) -> tuple[int, object]:
        """(status, parsed JSON or raw bytes). Retries once on a dropped keep-alive connection."""
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None and not isinstance(body, bytes):
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._connection.request(method, path, body=raw, headers=sent)
                response = self._connection.getresponse()
                content = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            try:
                return response.status, json.loads(content) if content else None
            except ValueError:
                return response.status, content
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def call(self, method: str, path: str, body=None, *, expect: tuple[int, ...] = (200, 201), **kwargs):
        status, payload = self.request(method, path, body, **kwargs)
        if status not in expect:
            raise ApiError(f"{method} {path} -> {status}: {str(payload)[:600]}")
        return payload

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body=None, **kwargs):
        return self.call("POST", path, body if body is not None else {}, **kwargs)

    def upload(self, path: str, fields: dict, filename: str, content: bytes):
        boundary = f"----slm{secrets.token_hex(12)}"
        parts = []
        for name, value in fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        return self.call(
            "POST",
            path,
            b"".join(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    def wait(self, path: str, done, *, timeout: float, interval: float = 2.0, progress=None):
        """Poll ``path`` until ``done(body)``; ``progress(body)`` is printed when it changes."""
        deadline, last = time.monotonic() + timeout, None
        while True:
            body = self.get(path)
            if progress is not None and (line := progress(body)) != last:
                print(f"    {line}", flush=True)
                last = line
            if done(body):
                return body
            if time.monotonic() > deadline:
                raise ApiError(f"{path} not done after {timeout:.0f} s: {str(body)[:600]}")
            time.sleep(interval)


def team_tokens(web: str) -> dict[str, Api]:
    """A client for each demo user; the owner's token may manage tokens (it creates the endpoint's key)."""
    return {user: Api(web, sign_in_token(web, user, manage_tokens=user == "owner")) for user in USERS}


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


# -- the journey's steps, through the REST API ---------------------------------------------------


def project_create(api: Api, name: str, instructions: str) -> dict:
    return api.post(
        "/api/v1/projects/",
        {"team": TEAM, "name": name, "task_type": "classification", "instructions": instructions},
    )


def charter_write(api: Api, project: int, *, target: float) -> dict:
    return api.post(
        "/api/v1/charters/",
        {
            "project": project,
            "problem_statement": "Route each customer message to its intent so that agents answer faster.",
            "business_metric": "Share of messages routed to the right queue",
            "data_classes": ["internal"],
            "confidence_threshold": 0.5,
            "success_measures": [{"metric": "accuracy", "baseline": 0.1, "target": target}],
        },
    )


def dataset_upload(api: Api, project: int, name: str, rows: list[dict]) -> dict:
    return api.upload("/api/v1/datasets/", {"project": project, "name": name}, f"{name}.jsonl", jsonl(rows))


def dataset_version_ready(api: Api, version: int) -> dict:
    """The version, which must be ready to train on (it is blocked until a charter allows its data)."""
    body = api.get(f"/api/v1/dataset-versions/{version}/")
    if body["status"] != "ready":
        raise ApiError(f"dataset version {version} is {body['status']}: {str(body)[:600]}")
    return body


def training_run(api: Api, project: int, dataset_version: int, *, timeout: float, **options) -> dict:
    """Create a job and follow it to the end; the finished job (its ``model_version`` set)."""
    job = api.post(
        "/api/v1/training-jobs/", {"project": project, "dataset_version": dataset_version, **options}
    )
    job = api.wait(
        f"/api/v1/training-jobs/{job['id']}/",
        lambda j: j["status"] in ("succeeded", "failed", "cancelled"),
        timeout=timeout,
        interval=3,
        progress=lambda j: f"training job {j['id']}: {j['status']} {100 * (j.get('progress') or 0):.0f}%",
    )
    if job["status"] != "succeeded":
        raise ApiError(f"training job {job['id']} {job['status']}: {job.get('failure')}")
    return job


def eval_spec_signed(api: Api, project: int, document: dict) -> dict:
    spec = api.post("/api/v1/eval-specs/", {"project": project, **document})
    return api.post(f"/api/v1/eval-specs/{spec['id']}/sign/")


def eval_run(api: Api, model_version: int, spec: int, *, timeout: float) -> dict:
    run = api.post("/api/v1/eval-runs/", {"model_version": model_version, "spec": spec})
    run = api.wait(
        f"/api/v1/eval-runs/{run['id']}/",
        lambda r: r["status"] in ("succeeded", "failed"),
        timeout=timeout,
        interval=3,
        progress=lambda r: (
            f"eval run {r['id']}: {r['status']} {r.get('examples_done')}/{r.get('examples_total')}"
        ),
    )
    if run["status"] != "succeeded":
        raise ApiError(f"eval run {run['id']} failed: {run.get('failure')}")
    return run


def promote_to_production(team: dict[str, Api], model_version: int, **request) -> dict:
    """The product owner asks; every role the computed tier needs approves, each a different person.

    Gates that fail are named in a risk acceptance (as a product owner would have to), and the answer's
    ``risk_accepted`` lists them."""
    path = "/api/v1/promotions/"
    body = {"model_version": model_version, "target_stage": "production", **request}
    status, promotion = team["product"].request("POST", path, body)
    accepted = []
    if status == 409 and promotion["error"]["code"] == "gates_failed":
        accepted = promotion["error"]["details"]["failing_gates"]
        until = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
        body["risk_acceptance"] = {"gates": accepted, "reason": "Benchmark run.", "until": until}
        promotion = team["product"].post(path, body)
    elif status != 201:
        raise ApiError(f"POST {path} -> {status}: {str(promotion)[:600]}")
    approvers = {"ml_engineer": "engineer", "product_owner": "owner", "governance_reviewer": "reviewer"}
    for role in promotion["required_roles"]:
        promotion = team[approvers[role]].post(
            f"/api/v1/promotions/{promotion['id']}/approve/", {"role": role, "comment": "Benchmark run."}
        )
    if promotion["status"] != "approved":
        raise ApiError(f"promotion {promotion['id']} is {promotion['status']}: {str(promotion)[:600]}")
    return {**promotion, "risk_accepted": accepted}


def endpoint_publish(api: Api, project: int, slug: str, *, rate_limit: int | None = None) -> str:
    """Publish the project's production version and create a key for it; the key's secret."""
    api.post("/api/v1/endpoints/", {"project": project, "slug": slug, "routing_threshold": None})
    body = {"name": "benchmark client"}
    if rate_limit:
        body["rate_limit_per_minute"] = rate_limit
    return api.post(f"/api/v1/endpoints/{slug}/keys/", body)["key"]


def wait_served(inference: str, key: str, slug: str, *, timeout: float = 600) -> None:
    """Until serve lists the endpoint (it follows the database's endpoints and loads the version)."""
    client = Api(inference, key)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = client.request("GET", "/v1/models")
        if status == 200 and any(model.get("id") == slug for model in body.get("data", [])):
            client.close()
            return
        time.sleep(0.5)
    raise ApiError(f"serve did not list {slug} within {timeout:.0f} s")
