# syntax=docker/dockerfile:1
# One image for both livechat programs:
#   chat server (default): gunicorn --config python:app.gunicorn_conf 'app:create_app()'
#   Twitch ingest:         python -m ingest
# The builder installs the project with the same `pip install -c constraints.txt .` of
# pyproject.toml that the Makefile runs (editable there) into a venv; the final stage gets
# only that venv. constraints.txt pins the libraries app/websocket.py reaches into.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY app ./app
COPY ingest ./ingest
COPY livechat_operator ./livechat_operator
RUN pip install --constraint constraints.txt --no-cache-dir . \
    && pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="livechat" \
      org.opencontainers.image.description="livechat chat server and Twitch ingest" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 livechat \
    && useradd --system --uid 10001 --gid livechat --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin livechat
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=5000 \
    METRICS_HOST=0.0.0.0
WORKDIR /srv/livechat
USER 10001:10001
EXPOSE 5000 9101 9102
CMD ["gunicorn", "--config", "python:app.gunicorn_conf", "app:create_app()"]
