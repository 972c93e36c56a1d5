"""Compute list semantics: `filter` expressions, `orderBy`, `maxResults`/`pageToken` paging.

Filters: comparisons `FIELD OP VALUE` joined by juxtaposition or `AND` (and `OR`, lower precedence),
parenthesised freely. `=`/`!=` compare literally (`*` is a wildcard), `eq`/`ne` match a regular
expression against the whole value, `:` tests presence (`labels.env:*`) or containment. FIELD is a
dotted path (`name`, `description`, `labels.owner`, `iap.enabled`); in lists any element may match.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from collections.abc import Callable, Sequence
from typing import Any

from iap_sandbox.emulators.gcp.core import JSON, invalid

Predicate = Callable[[JSON], bool]

_TOKEN_RE = re.compile(
    r'\s*(?:(?P<paren>[()])|"(?P<dq>(?:[^"\\]|\\.)*)"|\'(?P<sq>[^\']*)\'|(?P<op>!=|=|:)|(?P<word>[^\s()=!:"\']+))'
)
MAX_RESULTS = 500


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise invalid(f"Invalid list filter expression '{text}'.")
        pos = match.end()
        if match["paren"]:
            tokens.append(("paren", match["paren"]))
        elif match["dq"] is not None:
            tokens.append(("value", match["dq"].replace('\\"', '"')))
        elif match["sq"] is not None:
            tokens.append(("value", match["sq"]))
        elif match["op"]:
            tokens.append(("op", match["op"]))
        else:
            word = match["word"]
            kind = "op" if word in ("eq", "ne") else "word"
            tokens.append((kind, word))
    return tokens


def _values(resource: Any, field: str) -> list[Any]:
    """Every value at a dotted path (lists fan out)."""
    current: list[Any] = [resource]
    for part in field.split("."):
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, list):
                item_list: list[Any] = item
                nxt.extend(sub.get(part) for sub in item_list if isinstance(sub, dict) and part in sub)
            elif isinstance(item, dict) and part in item:
                nxt.append(item[part])
        current = nxt
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _comparison(field: str, op: str, literal: str) -> Predicate:
    if op in ("eq", "ne"):
        try:
            pattern = re.compile(literal)
        except re.error as exc:
            raise invalid(f"Invalid regular expression '{literal}' in list filter.") from exc

        def regex(resource: JSON) -> bool:
            hit = any(pattern.fullmatch(_text(v)) for v in _values(resource, field))
            return hit if op == "eq" else not hit

        return regex
    if op == ":":

        def has(resource: JSON) -> bool:
            values = _values(resource, field)
            if literal == "*":
                return bool(values)
            return any(literal in _text(v) for v in values)

        return has

    def literal_match(resource: JSON) -> bool:
        hit = any(fnmatch.fnmatchcase(_text(v), literal) for v in _values(resource, field))
        return hit if op == "=" else not hit

    return literal_match


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        return predicate

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek() == ("word", "OR"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._term()]
        while (token := self._peek()) is not None and token not in (("paren", ")"), ("word", "OR")):
            if token == ("word", "AND"):
                self.pos += 1
            parts.append(self._term())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def _term(self) -> Predicate:
        token = self._next()
        if token == ("paren", "("):
            inner = self._or()
            if self._next() != ("paren", ")"):
                raise invalid(f"Invalid list filter expression '{self.text}'.")
            return inner
        if token[0] == "word" and token[1] == "NOT":
            negated = self._term()
            return lambda r: not negated(r)
        if token[0] != "word":
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        op = self._next()
        if op[0] != "op":
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        value = self._next()
        if value[0] not in ("word", "value"):
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        return _comparison(token[1], op[1], value[1])


def parse_filter(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda _: True
    return _Parser(text).parse()


def order(items: list[JSON], order_by: str | None) -> list[JSON]:
    """compute supports ordering by `name` and by `creationTimestamp desc`."""
    if not order_by:
        return items
    spec = order_by.strip()
    if spec in ("name", "name asc"):
        return sorted(items, key=lambda i: str(i.get("name", "")))
    if spec == "creationTimestamp desc":
        return sorted(items, key=lambda i: str(i.get("creationTimestamp", "")), reverse=True)
    raise invalid(f"Invalid value for field 'orderBy': '{order_by}'.")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
    except ValueError as exc:
        raise invalid(f"Invalid value for field 'pageToken': '{token}'.") from exc


def page(
    items: Sequence[JSON], max_results: int | None, page_token: str | None
) -> tuple[list[JSON], str | None]:
    """One page and the token of the next one (None at the end)."""
    size = MAX_RESULTS if max_results is None else max_results
    if size < 0:
        raise invalid(f"Invalid value for field 'maxResults': '{max_results}'. Must be non-negative.")
    size = min(size or MAX_RESULTS, MAX_RESULTS)
    start = _offset(page_token)
    chunk = list(items[start : start + size])
    more = start + size < len(items)
    token = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode() if more else None
    return chunk, token
