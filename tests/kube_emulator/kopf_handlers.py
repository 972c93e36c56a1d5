"""A trivial kopf operator for the emulated API tests (run as `kopf run` in a subprocess)."""

from __future__ import annotations

import os
from typing import Any

import kopf


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(server=os.environ["KUBE_EMULATOR_URL"], default_namespace="default")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.watching.server_timeout = 30
    settings.posting.loggers = True  # object-logger messages (INFO and above) become Events


@kopf.on.create("example.com", "v1", "widgets")
def created(
    body: kopf.Body, spec: kopf.Spec, patch: kopf.Patch, logger: kopf.Logger, **_: Any
) -> dict[str, Any]:
    logger.info("widget created")
    kopf.info(body, reason="Sized", message=f"size {spec['size']}")
    patch.status["phase"] = "Created"
    return {"size": spec["size"]}


@kopf.on.update("example.com", "v1", "widgets")
def updated(spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> dict[str, Any]:
    patch.status["phase"] = "Updated"
    return {"size": spec["size"]}


@kopf.on.delete("example.com", "v1", "widgets")
def deleted(name: str, logger: kopf.Logger, **_: Any) -> None:
    logger.info(f"widget {name} deleted")
