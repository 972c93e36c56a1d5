"""Compile-time checks of x-kubernetes-validations rules: types and the static cost estimate.

kube-apiserver compiles every rule of a CRD against the schema's CEL types and estimates its worst-case
cost before it accepts the CRD. This module does the same over celpy's parse tree, ported from
  - k8s.io/apiserver pkg/cel/common/schemas.go (SchemaDeclType: CEL types, MaxElements, MinSerializedSize),
  - k8s.io/apiextensions-apiserver pkg/apiserver/schema/cel/compilation.go (the size estimator by path),
  - github.com/google/cel-go checker/cost.go and parser/macro.go (costs of expressions and macros),
  - k8s.io/apiserver pkg/cel/library/cost.go (the Kubernetes library functions).
It reports: parse errors, references to undeclared names or undefined fields, rules that are not bool
(messageExpressions that are not string), and `MaxCost`. What it leaves out: overload resolution
(operand types of operators are not checked) and the exact result-size estimates of a few library
functions (replace, join), which are approximated from their target's size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy.celparser import CELParseError
from lark import Token, Tree

Schema = Mapping[str, Any]
PTree = Tree[Token]
U64 = 2**64 - 1
MAX_REQUEST_SIZE_BYTES = 3 * 1024 * 1024  # k8s.io/apiserver pkg/apis/cel/config.go
PER_CALL_LIMIT = 1_000_000
STRING_TRAVERSAL = 0.1  # cel-go common/cost.go
REGEX_LENGTH = 0.25
LIST_CREATE, MAP_CREATE, STRUCT_CREATE = 10, 30, 40
_SCALARS = frozenset({"bool", "double", "duration", "int", "timestamp", "uint"})
_RESERVED = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function"}
    | {"if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}
)
_TYPE_NAMES = frozenset(
    {"bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type"}
)


class CelCompileError(Exception):
    """The rule does not compile (cel-go's `compilation failed: ...`)."""


# --- saturating estimates ----------------------------------------------------------------------------


def _sat(x: float) -> int:
    return U64 if x >= U64 else int(x)


@dataclass(frozen=True)
class Est:
    """A (min, max) estimate, as cel-go's SizeEstimate and CostEstimate (saturating at 2^64-1)."""

    lo: int
    hi: int

    def add(self, other: Est) -> Est:
        return Est(_sat(self.lo + other.lo), _sat(self.hi + other.hi))

    def mul(self, other: Est) -> Est:
        return Est(_sat(self.lo * other.lo), _sat(self.hi * other.hi))

    def factor(self, f: float) -> Est:
        def one(x: int) -> int:
            if x and f and x > U64 / f:
                return U64
            return _sat(math.ceil(x * f))

        return Est(one(self.lo), one(self.hi))

    def union(self, other: Est) -> Est:
        return Est(min(self.lo, other.lo), max(self.hi, other.hi))


ZERO, ONE = Est(0, 0), Est(1, 1)
UNKNOWN = Est(0, U64)


# --- CEL types of schemas (SchemaDeclType) -----------------------------------------------------------------


@dataclass(frozen=True)
class CelType:
    kind: str  # bool int uint double string bytes duration timestamp list map object dyn null type optional
    elem: CelType | None = None  # list items, map values, optional's value
    key: CelType | None = None
    fields: Mapping[str, CelType] = field(default_factory=dict)
    max_elements: int = 0
    min_size: int = 1  # MinSerializedSize

    def __repr__(self) -> str:
        return self.kind


DYN, BOOL, INT, UINT, DOUBLE = (
    CelType("dyn"),
    CelType("bool", min_size=4),
    CelType("int"),
    CelType("uint"),
    CelType("double"),
)
STRING, BYTES, NULL, TYPE = CelType("string", min_size=2), CelType("bytes"), CelType("null"), CelType("type")
DURATION, TIMESTAMP = CelType("duration"), CelType("timestamp")


def escape(name: str) -> str | None:
    """A property name as CEL sees it (k8s.io/apiserver pkg/cel/escaping.go); None if it cannot be."""
    if not name or name[0].isdigit():
        return None
    if name in _RESERVED:
        return f"__{name}__"
    if any(not (c.isascii() and (c.isalnum() or c in "_-./")) for c in name):
        return None
    out = []
    i = 0
    while i < len(name):
        if name.startswith("__", i):
            out.append("__underscores__")
            i += 2
            continue
        out.append({".": "__dot__", "-": "__dash__", "/": "__slash__"}.get(name[i], name[i]))
        i += 1
    return "".join(out)


def _string_max(schema: Schema) -> int:
    if schema.get("x-kubernetes-int-or-string") and "maxLength" not in schema:
        return MAX_REQUEST_SIZE_BYTES - 2
    fmt = schema.get("format")
    if fmt in {"duration", "date-time"}:
        return 32
    if fmt == "date":
        return 12
    return MAX_REQUEST_SIZE_BYTES - 2


def _bound(schema: Schema, word: str, estimate: int) -> int:
    """The schema's maxItems/maxProperties, else how many fit in a request (the upstream estimates)."""
    return max(0, int(schema[word])) if word in schema else estimate


def decl_type(schema: Schema, root: bool = False) -> CelType | None:
    """The CEL type of values of `schema`, with the sizes the cost estimate uses."""
    if schema.get("x-kubernetes-int-or-string"):
        top = max(0, int(schema["maxLength"])) * 4 if "maxLength" in schema else _string_max(schema)
        return CelType("dyn", max_elements=top, min_size=1)
    if root:
        schema = _with_type_and_object_meta(schema)
    type_ = schema.get("type")
    if type_ == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return None
        elem = decl_type(items, bool(items.get("x-kubernetes-embedded-resource")))
        if elem is None:
            return None
        top = _bound(schema, "maxItems", (MAX_REQUEST_SIZE_BYTES - 2) // (elem.min_size + 1))
        return CelType("list", elem=elem, max_elements=top, min_size=2)
    if type_ == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            value = decl_type(extra, bool(extra.get("x-kubernetes-embedded-resource")))
            if value is None:
                return None
            top = _bound(schema, "maxProperties", (MAX_REQUEST_SIZE_BYTES - 2) // (value.min_size + 6))
            return CelType("map", elem=value, key=STRING, max_elements=top, min_size=2)
        required = set(schema.get("required") or [])
        fields: dict[str, CelType] = {}
        min_size = 2
        for name, prop in (schema.get("properties") or {}).items():
            sub = decl_type(prop, bool(prop.get("x-kubernetes-embedded-resource")))
            if sub is None:
                continue
            escaped = escape(name)
            if escaped is not None:
                fields[escaped] = sub
            if name in required and "default" not in prop:
                min_size += len(name) + sub.min_size + 4
        return CelType("object", fields=fields, min_size=min_size)
    if type_ == "string":
        fmt = schema.get("format")
        if fmt == "byte":
            top = max(0, int(schema["maxLength"])) if "maxLength" in schema else _string_max(schema)
            return CelType("bytes", max_elements=top, min_size=2)
        if fmt == "duration":
            return CelType("duration", max_elements=_string_max(schema), min_size=3)
        if fmt in {"date", "date-time"}:
            return CelType(
                "timestamp", max_elements=_string_max(schema), min_size=12 if fmt == "date" else 21
            )
        if "maxLength" in schema:
            top = max(0, int(schema["maxLength"])) * 4
        elif schema.get("enum"):
            top = max((len(e) for e in schema["enum"] if isinstance(e, str)), default=0)
        else:
            top = _string_max(schema)
        return CelType("string", max_elements=top, min_size=2)
    if type_ == "boolean":
        return BOOL
    if type_ == "number":
        return DOUBLE
    if type_ == "integer":
        return INT
    return None


def _with_type_and_object_meta(schema: Schema) -> Schema:
    props = dict(schema.get("properties") or {})
    props["kind"] = {"type": "string"}
    props["apiVersion"] = {"type": "string"}
    props["metadata"] = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}},
    }
    return {**schema, "properties": props}


