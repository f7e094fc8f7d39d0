# DataShark server image: `datashark serve` (OpenAI-compatible API + the Roblox /api) as a
# non-root user. Two stages: `build` compiles the package (its C kernels need a compiler) into a
# virtual environment; the runtime stage copies only that environment onto a slim base.
# The default model is not baked in: the server pulls it on first start into /data (a volume),
# so the image stays small and the model survives restarts.
#
#   docker build -t datashark .
#   docker run -p 8000:8000 -v datashark-data:/data -e DATASHARK_API_KEY=change-me datashark
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# Kernels for a portable x86-64 level, not -march=native: the image runs on other CPUs.
ARG DATASHARK_MARCH=x86-64-v2
RUN DATASHARK_MARCH=${DATASHARK_MARCH} pip install . \
    && python -c "import datashark.engine, datashark.server"

FROM python:${PYTHON_VERSION}-slim AS runtime
# libgomp1: the OpenMP runtime the native kernels link against.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin datashark \
    && mkdir -p /data/models \
    && chown -R datashark:datashark /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATASHARK_HOME=/data/models \
    DATASHARK_HOST=0.0.0.0 \
    DATASHARK_PORT=8000
VOLUME ["/data"]
USER 10001:10001
WORKDIR /home/datashark
EXPOSE 8000
# The first start downloads the default model (about 100 MB) before the port opens.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DATASHARK_PORT', '8000') + '/health', timeout=4)"]
CMD ["datashark", "serve"]
