"""Log set-up: one JSON object per line with the object's namespace/name, and no secret ever printed."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from google.api_core import client_logging
from tests.e2e.harness import protected, world
from tests.e2e.processes import operator_process

from iap_operator.wiring.logs import (
    GOOGLE_LOGGERS,
    REDACTED,
    RememberSecrets,
    configure_logging,
    redact_text,
    redact_value,
    remember_secret,
)

BODY: kopf.RawBody = {
    "apiVersion": "iap-operator.dev/v1alpha1",
    "kind": "IapProtectedService",
    "metadata": {"name": "web", "namespace": "team-a", "uid": "0e1f"},
}
SECRET = "GOCSPX-very-secret-value"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The root logger's set-up, restored after the test (configure_logging changes global state)."""
    root = logging.getLogger()
    objects = logging.getLogger("kopf.objects")
    saved = root.handlers[:], root.level, objects.filters[:]
    touched = [logging.getLogger(n) for n in (*GOOGLE_LOGGERS, "google.cloud.compute_v1")]
    google = [(g, g.handlers[:], g.level, g.propagate) for g in touched]
    out = io.StringIO()
    yield out
    root.handlers[:], objects.filters[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    for logger, handlers, level, propagate in google:
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def object_logger() -> kopf.ObjectLogger:
    # What kopf passes to handlers as `logger`; built the same way (no monkeypatching).
    return kopf.LocalObjectLogger(body=kopf.Body(BODY), settings=kopf.OperatorSettings())


def test_json_lines_carry_time_level_logger_message_and_object(stream: io.StringIO) -> None:
    configure_logging("json", logging.INFO, stream=stream)
    object_logger().info("enabled IAP on %s", "backend-1", extra={"step": "iap"})
    logging.getLogger("iap_operator.gcp.compute").warning("quota low")
    first, second = lines(stream)
    assert first["message"] == "enabled IAP on backend-1"
    assert first["level"] == "INFO"
    assert first["logger"] == "kopf.objects"
    assert (first["namespace"], first["name"]) == ("team-a", "web")
    assert first["step"] == "iap"
    assert first["time"].endswith("+00:00")
    assert "k8s_ref" not in first
    assert "settings" not in first
    assert second["logger"] == "iap_operator.gcp.compute"
    assert second["severity"] == "WARNING"
    assert "namespace" not in second


def test_level_filters(stream: io.StringIO) -> None:
    configure_logging("json", "WARNING", stream=stream)
    logging.getLogger("iap_operator").info("hidden")
    logging.getLogger("iap_operator").error("shown")
    assert [line["message"] for line in lines(stream)] == ["shown"]


def test_exceptions_are_one_json_line(stream: io.StringIO) -> None:
    configure_logging("json", logging.INFO, stream=stream)
    try:
        raise RuntimeError("backend service vanished")
    except RuntimeError:
        logging.getLogger("iap_operator").exception("reconcile failed")
    (line,) = lines(stream)
    assert "RuntimeError: backend service vanished" in line["exception"]


def test_text_format_prefixes_the_object(stream: io.StringIO) -> None:
    configure_logging("text", logging.INFO, stream=stream)
    object_logger().info("hello")
    assert "[team-a/web] hello" in stream.getvalue()
    assert "[INFO    ]" in stream.getvalue()


def test_configuring_twice_keeps_one_handler(stream: io.StringIO) -> None:
    configure_logging("text", logging.INFO, stream=stream)
    configure_logging("json", logging.INFO, stream=stream)
    logging.getLogger("iap_operator").info("once")
    assert len(lines(stream)) == 1


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_reach_the_output(stream: io.StringIO, fmt: str) -> None:
    configure_logging(fmt, logging.DEBUG, stream=stream)  # type: ignore[arg-type]
    log = logging.getLogger("iap_operator.gcp")
    log.debug("patch body %s", {"iap": {"enabled": True, "oauth2ClientSecret": SECRET}})
    log.info("client_secret=%s", SECRET)
    log.info("request", extra={"body": {"oauth2ClientSecret": SECRET, "oauth2ClientId": "id-1"}})
    log.info("token", extra={"client_secret": SECRET})
    object_logger().warning("Authorization: Bearer %s", SECRET)
    try:
        raise ValueError(f'{{"client_secret": "{SECRET}"}}')
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert SECRET not in output
    assert f"'oauth2ClientSecret': '{REDACTED}'" in output
    assert f"Bearer {REDACTED}" in output
    if fmt == "json":
        body, token, _, failed = lines(stream)[2:]
        assert body["body"] == {"oauth2ClientSecret": REDACTED, "oauth2ClientId": "id-1"}
        assert token["client_secret"] == REDACTED
        assert failed["exception"].endswith(f'ValueError: {{"client_secret": "{REDACTED}"}}')
    else:
        assert f'ValueError: {{"client_secret": "{REDACTED}"}}' in output


def test_kopf_event_poster_sees_redacted_messages(stream: io.StringIO) -> None:
    # kopf posts kopf.objects records as Kubernetes Events from a handler on that logger, which runs
    # before the root handler: the filter must sit on the logger itself.
    configure_logging("json", logging.INFO, stream=stream)
    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    capture = Capture()
    objects = logging.getLogger("kopf.objects")
    objects.addHandler(capture)
    try:
        object_logger().info("set oauth2ClientSecret=%s", SECRET)
    finally:
        objects.removeHandler(capture)
    assert seen == [f"set oauth2ClientSecret={REDACTED}"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oauth2ClientSecret=abc", "oauth2ClientSecret=***"),
        ("{'oauth2ClientSecret': 'a b'}", "{'oauth2ClientSecret': '***'}"),
        ('{"client_secret": "x\\"y", "clientId": "id"}', '{"client_secret": "***", "clientId": "id"}'),
        ('msg: {\\"clientSecret\\": \\"abc\\"}', 'msg: {\\"clientSecret\\": \\"***\\"}'),
        ("password: hunter2, user=bob", "password: ***, user=bob"),
        ("Authorization: Bearer ya29.a0-b_c", "Authorization: Bearer ***"),
        # A digest of the secret is not a secret: the operator reports it to explain drift.
        ("oauth2ClientSecretSha256: 9f86d0", "oauth2ClientSecretSha256: 9f86d0"),
        ("clientSecretKey=client_secret", "clientSecretKey=client_secret"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_value_walks_mappings_and_lists() -> None:
    value = {"items": [{"client_secret": "s", "name": "n"}], "note": "password=p", "count": 2}
    assert redact_value(value) == {
        "items": [{"client_secret": REDACTED, "name": "n"}],
        "note": "password=***",
        "count": 2,
    }


def test_unformattable_arguments_never_reach_stderr(stream: io.StringIO) -> None:
    configure_logging("json", logging.INFO, stream=stream)
    logging.getLogger("iap_operator").info("secret is %s and %s", SECRET)  # noqa: PLE1206 - on purpose
    (line,) = lines(stream)
    assert line["message"] == "secret is %s and %s (unformattable log arguments dropped)"
    assert SECRET not in stream.getvalue()


@pytest.mark.parametrize("scope", ["google", "google.cloud.compute_v1"])
def test_googles_own_debug_switch_logs_through_our_redaction(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, scope: str
) -> None:
    """`GOOGLE_SDK_PYTHON_LOGGING_SCOPE`: the libraries' own set-up finds their loggers configured and
    attaches no handler of its own; their request bodies reach our handler, redacted."""
    monkeypatch.setenv("GOOGLE_SDK_PYTHON_LOGGING_SCOPE", scope)
    configure_logging("json", logging.INFO, stream=stream)
    client_logging.setup_logging(scope)  # what every client constructor runs (initialize_logging)
    transport = logging.getLogger("google.cloud.compute_v1.services.backend_services.transports.rest")

    assert transport.isEnabledFor(logging.DEBUG)
    assert all(not logging.getLogger(n).handlers for n in (scope, "google"))
    assert logging.getLogger("google").propagate
    payload = json.dumps({"iap": {"enabled": True, "oauth2ClientId": "1.apps", "oauth2ClientSecret": SECRET}})
    transport.debug(
        "Sending request for google.cloud.compute_v1.BackendServicesClient.Patch",
        extra={"httpRequest": {"payload": payload, "headers": {"Authorization": f"Bearer {SECRET}"}}},
    )

    (line,) = lines(stream)
    assert SECRET not in stream.getvalue()
    assert '"oauth2ClientSecret": "***"' in line["httpRequest"]["payload"]
    assert line["httpRequest"]["headers"] == {"Authorization": f"Bearer {REDACTED}"}


async def test_every_value_of_a_secret_read_is_redacted_wherever_it_appears(stream: io.StringIO) -> None:
    class Store:
        async def read(self, namespace: str, name: str) -> dict[str, str]:
            return {"client_secret": "shh-0123456789-abcdef", "mode": "on"}

    configure_logging("json", logging.DEBUG, stream=stream)
    await RememberSecrets(Store()).read("team-a", "oauth")
    remember_secret("tiny")  # too short to match in free text: it would redact ordinary words
    log = logging.getLogger("iap_operator")
    log.debug("got shh-0123456789-abcdef in a sentence, tiny and on")
    encoded = b"x=c2hoLTAxMjM0NTY3ODktYWJjZGVm;"  # base64 of the value
    log.debug("raw", extra={"body": encoded, "nested": [{"v": "shh-0123456789-abcdef"}]})

    first, second = lines(stream)
    assert first["message"] == f"got {REDACTED} in a sentence, tiny and on"
    assert second["body"] == f"x={REDACTED};"  # its base64 form too
    assert second["nested"] == [{"v": REDACTED}]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_the_operator_with_googles_debug_logging_on_prints_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """`iap-operator run` as a process, --verbose, the Google libraries' debug switch on, a custom OAuth
    client: every line it prints is searched for the secret (and its base64 form)."""
    secret = "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789"
    async with world(tmp_path, monkeypatch, start=False) as w:
        client = {"client_id": "1234.apps.googleusercontent.com", "client_secret": secret}
        await w.create_secret("oauth", client)
        env = {"GOOGLE_SDK_PYTHON_LOGGING_SCOPE": "google", "IAP_OPERATOR_LOG_FORMAT": fmt}
        async with operator_process(w, tmp_path, "--verbose", env=env) as operator:
            await w.create(protected(oauthClient={"secretRef": {"name": "oauth"}}))
            await w.wait_ready(within=60)
        output = operator.output()
    assert secret not in output
    assert base64.b64encode(secret.encode()).decode() not in output
    # The switch was on: Google's own request logging of the backend-service insert went through.
    assert "Sending request for google.cloud.compute_v1.BackendServicesClient.Insert" in output
    if fmt == "json":
        inserts = [
            json.loads(line)
            for line in output.splitlines()
            if line.startswith("{") and "BackendServicesClient.Insert" in line and "httpRequest" in line
        ]
        assert inserts, "the request body was logged"
        assert all('"oauth2ClientSecret": "***"' in i["httpRequest"]["payload"] for i in inserts)
