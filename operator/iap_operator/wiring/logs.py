"""Log set-up: one root handler for kopf's loggers and ours, text or one JSON object per line.

kopf's per-object logger (`kopf.ObjectLogger`, the `logger` kwarg of handlers) attaches `k8s_ref`
(apiVersion, kind, name, uid, namespace) to each record; both formats surface its namespace and
name. kopf's own `--log-format=json` formatter has no redaction hook and no logger name, so the
handler here reads the same `k8s_ref` attribute instead. A handler-level filter redacts secrets in
every record (message, extra fields, exception text) before any formatter sees it; the same filter
sits on kopf's `kopf.objects` logger, whose messages kopf also posts as Kubernetes Events.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
REDACTED = "***"
KOPF_OBJECTS_LOGGER = "kopf.objects"  # kopf.ObjectLogger's target; kopf posts its records as Events

# Keys whose values are secrets: oauth2ClientSecret, client_secret, password, ... but not
# oauth2ClientSecretSha256 (a digest, needed to explain drift).
_SENSITIVE_KEYS = (
    r"client_?secret|password|passwd|private_?key|access_?token|refresh_?token|id_?token|api_?key"
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


def redact_text(text: str) -> str:
    """Replace the values of secret-bearing keys and bearer tokens in free text."""

    def pair(match: re.Match[str]) -> str:
        quote = match.group("q") or ""
        return f"{match.group('key')}{quote}{REDACTED}{quote}"

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
    return handler
