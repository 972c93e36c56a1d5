"""Log set-up: one root handler for kopf's loggers and ours, text or one JSON object per line.

kopf's per-object logger (`kopf.ObjectLogger`, the `logger` kwarg of handlers) attaches `k8s_ref`
(apiVersion, kind, name, uid, namespace) to each record; both formats surface its namespace and
name. kopf's own `--log-format=json` formatter has no redaction hook and no logger name, so the
handler here reads the same `k8s_ref` attribute instead. A handler-level filter redacts secrets in
every record (message, extra fields, exception text) before any formatter sees it; the same filter
sits on kopf's `kopf.objects` logger, whose messages kopf also posts as Kubernetes Events.

Two nets: values under secret-looking keys (`oauth2ClientSecret`, `password`, bearer tokens, ...) and the
very values of every Kubernetes Secret the operator has read (`RememberSecrets`), wherever they appear.
The Google client libraries log request and response bodies at DEBUG when asked to
(`GOOGLE_SDK_PYTHON_LOGGING_SCOPE`, their documented switch), through a handler of their own that this
filter would never see: `configure_logging` keeps their loggers flowing into the operator's handler, so
their switch still works and their lines are redacted like any other.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, Literal, Protocol, TextIO

LogFormat = Literal["text", "json"]
REDACTED = "***"
KOPF_OBJECTS_LOGGER = "kopf.objects"  # kopf.ObjectLogger's target; kopf posts its records as Events

# Keys whose values are secrets: oauth2ClientSecret, client_secret, password, ... but not
# oauth2ClientSecretSha256 (a digest, needed to explain drift).
_SENSITIVE_KEYS = (
    r"client_?secret|password|passwd|private_?key|access_?token|refresh_?token|id_?token|api[_-]?key"
)
_SECRET_KEY = re.compile(rf"[\w.-]*?(?:{_SENSITIVE_KEYS})", re.IGNORECASE)
# `key: value`, `key=value`, `"key": "value"`, `'key': 'value'` and `\"key\": \"value\"` (JSON quoted
# inside a string) in free text. The value keeps its quotes; only what is between them is replaced.
_SECRET_PAIR = re.compile(
    rf"""(?P<key>(?<![\w.-])[\w.-]*?(?:{_SENSITIVE_KEYS})(?:\\?["'])?\s*[:=]\s*)"""
    r"""(?:(?P<q>\\"|"|')(?P<quoted>(?:\\.|(?!(?P=q)).)*)(?P=q)|(?P<bare>[^\s,;&}\]"'\\]+))""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]+")

# Attributes every LogRecord has; anything else came from `extra=` (or kopf's adapters).
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# kopf's internal extras: the object reference (surfaced as namespace/name), event-posting flags.
_KOPF_ATTRS = frozenset({"k8s_ref", "k8s_skip", "settings"})


# Google's loggers: the client libraries (`google.*`), the discovery client, the auth transport.
GOOGLE_LOGGERS = ("google", "googleapiclient", "google_auth_httplib2")
GOOGLE_SCOPE_VARIABLE = "GOOGLE_SDK_PYTHON_LOGGING_SCOPE"
MIN_REMEMBERED = 8  # shorter Secret values are not matched in free text (they would redact words)


class _KnownSecrets:
    """Values read from Kubernetes Secrets (and their base64 form): redacted wherever they appear."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) < MIN_REMEMBERED:
            return
        forms = {value, base64.b64encode(value.encode()).decode()}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            longest_first = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in longest_first))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)


KNOWN_SECRETS = _KnownSecrets()


def remember_secret(value: str) -> None:
    """Never print `value` (nor its base64 form) in any log line from now on."""
    KNOWN_SECRETS.add(value)


class _SecretReader(Protocol):
    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None: ...


class RememberSecrets:
    """A `SecretsPort` that remembers every value it hands out, for the redaction filter."""

    def __init__(self, inner: _SecretReader) -> None:
        self._inner = inner

    async def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        data = await self._inner.read(namespace, name)
        for value in (data or {}).values():
            remember_secret(value)
        return data