# --- the estimate itself ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    type: CelType
    cost: Est
    size: Est | None = None  # computed size, when known (literals, call results, paths, scalars)
    path: tuple[str, ...] | None = None  # from `self`/`oldSelf`, for the size estimator
    entry: Est | None = None  # the size of the elements of a list literal
    literal: Any = None  # the value of a literal (regex patterns)


@dataclass(frozen=True)
class _Var:
    type: CelType
    path: tuple[str, ...] | None
    size: Est | None


@dataclass(frozen=True)
class Compiled:
    max_cost: int
    uses_old_self: bool
    result: CelType


_PARSER = celpy.Environment()


def _parse(text: str) -> PTree:
    try:
        tree = _PARSER.compile(text)
    except CELParseError as exc:
        raise CelCompileError(f"compilation failed: ERROR: <input>: {str(exc).strip()}") from exc
    return tree


class _Coster:
    def __init__(self, self_type: CelType) -> None:
        self.root = self_type
        self.scopes: dict[str, list[_Var]] = {
            "self": [_Var(self_type, ("self",), None)],
            "oldSelf": [_Var(self_type, ("oldSelf",), None)],
        }
        self.uses_old_self = False

    # sizes -----------------------------------------------------------------------------------------

    def _by_path(self, path: tuple[str, ...] | None) -> Est | None:
        if not path or path[0] not in {"self", "oldSelf"}:
            return None
        node: CelType | None = self.root
        for name in path[1:]:
            if node is None:
                return None
            if name in {"@items", "@values"}:
                node = node.elem
            elif name == "@keys":
                node = node.key
            else:
                node = node.fields.get(name)
        if node is None:
            return None
        return Est(0, node.max_elements)

    def size_of(self, node: _Node) -> Est:
        if node.size is not None:
            return node.size
        if (found := self._by_path(node.path)) is not None:
            return found
        if node.type.kind in _SCALARS:
            return ONE
        return UNKNOWN

    def _sized(self, t: CelType, cost: Est, path: tuple[str, ...] | None, size: Est | None = None) -> _Node:
        if size is None and path is not None:
            size = self._by_path(path)
        if size is None and t.kind in _SCALARS:
            size = ONE
        return _Node(t, cost, size, path)

    # the tree --------------------------------------------------------------------------------------

    def visit(self, tree: PTree | Token) -> _Node:
        if isinstance(tree, Token):
            raise CelCompileError(f"compilation failed: unexpected token {tree.value!r}")
        method = getattr(self, f"_{tree.data}", None)
        if method is None:
            raise CelCompileError(f"compilation failed: unsupported syntax {tree.data!r}")
        return method(tree)  # type: ignore[no-any-return]

    def _expr(self, tree: PTree) -> _Node:
        if len(tree.children) == 1:
            return self.visit(tree.children[0])
        cond, yes, no = (self.visit(c) for c in tree.children)
        t = yes.type if yes.type == no.type else DYN
        size = self.size_of(yes).union(self.size_of(no))
        return _Node(t, cond.cost.add(yes.cost.union(no.cost)), size)

    def _logical(self, tree: PTree) -> _Node:
        if len(tree.children) == 1:
            return self.visit(tree.children[0])
        lhs, rhs = (self.visit(c) for c in tree.children)
        return _Node(BOOL, Est(lhs.cost.lo, lhs.cost.add(rhs.cost).hi), ONE)

    _conditionalor = _logical
    _conditionaland = _logical

    def _binary(self, tree: PTree) -> tuple[str, _Node, _Node]:
        """A binary operation of the grammar (`relation: relation_lt(relation) addition`)."""
        op_tree, right = tree.children
        assert isinstance(op_tree, Tree)
        return str(op_tree.data), self.visit(op_tree.children[0]), self.visit(right)

    def _relation(self, tree: PTree) -> _Node:
        if len(tree.children) == 1:
            return self.visit(tree.children[0])
        op, lhs, rhs = self._binary(tree)
        args = lhs.cost.add(rhs.cost)
        if op == "relation_in":
            if rhs.type.kind == "list":
                return _Node(BOOL, self.size_of(rhs).factor(1).add(args), ONE)
            return _Node(BOOL, ONE.add(args), ONE)
        if op in {"relation_eq", "relation_ne"} or (
            lhs.type.kind in {"string", "bytes"} and rhs.type.kind in {"string", "bytes"}
        ):
            smallest = min(self.size_of(lhs).hi, self.size_of(rhs).hi)
            return _Node(
                BOOL, Est(1 if smallest > 0 else 0, smallest).factor(STRING_TRAVERSAL).add(args), ONE
            )
        return _Node(BOOL, ONE.add(args), ONE)

    def _addition(self, tree: PTree) -> _Node:
        if len(tree.children) == 1:
            return self.visit(tree.children[0])
        op, lhs, rhs = self._binary(tree)
        args = lhs.cost.add(rhs.cost)
        if op == "addition_add" and lhs.type.kind in {"string", "bytes", "list"}:
            size = self.size_of(lhs).add(self.size_of(rhs))
            if lhs.type.kind == "list":
                return _Node(lhs.type, ONE.add(args), size)
            return _Node(lhs.type, size.factor(STRING_TRAVERSAL).add(args), size)
        return self._sized(lhs.type if lhs.type.kind != "dyn" else rhs.type, ONE.add(args), None)

    def _multiplication(self, tree: PTree) -> _Node:
        if len(tree.children) == 1:
            return self.visit(tree.children[0])
        _, lhs, rhs = self._binary(tree)
        return self._sized(lhs.type, ONE.add(lhs.cost).add(rhs.cost), None)

    def _unary(self, tree: PTree) -> _Node:
        if len(tree.children) == 1:
            return self.visit(tree.children[0])
        op, operand = tree.children
        inner = self.visit(operand)
        kind = BOOL if isinstance(op, Tree) and op.data == "unary_not" else inner.type
        return self._sized(kind, ONE.add(inner.cost), None)

    def _member(self, tree: PTree) -> _Node:
        return self.visit(tree.children[0])

    _primary = _member

    def _paren_expr(self, tree: PTree) -> _Node:
        return self.visit(tree.children[0])

    def _member_dot(self, tree: PTree) -> _Node:
        operand_tree, name_token = tree.children
        name = str(name_token)
        if (qualified := _qualified_name(operand_tree)) is not None and not self._declared(qualified):
            raise CelCompileError(f"compilation failed: undeclared reference to '{qualified}.{name}'")
        operand = self.visit(operand_tree)
        t = self._field_type(operand.type, name)
        cost = operand.cost.add(ONE) if operand.type.kind in {"map", "object"} else operand.cost
        path = (*operand.path, name) if operand.path is not None else None
        return self._sized(t, cost, path)

    def _declared(self, qualified: str) -> bool:
        root = qualified.split(".", maxsplit=1)[0]
        return bool(self.scopes.get(root)) or root in _TYPE_NAMES

    def _field_type(self, t: CelType, name: str) -> CelType:
        if t.kind == "object":
            if name not in t.fields:
                raise CelCompileError(f"compilation failed: ERROR: <input>: undefined field '{name}'")
            return t.fields[name]
        if t.kind == "map":
            return t.elem or DYN
        if t.kind == "dyn":
            return DYN
        raise CelCompileError(
            f"compilation failed: ERROR: <input>: type '{t.kind}' does not support field selection"
        )

    def _member_index(self, tree: PTree) -> _Node:
        target_tree, index_tree = tree.children
        target, index = self.visit(target_tree), self.visit(index_tree)
        cost = ONE.add(target.cost).add(index.cost)
        if target.type.kind == "list":
            path = (*target.path, "@items") if target.path is not None else None
            return self._sized(target.type.elem or DYN, cost, path, target.entry)
        if target.type.kind == "map":
            path = (*target.path, "@values") if target.path is not None else None
            return self._sized(target.type.elem or DYN, cost, path)
        return _Node(DYN, cost)

    def _member_object(self, tree: PTree) -> _Node:
        cost = Est(STRUCT_CREATE, STRUCT_CREATE)
        for child in tree.children[1:]:
            if isinstance(child, Tree):
                for value in child.children:
                    if isinstance(value, Tree):
                        cost = cost.add(self.visit(value).cost)
        return _Node(DYN, cost)

    def _literal(self, tree: PTree) -> _Node:
        token = tree.children[0]
        assert isinstance(token, Token)
        kind = token.type
        if kind in {"STRING_LIT", "MLSTRING_LIT"}:
            text = _string_value(str(token))
            return _Node(STRING, ZERO, Est(len(text), len(text)), literal=text)
        if kind == "BYTES_LIT":
            text = _string_value(str(token)[1:])
            return _Node(BYTES, ZERO, Est(len(text.encode()), len(text.encode())))
        t = {"INT_LIT": INT, "UINT_LIT": UINT, "FLOAT_LIT": DOUBLE, "BOOL_LIT": BOOL, "NULL_LIT": NULL}[kind]
        return _Node(t, ZERO, ONE)

    def _ident(self, tree: PTree) -> _Node:
        name = str(tree.children[0])
        if self.scopes.get(name):
            var = self.scopes[name][-1]
            if name == "oldSelf" and len(self.scopes[name]) == 1:
                self.uses_old_self = True
            return _Node(
                var.type, ONE, var.size if var.size is not None else self._by_path(var.path), var.path
            )
        if name in _TYPE_NAMES or name == "dyn":
            return _Node(TYPE, ONE)
        raise CelCompileError(f"compilation failed: ERROR: <input>: undeclared reference to '{name}'")

    _dot_ident = _ident

    def _list_lit(self, tree: PTree) -> _Node:
        items = [self.visit(e) for e in _exprs(tree)]
        cost = Est(LIST_CREATE, LIST_CREATE)
        entry = Est(U64, 0) if items else ZERO
        for item in items:
            cost = cost.add(item.cost)
            entry = entry.union(self.size_of(item))
        elem = items[0].type if items and all(i.type == items[0].type for i in items) else DYN
        return _Node(CelType("list", elem=elem), cost, Est(len(items), len(items)), entry=entry)

    def _map_lit(self, tree: PTree) -> _Node:
        cost = Est(MAP_CREATE, MAP_CREATE)
        values: list[_Node] = []
        inits = tree.children[0] if tree.children else None
        if isinstance(inits, Tree):
            for i, child in enumerate(inits.children):
                node = self.visit(child)
                cost = cost.add(node.cost)
                if i % 2:
                    values.append(node)
        elem = values[0].type if values and all(v.type == values[0].type for v in values) else DYN
        return _Node(CelType("map", elem=elem, key=DYN), cost, Est(len(values), len(values)))

    # calls -----------------------------------------------------------------------------------------

    def _ident_arg(self, tree: PTree) -> _Node:
        name = str(tree.children[0])
        arg_trees = _exprs(tree)
        if name == "has":
            return self._has(arg_trees)
        args = [self.visit(a) for a in arg_trees]
        return self._global_call(name, args)

    _dot_ident_arg = _ident_arg

    def _has(self, arg_trees: list[PTree]) -> _Node:
        select = _unwrap(arg_trees[0], "member_dot") if len(arg_trees) == 1 else None
        if select is None:
            raise CelCompileError("compilation failed: ERROR: <input>: invalid argument to has() macro")
        operand_tree, name_token = select.children
        operand = self.visit(operand_tree)
        self._field_type(operand.type, str(name_token))
        return _Node(BOOL, ONE.add(operand.cost), ONE)

    def _global_call(self, name: str, args: list[_Node]) -> _Node:
        arg_cost = ZERO
        for a in args:
            arg_cost = arg_cost.add(a.cost)
        conversions = {
            "int": INT, "uint": UINT, "double": DOUBLE, "string": STRING, "bytes": BYTES, "bool": BOOL,
            "duration": DURATION, "timestamp": TIMESTAMP, "type": TYPE,
        }  # fmt: skip
        if name == "dyn" and len(args) == 1:
            return _Node(DYN, ONE.add(args[0].cost), args[0].size, args[0].path)
        if name in conversions:
            return self._sized(conversions[name], ONE.add(arg_cost), None)
        if name == "size":
            return _Node(INT, ONE.add(arg_cost), ONE)
        if name == "matches" and len(args) == 2:
            return _Node(BOOL, self._matches(args[0], args[1]).add(arg_cost), ONE)
        if name in {
            "quantity",
            "isQuantity",
            "url",
            "isURL",
            "ip",
            "isIP",
            "cidr",
            "isCIDR",
            "semver",
            "isSemver",
        }:
            result = BOOL if name.startswith("is") else DYN
            traversal = self.size_of(args[0]).factor(STRING_TRAVERSAL) if args else ONE
            return _Node(result, traversal.add(arg_cost), ONE if result is BOOL else None)
        if name in {"optional.of", "optional.none", "optional.ofNonZeroValue"}:
            return _Node(CelType("optional", elem=args[0].type if args else DYN), ONE.add(arg_cost))
        raise CelCompileError(f"compilation failed: ERROR: <input>: undeclared reference to '{name}'")

    def _matches(self, target: _Node, regex: _Node) -> Est:
        string = self.size_of(target).add(ONE).factor(STRING_TRAVERSAL)
        return string.mul(self.size_of(regex).factor(REGEX_LENGTH))

    def _member_dot_arg(self, tree: PTree) -> _Node:
        target_tree, name_token = tree.children[0], tree.children[1]
        assert isinstance(target_tree, Tree)
        name = str(name_token)
        arg_trees = _exprs(tree)
        qualified = _qualified_name(target_tree)
        if qualified is not None and not self._declared(qualified):
            return self._global_call(f"{qualified}.{name}", [self.visit(a) for a in arg_trees])
        if name in {"all", "exists", "exists_one"} and len(arg_trees) == 2:
            return self._quantifier(name, target_tree, arg_trees)
        if name in {"map", "filter"} and len(arg_trees) in {2, 3}:
            return self._transform(name, target_tree, arg_trees)
        target = self.visit(target_tree)
        args = [self.visit(a) for a in arg_trees]
        arg_cost = ZERO
        for a in args:
            arg_cost = arg_cost.add(a.cost)
        call = self._method(name, target, args)
        return _Node(call.type, target.cost.add(call.cost).add(arg_cost), call.size)

    def _method(self, name: str, target: _Node, args: list[_Node]) -> _Node:
        """The cost of the call itself (target and arguments are added by the caller)."""
        size = self.size_of(target)
        arg_size = self.size_of(args[0]) if args else ZERO
        if name == "size":
            return _Node(INT, ONE, ONE)
        if name in {"startsWith", "endsWith"}:
            return _Node(BOOL, arg_size.factor(STRING_TRAVERSAL), ONE)
        if name == "contains":
            return _Node(BOOL, size.factor(STRING_TRAVERSAL).mul(arg_size.factor(STRING_TRAVERSAL)), ONE)
        if name == "matches" and args:
            return _Node(BOOL, self._matches(target, args[0]), ONE)
        if name in {"lowerAscii", "upperAscii", "trim", "substring", "url"}:
            return _Node(STRING if name != "url" else DYN, size.factor(STRING_TRAVERSAL), size)
        if name in {"replace", "split"}:
            result = STRING if name == "replace" else CelType("list", elem=STRING)
            return _Node(result, size.factor(2 * STRING_TRAVERSAL), size if name == "replace" else None)
        if name == "join":
            return _Node(STRING, size.factor(STRING_TRAVERSAL), size)
        if name in {"find", "findAll"} and args:
            result = STRING if name == "find" else CelType("list", elem=STRING)
            regex = arg_size.factor(REGEX_LENGTH)
            return _Node(result, size.add(ONE).factor(STRING_TRAVERSAL).mul(regex), None)
        if name in {"indexOf", "lastIndexOf"} and target.type.kind == "string":
            return _Node(INT, size.factor(STRING_TRAVERSAL), ONE)
        if name in {"isSorted", "sum", "max", "min", "indexOf", "lastIndexOf"}:
            elem = target.type.elem or DYN
            per = (
                ONE.add(Est(0, elem.max_elements).factor(STRING_TRAVERSAL)) if elem.kind == "string" else ONE
            )
            kind = {"isSorted": BOOL, "indexOf": INT, "lastIndexOf": INT}.get(name, elem)
            return _Node(kind, size.mul(per), None)
        if name in {"format", "quote"}:
            return _Node(STRING, size.factor(STRING_TRAVERSAL), None)
        if name in {"orValue", "value"}:
            return _Node(target.type.elem or DYN, ONE)
        if name in _METHODS_RETURNING_BOOL:
            return _Node(BOOL, ONE, ONE)
        if name in _METHODS_RETURNING_INT:
            return _Node(INT, ONE, ONE)
        if name in _OTHER_METHODS:
            return _Node(DYN, ONE)
        if target.type.kind == "dyn":
            return _Node(DYN, ONE)
        raise CelCompileError(
            f"compilation failed: ERROR: <input>: found no matching overload for '{name}' applied to '{target.type}'"  # noqa: E501 - upstream's message
        )

    # macros (cel-go parser/macro.go expands them into comprehensions) -------------------------------

    def _iteration(self, target_tree: PTree, var_tree: PTree) -> tuple[_Node, str, _Var]:
        target = self.visit(target_tree)
        var = _unwrap(var_tree, "ident")
        if var is None:
            raise CelCompileError("compilation failed: ERROR: <input>: argument must be a simple name")
        kind = target.type.kind
        if kind == "list":
            elem, sub = target.type.elem or DYN, "@items"
        elif kind == "map":
            elem, sub = target.type.key or DYN, "@keys"
        elif kind == "dyn":
            elem, sub = DYN, "@items"
        else:
            raise CelCompileError(
                f"compilation failed: ERROR: <input>: expression of type '{kind}' cannot be range of a comprehension"  # noqa: E501 - upstream's message
            )
        path = (*target.path, sub) if target.path is not None else None
        return target, str(var.children[0]), _Var(elem, path, target.entry)

    def _with_var(self, name: str, var: _Var, body: PTree) -> _Node:
        self.scopes.setdefault(name, []).append(var)
        try:
            return self.visit(body)
        finally:
            self.scopes[name].pop()

    def _quantifier(self, name: str, target_tree: PTree, arg_trees: list[PTree]) -> _Node:
        target, var_name, var = self._iteration(target_tree, arg_trees[0])
        predicate = self._with_var(var_name, var, arg_trees[1])
        accu = ONE
        if name == "all":  # init true; cond @not_strictly_false(accu); step accu && p; result accu
            cond, step = Est(2, 2), Est(accu.lo, accu.add(predicate.cost).hi)
        elif name == "exists":  # cond @not_strictly_false(!accu); step accu || p
            cond, step = Est(3, 3), Est(accu.lo, accu.add(predicate.cost).hi)
        else:  # exists_one: cond true; step p ? accu + 1 : accu; result accu == 1
            cond, step = ZERO, predicate.cost.add(Est(2, 2).union(ONE))
        result = ONE if name != "exists_one" else Est(2, 2)
        count = self.size_of(target)
        cost = target.cost.add(result).add(count.mul(step.add(cond)))
        return _Node(BOOL, cost, ONE)

    def _transform(self, name: str, target_tree: PTree, arg_trees: list[PTree]) -> _Node:
        target, var_name, var = self._iteration(target_tree, arg_trees[0])
        bodies = [self._with_var(var_name, var, body) for body in arg_trees[1:]]
        init = Est(LIST_CREATE, LIST_CREATE)
        if name == "filter":  # step: p ? accu + [x] : accu
            value = var.type
            step = bodies[0].cost.add(Est(13, 13).union(ONE))
        else:  # map: step accu + [f] (under p ? ... : accu with a filter)
            value = bodies[-1].type
            append = Est(12, 12).add(bodies[-1].cost)
            step = bodies[0].cost.add(append.union(ONE)) if len(bodies) == 2 else append
        count = self.size_of(target)
        cost = target.cost.add(init).add(ONE).add(count.mul(step))
        return _Node(CelType("list", elem=value), cost, count)


