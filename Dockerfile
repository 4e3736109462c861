# watcher-temporal worker (also runs the CLI, the codec server and the
# search-attribute registration): docker build -t watcher-temporal .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
# pyproject.toml maps workflows/ and activities/ into watcher_temporal (package-dir).
COPY watcher_temporal ./watcher_temporal
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py ./
RUN pip install ".[otlp]" \
    && useradd --system --uid 10001 --home-dir /app watcher

USER watcher
# Nova credentials: mount a clouds.yaml and set OS_CLOUD (see docker-compose.yml).
CMD ["watcher-temporal-worker"]