def redact_text(text: str) -> str:
    """Replace remembered Secret values, the values of secret-bearing keys and bearer tokens."""

    def pair(match: re.Match[str]) -> str:
        quote = match.group("q") or ""
        return f"{match.group('key')}{quote}{REDACTED}{quote}"

    text = KNOWN_SECRETS.redact(text)
    return _BEARER.sub(rf"\g<1>{REDACTED}", _SECRET_PAIR.sub(pair, text))


def redact_value(value: Any) -> Any:
    """A copy of a structured value with the values of secret-bearing keys replaced."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and _SECRET_KEY.fullmatch(key) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", errors="replace"))
    return value


class RedactSecrets(logging.Filter):
    """Rewrites each record in place so that no formatter or later handler sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Arguments that don't fit the format: logging would print them on stderr, unredacted.
            message = f"{record.msg} (unformattable log arguments dropped)"
        record.msg = redact_text(message)
        record.args = None
        for key in extra_fields(record):
            if _SECRET_KEY.fullmatch(key):
                setattr(record, key, REDACTED)
            else:
                setattr(record, key, redact_value(getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def extra_fields(record: logging.LogRecord) -> list[str]:
    """Names of the record's attributes that came from `extra=` (kopf's own are left out)."""
    return [key for key in vars(record) if key not in _RECORD_ATTRS and key not in _KOPF_ATTRS]


def object_ref(record: logging.LogRecord) -> dict[str, str]:
    """`namespace` and `name` of the Kubernetes object a kopf per-object logger is bound to."""
    ref = getattr(record, "k8s_ref", None)
    if not isinstance(ref, Mapping):
        return {}
    return {key: str(ref[key]) for key in ("namespace", "name") if ref.get(key)}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, severity (read by Cloud Logging), logger, message,
    namespace/name of the object when known, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= object_ref(record)
        entry |= {key: getattr(record, key) for key in extra_fields(record) if key not in entry}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`[time] logger [LEVEL] [namespace/name] message`, the object prefix as in kopf's text logs."""

    def __init__(self) -> None:
        super().__init__("[%(asctime)s] %(name)-20.20s [%(levelname)-8.8s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        ref = object_ref(record)
        if ref:
            record = copy.copy(record)
            record.message = f"[{'/'.join(ref.values())}] {record.message}"
        return super().formatMessage(record)


class _OperatorHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installs, so a second `configure_logging` replaces it."""


def configure_logging(
    fmt: LogFormat = "text", level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Install the root handler (replacing one installed earlier) and return it."""
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected 'text' or 'json'")
    redact = RedactSecrets()
    handler = _OperatorHandler(stream or sys.stderr)
    handler.addFilter(redact)
    # Logger-level too: kopf's Event poster is a handler of this logger and runs before the root's.
    objects = logging.getLogger(KOPF_OBJECTS_LOGGER)
    objects.filters[:] = [f for f in objects.filters if not isinstance(f, RedactSecrets)] + [redact]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    # First in line: its filter redacts each record in place before any other handler sees it.
    root.handlers[:] = [handler] + [h for h in root.handlers if not isinstance(h, _OperatorHandler)]
    root.setLevel(level)
    # As kopf's own set-up does: asyncio's chatter only when debugging.
    logging.getLogger("asyncio").setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)
    tame_google_loggers(root.level)
    return handler


def tame_google_loggers(level: int, scope: str | None = None) -> None:
    """Google's loggers log through the operator's handler (redacted), never through one of their own.

    `GOOGLE_SDK_PYTHON_LOGGING_SCOPE=google` still turns their debug logging on: the named logger is set to
    DEBUG here. Because these loggers are configured (a level set), the libraries' `initialize_logging`
    leaves them alone instead of attaching its unredacted stdout handler and cutting them off the root.
    """
    scope = os.environ.get(GOOGLE_SCOPE_VARIABLE, "") if scope is None else scope
    names = [*GOOGLE_LOGGERS, *([scope] if scope else [])]
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers[:] = [h for h in logger.handlers if isinstance(h, _OperatorHandler)]
        logger.propagate = True
        logger.setLevel(logging.DEBUG if name == scope else level)