_METHODS_RETURNING_BOOL = frozenset(
    {"hasValue", "isGreaterThan", "isLessThan", "isInteger", "isCanonical", "isUnspecified", "isLoopback"}
    | {"isLinkLocalMulticast", "isLinkLocalUnicast", "isGlobalUnicast", "containsIP", "containsCIDR"}
)
_METHODS_RETURNING_INT = frozenset(
    {"getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek", "getHours"}
    | {"getMinutes", "getSeconds", "getMilliseconds", "compareTo", "sign", "asInteger", "prefixLength"}
    | {"family", "major", "minor", "patch"}
)
_OTHER_METHODS = frozenset(
    {"asApproximateFloat", "add", "sub", "getScheme", "getHostname", "getHost", "getPort", "getEscapedPath"}
    | {"getQuery", "masked", "ip", "charAt", "reverse", "or", "optMap", "optFlatMap", "distinct", "flatten"}
    | {"slice", "sort", "sortBy", "first", "last"}
)


def _exprs(tree: PTree) -> list[PTree]:
    """The argument expressions of a call or literal (its exprlist's children)."""
    for child in tree.children:
        if isinstance(child, Tree) and child.data == "exprlist":
            return [c for c in child.children if isinstance(c, Tree)]
    return []


def _unwrap(tree: PTree, wanted: str) -> PTree | None:
    """Descend through single-child wrappers (expr -> ... -> member) to a `wanted` node."""
    node: PTree | Token = tree
    while isinstance(node, Tree):
        if node.data == wanted:
            return node
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


