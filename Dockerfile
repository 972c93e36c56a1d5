# syntax=docker/dockerfile:1
# iap-operator image: a wheel built from pyproject.toml, installed into a venv, copied onto a clean
# base. Runs as a numeric non-root user on a read-only root filesystem (/tmp is an emptyDir).

# Python 3.11 on Debian bookworm, pinned by tag and by the digest of its multi-platform index as
# quoted by public projects pinning this tag. It could not be checked against the registry where this
# file was written: confirm with `docker buildx imagetools inspect python:3.11.15-slim-bookworm`.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY crds/ crds/
COPY operator/ operator/
# Dependencies come from the project's own metadata: build its wheel, then install it (and what it
# requires) into a self-contained venv. pip compiles the bytecode here, at build time.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/iap-operator \
 && /opt/iap-operator/bin/pip install /wheels/*.whl \
 && /opt/iap-operator/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
# A passwd entry for the numeric user: libraries asking for the user name (getpass) find one.
RUN groupadd --gid 65532 iap-operator \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin iap-operator
COPY --from=builder /opt/iap-operator /opt/iap-operator
# Nothing is written to the image at run time: no bytecode, HOME and TMPDIR on the /tmp emptyDir.
ENV PATH=/opt/iap-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
USER 65532:65532
# 8080: kopf's liveness endpoint (--liveness); 9090: Prometheus metrics (--metrics-port).
EXPOSE 8080 9090
ENTRYPOINT ["iap-operator", "run"]
