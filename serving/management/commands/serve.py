"""``manage.py serve``: the inference process (the data plane) on uvicorn.

It loads every active endpoint's production version into the engine (``embedded`` by default, ``vllm``
with ``--backend vllm --vllm-url ...``), answers the OpenAI-compatible and task-native APIs, follows
promotions and rollbacks within a second, and on SIGTERM/SIGINT stops taking connections, finishes the
requests in flight (up to ``--graceful-timeout`` seconds), then releases the models.
"""

import json
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the inference process: OpenAI-compatible and predict APIs for the published endpoints."

    def add_arguments(self, parser):
        serving = settings.SERVING
        parser.add_argument("--host", default=serving["host"])
        parser.add_argument("--port", type=int, default=serving["port"], help="0 picks a free port")
        parser.add_argument("--backend", choices=["embedded", "vllm"], default=serving["backend"])
        parser.add_argument("--vllm-url", default=serving["vllm_url"])
        parser.add_argument("--device", default=serving["device"], help="embedded: cpu, cuda, ... (auto)")
        parser.add_argument("--max-batch-size", type=int, default=serving["max_batch_size"])
        parser.add_argument("--max-queue", type=int, default=serving["max_queue"])
        parser.add_argument("--poll-seconds", type=float, default=1.0)
        parser.add_argument("--graceful-timeout", type=float, default=30.0)
        parser.add_argument("--log-level", default="warning")

    def handle(self, *args, **options):
        # Imported here: the web process lists management commands but never loads an engine.
        from pydantic import ValidationError

        from serving.engine.config import EngineLimits
        from serving.inference.config import InferenceConfig

        try:
            config = InferenceConfig(
                backend=options["backend"],
                vllm_url=options["vllm_url"] or None,
                vllm_path_map=settings.SERVING["vllm_path_map"],
                device=options["device"] or None,
                limits=EngineLimits(max_batch_size=options["max_batch_size"], max_queue=options["max_queue"]),
                state_poll_seconds=options["poll_seconds"],
                shutdown_timeout_seconds=options["graceful_timeout"],
            )
        except ValidationError as error:
            raise CommandError(f"invalid serving settings: {error}") from error
        sock = socket.socket(socket.AF_INET6 if ":" in options["host"] else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((options["host"], options["port"]))
        except OSError as error:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']} ({error})") from error
        serve(config, sock, options["graceful_timeout"], options["log_level"], self.stdout)


def build_engine(config):
    if config.backend == "vllm":
        from serving.engine.vllm import VllmEngine

        return VllmEngine(config.vllm_url, limits=config.limits, path_map=config.vllm_path_map)
    from serving.engine.embedded import EmbeddedEngine

    return EmbeddedEngine(limits=config.limits, device=config.device)


def server_config(app, *, log_level: str = "warning", graceful_timeout: float = 30.0):
    """uvicorn's settings for the inference app: no access log (a request's line is its request log row)
    and no `server` banner naming the software that answers."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout,
        lifespan="on",
        access_log=False,
        server_header=False,
    )


def serve(config, sock: socket.socket, graceful_timeout: float, log_level: str, stdout) -> None:
    import uvicorn

    from serving.inference.app import build_app
    from serving.inference.control import DjangoControlPlane

    app = build_app(build_engine(config), DjangoControlPlane(), config)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            app.state.inference.draining = True  # readiness fails at once; in-flight requests finish
            super().handle_exit(sig, frame)

    host, port = sock.getsockname()[:2]
    stdout.write(json.dumps({"event": "listening", "host": host, "port": port, "backend": config.backend}))
    stdout.flush()
    server = Server(server_config(app, log_level=log_level, graceful_timeout=graceful_timeout))
    server.run(sockets=[sock])