def _qualified_name(tree: PTree | Token) -> str | None:
    """`a.b.c` when a member expression is only dotted identifiers (a package name or a variable)."""
    if not isinstance(tree, Tree):
        return None
    ident = _unwrap(tree, "ident")
    if ident is not None:
        return str(ident.children[0])
    dot = _unwrap(tree, "member_dot")
    if dot is not None:
        inner = _qualified_name(dot.children[0])
        return f"{inner}.{dot.children[1]}" if inner is not None else None
    return None


def _string_value(token: str) -> str:
    raw = token[:1] in {"r", "R"}
    body = token[1:] if raw else token
    quote = 3 if body[:3] in {'"""', "'''"} else 1
    inner = body[quote:-quote]
    if raw:
        return inner
    try:
        return str(json.loads('"' + inner.replace('"', '\\"').replace("\\'", "'") + '"'))
    except ValueError:
        return inner


def compile_rule(text: str, self_type: CelType, *, expect: str = "bool") -> Compiled:
    """Parse and type the rule against `self_type`; raise CelCompileError as cel-go would refuse it."""
    coster = _Coster(self_type)
    node = coster.visit(_parse(text))
    if node.type.kind not in {expect, "dyn"}:
        if expect == "bool":
            raise CelCompileError("cel expression must evaluate to a bool")
        raise CelCompileError("messageExpression must evaluate to a string")
    return Compiled(node.cost.hi, coster.uses_old_self, node.type)


def max_cardinality(min_size: int) -> int:
    """How many times a rule may run when the number of values it applies to is unbounded."""
    return MAX_REQUEST_SIZE_BYTES // (min_size + 1)


def with_cardinality(cost: int, cardinality: int) -> int:
    if cost == 0:
        return 0
    return U64 if cardinality and cost > U64 // cardinality else cost * cardinality


def cost_factor_message(name: str, cost: int, limit: int) -> str:
    """getCostErrorMessage (k8s.io/apiextensions-apiserver pkg/apis/apiextensions/validation)."""
    factor = cost / limit
    if factor > 100.0:
        shown = "more than 100x"
    elif factor < 1.5:
        shown = f"{factor:f}x"
    else:
        shown = f"{factor:.1f}x"
    return (
        f"{name} exceeds budget by factor of {shown} (try simplifying the rule, or adding maxItems, "
        "maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
