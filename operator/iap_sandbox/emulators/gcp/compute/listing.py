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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from iap_sandbox.emulators.gcp.core import JSON, field_text, field_values, invalid

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


_values = field_values
_text = field_text


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

    def parse(self) -> Filter:
        predicate, equalities = self._or()
        if self._peek() is not None:
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        return Filter(predicate, equalities)

    # Each level returns its predicate and the (field, text) equalities every match must satisfy.
    def _or(self) -> tuple[Predicate, Equalities]:
        parts = [self._and()]
        while self._peek() == ("word", "OR"):
            self.pos += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        predicates = [p for p, _ in parts]
        return (lambda r: any(p(r) for p in predicates)), ()

    def _and(self) -> tuple[Predicate, Equalities]:
        parts = [self._term()]
        while (token := self._peek()) is not None and token not in (("paren", ")"), ("word", "OR")):
            if token == ("word", "AND"):
                self.pos += 1
            parts.append(self._term())
        if len(parts) == 1:
            return parts[0]
        predicates = [p for p, _ in parts]
        return (lambda r: all(p(r) for p in predicates)), tuple(e for _, eqs in parts for e in eqs)

    def _term(self) -> tuple[Predicate, Equalities]:
        token = self._next()
        if token == ("paren", "("):
            inner = self._or()
            if self._next() != ("paren", ")"):
                raise invalid(f"Invalid list filter expression '{self.text}'.")
            return inner
        if token[0] == "word" and token[1] == "NOT":
            negated, _ = self._term()
            return (lambda r: not negated(r)), ()
        if token[0] != "word":
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        op = self._next()
        if op[0] != "op":
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        value = self._next()
        if value[0] not in ("word", "value"):
            raise invalid(f"Invalid list filter expression '{self.text}'.")
        field, literal = token[1], value[1]
        exact = (op[1] == "=" and not _GLOB_CHARS & set(literal)) or (
            op[1] == "eq" and not _REGEX_CHARS & set(literal)
        )
        if exact:
            return _comparison(field, op[1], literal), ((field, literal),)
        # `name eq "prefix.*"` / `name = "prefix*"`: a range of the (sorted) names
        stem = literal[:-2] if op[1] == "eq" and literal.endswith(".*") else None
        if op[1] == "=" and literal.endswith("*"):
            stem = literal[:-1]
        if field == "name" and stem and not (_REGEX_CHARS | _GLOB_CHARS) & set(stem):
            return _comparison(field, op[1], literal), ((NAME_PREFIX, stem),)
        return _comparison(field, op[1], literal), ()


_GLOB_CHARS = frozenset("*?[")
NAME_PREFIX = "name^"  # the pseudo-field of an equality meaning "name starts with"
_REGEX_CHARS = frozenset(".^$*+?{}[]\\|()")
Equalities = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Filter:
    """A parsed list filter: the predicate, and equalities any match must satisfy (for an index)."""

    matches: Predicate
    equalities: Equalities = ()

    def __call__(self, resource: JSON) -> bool:
        return self.matches(resource)


def parse_filter(text: str | None) -> Filter:
    if not text or not text.strip():
        return Filter(lambda _: True)
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


def page_size(max_results: int | None) -> int:
    size = MAX_RESULTS if max_results is None else max_results
    if size < 0:
        raise invalid(f"Invalid value for field 'maxResults': '{max_results}'. Must be non-negative.")
    return min(size or MAX_RESULTS, MAX_RESULTS)


def name_token(name: str) -> str:
    """The page token of the page starting after the member called `name` (opaque to clients)."""
    return base64.urlsafe_b64encode(f"after:{name}".encode()).decode()


def after_name(token: str | None) -> str | None:
    """The member name a page token continues after (None: from the start)."""
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError as exc:
        raise invalid(f"Invalid value for field 'pageToken': '{token}'.") from exc
    if not text.startswith("after:"):
        raise invalid(f"Invalid value for field 'pageToken': '{token}'.")
    return text.removeprefix("after:")


def page_by_name(
    candidates: Iterator[tuple[str, JSON]], matches: Predicate, size: int
) -> tuple[list[JSON], str | None]:
    """Up to `size` matching items from name-ordered candidates, and the next page's token.

    Reads the candidates only until the page is full and one more match proves there is a next page,
    so the cost is the page (plus candidates the filter refuses), not the collection.
    """
    chunk: list[JSON] = []
    last = ""
    for name, item in candidates:
        if not matches(item):
            continue
        if len(chunk) == size:
            return chunk, name_token(last)
        chunk.append(item)
        last = name
    return chunk, None
