#!/usr/bin/env bash
# Local studio: migrate, seed the demo team, then web + workers together; Ctrl-C stops them all.
# `make run`: gunicorn with debug pages off (studio.settings.local); `make dev` (STUDIO_PROFILE=dev):
# Django's runserver with debug pages and auto-reload (studio.settings.dev).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PROFILE=${STUDIO_PROFILE:-run}
if [ "$PROFILE" = dev ]; then
    export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-studio.settings.dev}
else
    export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-studio.settings.local}
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
HOST=${STUDIO_HOST:-127.0.0.1}
PORT=${STUDIO_PORT:-8000}

$BIN/python manage.py migrate --noinput
$BIN/python manage.py seed_demo

pids=()
stop() {
    trap - INT TERM EXIT
    echo; echo "Stopping web, workers and inference…"
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

$BIN/celery -A studio worker -Q default,evaluation -n default@%h --concurrency 1 --loglevel INFO &
pids+=($!)
$BIN/celery -A studio worker -Q training -n training@%h --concurrency 1 --prefetch-multiplier 1 --loglevel INFO &
pids+=($!)
if [ "$PROFILE" = dev ]; then
    $BIN/python manage.py runserver "$HOST:$PORT" &
else
    $BIN/gunicorn studio.wsgi --bind "$HOST:$PORT" --workers "${STUDIO_WEB_WORKERS:-2}" --threads 4 \
        --timeout 120 --access-logfile - &
fi
pids+=($!)
# The inference process (OpenAI-compatible and predict APIs for published endpoints).
$BIN/python manage.py serve --host "$HOST" --port "${SERVING_PORT:-8001}" &
pids+=($!)

$BIN/python manage.py prepare_base_models
sleep 2
cat <<EOT

  SLM Studio is running at http://$HOST:$PORT/
  Sign in as owner, product, engineer, viewer or reviewer — password: studio-demo
  API docs: http://$HOST:$PORT/api/docs/   Admin console: http://$HOST:$PORT/admin/
  Inference (OpenAI-compatible, endpoint API keys): http://$HOST:${SERVING_PORT:-8001}/v1
  Press Ctrl-C to stop.

EOT
wait -n "${pids[@]}"
