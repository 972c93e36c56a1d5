"""CustomResourceDefinition validation, ported from k8s.io/apiextensions-apiserver (read, not copied).

  - pkg/apis/apiextensions/validation/validation.go: names, group, scope, versions, printer columns,
    subresources, the OpenAPI schema rules (unsupported keywords, list and map types, map keys,
    x-kubernetes-validations fields, root restrictions with a status subresource), defaults allowed
    where, and the CEL rules compiled with their estimated cost (per rule and per CRD).
  - pkg/apiserver/schema/validation.go and complete.go: the structural-schema invariants (types
    everywhere, nothing but name/generateName at the root metadata, no metadata in nested contexts,
    what value validations may hold) and completeness.
  - pkg/apiserver/schema/defaulting/validation.go: defaults must be pruned and valid (schema and CEL).
  - pkg/apis/apiextensions/v1/defaults.go: names.singular, names.listKind and conversion are defaulted.
Left out: webhook conversion details (CA bundles, service references), selectableFields, validation
ratcheting and the update-only allowances for schemas a previous server version accepted.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import admission, celcheck
from .fielderrors import Cause, child, forbidden, index, invalid, key, not_supported, required

Schema = Mapping[str, Any]

STATIC_COST_LIMIT = 10_000_000  # StaticEstimatedCostLimit, per expression
STATIC_CRD_COST_LIMIT = 100_000_000  # StaticEstimatedCRDCostLimit, all rules of a version's schema

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_PRINTER_TYPES = ("boolean", "date", "integer", "number", "string")
_PRINTER_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64", "password")
_OPENAPI_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")
_ROOT_ALLOWED_WITH_STATUS = (
    "description", "type", "format", "title", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "multipleOf", "required",
    "items", "properties", "externalDocs", "example", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
)  # fmt: skip
_ROOT_ALLOWED_NAMES = (
    "Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength "
    "Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example "
    "XPreserveUnknownFields XValidations"
)
_GENERIC = ("description", "type", "title", "default", "nullable", "externalDocs", "example")
_EXTENSIONS = (
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
)  # fmt: skip
_META_FIELDS = ("metadata", "kind", "apiVersion")


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and all(_DNS1123_LABEL.match(part) for part in value.split("."))


def apply_defaults(crd: dict[str, Any]) -> dict[str, Any]:
    """SetDefaults_CustomResourceDefinitionSpec: singular, listKind and the conversion strategy."""
    spec = crd.setdefault("spec", {})
    if not isinstance(spec, dict):
        return crd
    names = spec.setdefault("names", {})
    if isinstance(names, dict) and names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
    if not spec.get("conversion"):
        spec["conversion"] = {"strategy": "None"}
    return crd


def validate_crd(crd: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[Cause]:
    """Every reason kube-apiserver would refuse this (defaulted) CRD, as causes."""
    causes: list[Cause] = []
    spec = crd.get("spec") if isinstance(crd.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    names = spec.get("names") if isinstance(spec.get("names"), Mapping) else {}
    assert isinstance(names, Mapping)
    group = str(spec.get("group") or "")
    name = str((crd.get("metadata") or {}).get("name") or "")
    messages = [] if is_dns1123_subdomain(name) else [_SUBDOMAIN_MSG]
    if name != f"{names.get('plural', '')}.{group}":
        messages.append('must be spec.names.plural+"."+spec.group')
    if messages:
        causes.append(invalid("metadata.name", name, ", ".join(messages)))
    causes += _spec(spec)
    causes += _api_approval(crd, group)
    if spec.get("preserveUnknownFields") is True:
        causes.append(
            invalid(
                "spec.preserveUnknownFields",
                True,
                "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",  # noqa: E501 - upstream's message
            )
        )
    if old is not None:
        old_scope = (old.get("spec") or {}).get("scope")
        if old_scope and spec.get("scope") != old_scope:
            causes.append(invalid("spec.scope", spec.get("scope"), "field is immutable"))
    return causes


def _api_approval(crd: Mapping[str, Any], group: str) -> list[Cause]:
    protected = group in {"k8s.io", "kubernetes.io"} or group.endswith((".k8s.io", ".kubernetes.io"))
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    path = "metadata.annotations[api-approved.kubernetes.io]"
    if protected and "api-approved.kubernetes.io" not in annotations:
        return [
            required(
                path,
                'protected groups must have approval annotation "api-approved.kubernetes.io", see '
                "https://github.com/kubernetes/enhancements/pull/1111",
            )
        ]
    return []


def _spec(spec: Mapping[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    group = spec.get("group")
    if not group:
        causes.append(required("spec.group"))
    elif not is_dns1123_subdomain(str(group)):
        causes.append(invalid("spec.group", group, _SUBDOMAIN_MSG))
    elif len(str(group).split(".")) < 2:
        causes.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        causes.append(required("spec.scope"))
    elif scope not in {"Cluster", "Namespaced"}:
        causes.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))

    versions = spec.get("versions") if isinstance(spec.get("versions"), list) else []
    assert isinstance(versions, list)
    seen: set[str] = set()
    unique = True
    for i, version in enumerate(versions):
        path = index("spec.versions", i)
        vname = str(version.get("name") or "")
        unique = unique and vname not in seen
        seen.add(vname)
        if not _DNS1035_LABEL.match(vname) or len(vname) > 63:
            causes.append(invalid(child(path, "name"), vname, _DNS1035_MSG))
        causes += _version(version, path)
    if not unique:
        causes.append(invalid("spec.versions", versions, "must contain unique version names"))
    if sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            invalid("spec.versions", versions, "must have exactly one version marked as storage version")
        )

    names = spec.get("names") if isinstance(spec.get("names"), Mapping) else {}
    assert isinstance(names, Mapping)
    for field_name in ("plural", "singular", "kind", "listKind"):
        if not names.get(field_name):
            causes.append(required(f"spec.names.{field_name}"))
    causes += _names(names, "spec.names")
    conversion = spec.get("conversion") or {}
    strategy = conversion.get("strategy")
    if strategy not in {"None", "Webhook"}:
        causes.append(not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"]))
    elif strategy == "Webhook" and not conversion.get("webhook"):
        causes.append(
            required("spec.conversion.webhookClientConfig", "required when strategy is set to Webhook")
        )
    elif strategy == "None" and conversion.get("webhook"):
        causes.append(
            forbidden(
                "spec.conversion.webhookClientConfig", "should not be set when strategy is not set to Webhook"
            )
        )
    return causes


def _label_check(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(_DNS1035_LABEL.match(value))


def _names(names: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for field_name in ("plural", "singular"):
        value = names.get(field_name)
        if value and not _label_check(value):
            causes.append(invalid(child(path, field_name), value, _DNS1035_MSG))
    for field_name in ("kind", "listKind"):
        value = names.get(field_name)
        if value and not _label_check(str(value).lower()):
            causes.append(
                invalid(
                    child(path, field_name),
                    value,
                    "may have mixed case, but should otherwise match: " + _DNS1035_MSG,
                )
            )
    for i, short in enumerate(names.get("shortNames") or []):
        if not _label_check(short):
            causes.append(invalid(index(child(path, "shortNames"), i), short, _DNS1035_MSG))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        causes.append(
            invalid(child(path, "listKind"), names["listKind"], "kind and listKind may not be the same")
        )
    for i, category in enumerate(names.get("categories") or []):
        if not _label_check(category):
            causes.append(invalid(index(child(path, "categories"), i), category, _DNS1035_MSG))
    return causes


def _version(version: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    warning = version.get("deprecationWarning")
    if warning is not None:
        if not version.get("deprecated"):
            causes.append(
                invalid(child(path, "deprecationWarning"), warning, "can only be set for deprecated versions")
            )
        elif len(warning) > 256:
            causes.append(
                invalid(child(path, "deprecationWarning"), warning, "must be <= 256 characters long")
            )
        elif not warning:
            causes.append(invalid(child(path, "deprecationWarning"), warning, "must not be an empty string"))
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    schema_path = child(child(path, "schema"), "openAPIV3Schema")
    subresources = version.get("subresources") or {}
    if not isinstance(schema, Mapping):
        causes.append(required(schema_path))
    else:
        causes += validate_schema(schema, schema_path, status_enabled="status" in subresources)
    scale = subresources.get("scale")
    if isinstance(scale, Mapping):
        causes += _scale(scale, child(path, "subresources"))
    for i, column in enumerate(version.get("additionalPrinterColumns") or []):
        causes += _column(column, index(child(path, "additionalPrinterColumns"), i))
    return causes


def _simple_json_path(value: str, path: str) -> list[Cause]:
    if not value:
        return [invalid(path, value, "must not be empty")]
    if not value.startswith("."):
        return [invalid(path, value, "must be a simple json path starting with .")]
    return []


def _scale(scale: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for name, prefix in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = str(scale.get(name) or "")
        where = f"{path}.scale.{name}"
        if not value:
            causes.append(required(where))
        elif errors := _simple_json_path(value, where):
            causes += errors
        elif not value.startswith(prefix):
            causes.append(invalid(where, value, f"should be a json path under {prefix.rstrip('.')}"))
    selector = scale.get("labelSelectorPath")
    if selector:
        where = f"{path}.scale.labelSelectorPath"
        if errors := _simple_json_path(selector, where):
            causes += errors
        elif not selector.startswith((".spec.", ".status.")):
            causes.append(invalid(where, selector, "should be a json path under either .spec or .status"))
    return causes


def _column(column: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not column.get("name"):
        causes.append(required(child(path, "name")))
    type_ = column.get("type")
    if not type_:
        causes.append(required(child(path, "type"), f"must be one of {','.join(_PRINTER_TYPES)}"))
    elif type_ not in _PRINTER_TYPES:
        causes.append(invalid(child(path, "type"), type_, f"must be one of {','.join(_PRINTER_TYPES)}"))
    fmt = column.get("format")
    if fmt and fmt not in _PRINTER_FORMATS:
        causes.append(invalid(child(path, "format"), fmt, f"must be one of {','.join(_PRINTER_FORMATS)}"))
    json_path = column.get("jsonPath")
    if not json_path:
        causes.append(required(child(path, "JSONPath")))
    else:
        causes += _simple_json_path(str(json_path), child(path, "JSONPath"))
    return causes


# --- the schema ------------------------------------------------------------------------------------


def validate_schema(schema: Schema, path: str, *, status_enabled: bool) -> list[Cause]:
    """validateCustomResourceDefinitionValidation for one version's openAPIV3Schema."""
    causes: list[Cause] = []
    if status_enabled:
        if "type" in schema and schema.get("type") != "object":
            causes.append(
                invalid(
                    child(path, "type"),
                    schema.get("type"),
                    'only "object" is allowed as the type at the root of the schema if the status subresource is enabled',  # noqa: E501 - upstream's message
                )
            )
        elif any(
            k not in _ROOT_ALLOWED_WITH_STATUS
            for k, v in schema.items()
            if v not in (None, False, "", [], {})
        ):
            causes.append(
                invalid(
                    path,
                    dict(schema),
                    f"only [{_ROOT_ALLOWED_NAMES}] fields are allowed at the root of the schema if the status subresource is enabled",  # noqa: E501 - upstream's message
                )
            )
    if schema.get("nullable"):
        causes.append(forbidden(f"{path}.nullable", "nullable cannot be true at the root"))

    structural_errors = _unsupported(schema)
    structural_ok = False
    if not structural_errors:
        found = validate_structural(schema, path)
        if found:
            causes += found
        else:
            defaults = validate_defaults(schema, path)
            causes += defaults
            structural_ok = not defaults
    cel = _CelBudget() if structural_ok else None
    openapi = _OpenApiCheck(cel).run(schema, path)
    causes += openapi
    if not causes and structural_errors:
        causes.append(invalid(path, "", structural_errors))
    if cel is not None and cel.total > STATIC_CRD_COST_LIMIT:
        for rule_path, _ in cel.most_expensive:
            causes.append(
                forbidden(
                    rule_path,
                    "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",  # noqa: E501 - upstream's message
                )
            )
        causes.append(
            forbidden(
                path,
                celcheck.cost_factor_message(
                    "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
                    cel.total,
                    STATIC_CRD_COST_LIMIT,
                ),
            )
        )
    return causes


def _unsupported(schema: Schema) -> str:
    """NewStructural's refusals (convert.go), the first one found, depth first."""
    for node in _all_nodes(schema):
        for word, message in (
            ("id", "OpenAPIV3Schema 'id' is not supported"),
            ("$schema", "OpenAPIV3Schema 'schema' is not supported"),
            ("$ref", "OpenAPIV3Schema '$ref' is not supported"),
            ("patternProperties", "OpenAPIV3Schema 'patternProperties' is not supported"),
            ("dependencies", "OpenAPIV3Schema 'dependencies' is not supported"),
            ("additionalItems", "OpenAPIV3Schema 'additionalItems' is not supported"),
            ("definitions", "OpenAPIV3Schema 'definitions' is not supported"),
        ):
            if node.get(word):
                return message
        if isinstance(node.get("items"), list):
            return "OpenAPIV3Schema 'items' must be a schema, but is an array"
        if node.get("x-kubernetes-preserve-unknown-fields") is False:
            return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
    return ""


def _all_nodes(schema: Schema) -> Iterator[Schema]:
    yield schema
    for word in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(word) or []:
            if isinstance(sub, Mapping):
                yield from _all_nodes(sub)
    for word in ("not", "items", "additionalProperties"):
        if isinstance(schema.get(word), Mapping):
            yield from _all_nodes(schema[word])
    for sub in (schema.get("properties") or {}).values():
        if isinstance(sub, Mapping):
            yield from _all_nodes(sub)


# --- structural (pkg/apiserver/schema/validation.go, complete.go) --------------------------------------

_ROOT, _ITEM, _FIELD = "root", "item", "field"
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def validate_structural(schema: Schema, path: str) -> list[Cause]:
    causes = _invariants(schema, _ROOT, path) + _completeness(schema, path)
    return sorted(causes, key=str)


def _invariants(s: Schema, level: str, path: str) -> list[Cause]:
    causes: list[Cause] = []
    type_ = s.get("type") or ""
    if type_ == "array" and not isinstance(s.get("items"), Mapping):
        causes.append(required(f"{path}.items", "must be specified"))
    if isinstance(s.get("items"), Mapping):
        causes += _invariants(s["items"], _ITEM, f"{path}.items")
    for name, prop in (s.get("properties") or {}).items():
        causes += _invariants(prop, _FIELD, key(f"{path}.properties", name))
    extra = s.get("additionalProperties")
    if extra is not None:
        if level == _ROOT:
            causes.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
        if isinstance(extra, Mapping):
            causes += _invariants(extra, _FIELD, f"{path}.additionalProperties")
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    int_or_string = bool(s.get("x-kubernetes-int-or-string"))
    if int_or_string and preserve:
        causes.append(
            invalid(
                f"{path}.x-kubernetes-preserve-unknown-fields",
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )
    if int_or_string and embedded:
        causes.append(
            invalid(
                f"{path}.x-kubernetes-embedded-resource",
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )

    skip_any_of = s.get("anyOf") == _INT_OR_STRING
    all_of = s.get("allOf") or []
    skip_first_all_of = (
        bool(all_of) and isinstance(all_of[0], Mapping) and all_of[0].get("anyOf") == _INT_OR_STRING
    )
    causes += _value_validation(s, skip_any_of, skip_first_all_of, path)

    if embedded and type_ != "object":
        if not type_:
            causes.append(
                required(f"{path}.type", "must be object if x-kubernetes-embedded-resource is true")
            )
        else:
            causes.append(
                invalid(f"{path}.type", type_, "must be object if x-kubernetes-embedded-resource is true")
            )
    elif not type_ and not int_or_string and not preserve:
        detail = {
            _ROOT: "must not be empty at the root",
            _ITEM: "must not be empty for specified array items",
            _FIELD: "must not be empty for specified object fields",
        }[level]
        causes.append(required(f"{path}.type", detail))
    if embedded and extra is not None:
        causes.append(
            forbidden(
                f"{path}.additionalProperties", "must not be used if x-kubernetes-embedded-resource is set"
            )
        )
    if level == _ROOT and type_ and type_ != "object":
        causes.append(invalid(f"{path}.type", type_, "must be object at the root"))
    check_metadata = level == _ROOT or embedded
    props = s.get("properties") or {}
    for meta_field in ("kind", "apiVersion"):
        if meta_field in props and check_metadata and props[meta_field].get("type") != "string":
            causes.append(
                invalid(
                    key(f"{path}.properties", meta_field) + ".type",
                    props[meta_field].get("type", ""),
                    "must be string",
                )
            )
    if "metadata" in props:
        causes += _metadata_invariants(
            props["metadata"], check_metadata, level, key(f"{path}.properties", "metadata")
        )
    if embedded and not preserve and not props:
        causes.append(
            required(
                f"{path}.properties",
                "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",  # noqa: E501 - upstream's message
            )
        )
    return causes


def _metadata_invariants(s: Schema, check_metadata: bool, level: str, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if check_metadata and s.get("type") != "object":
        causes.append(invalid(f"{path}.type", s.get("type", ""), "must be object"))
    if level == _ROOT:
        rest = {
            k: v for k, v in s.items() if k not in {"type", "default"} and v not in (None, False, "", [], {})
        }
        props = dict(rest.pop("properties", None) or {})
        if set(props) - {"name", "generateName"} or (props and len(props) > 2):
            rest["properties"] = props
        if rest:
            causes.append(
                forbidden(
                    path,
                    "must not specify anything other than name and generateName, but metadata is implicitly specified",  # noqa: E501 - upstream's message
                )
            )
    return causes


def _value_validation(v: Schema, skip_any_of: bool, skip_first_all_of: bool, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not skip_any_of:
        for i, sub in enumerate(v.get("anyOf") or []):
            causes += _nested(sub, False, index(f"{path}.anyOf", i))
    for i, sub in enumerate(v.get("allOf") or []):
        causes += _nested(sub, skip_first_all_of and i == 0, index(f"{path}.allOf", i))
    for i, sub in enumerate(v.get("oneOf") or []):
        causes += _nested(sub, False, index(f"{path}.oneOf", i))
    if isinstance(v.get("not"), Mapping):
        causes += _nested(v["not"], False, f"{path}.not")
    pattern = v.get("pattern")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            causes.append(
                invalid(f"{path}.pattern", pattern, f"must be a valid regular expression, but isn't: {exc}")
            )
    return causes


def _nested(v: Any, skip_any_of: bool, path: str) -> list[Cause]:
    """validateNestedValueValidation: inside allOf/anyOf/oneOf/not only value validations may appear."""
    if not isinstance(v, Mapping):
        return []
    causes = _value_validation(v, skip_any_of, False, path)
    if isinstance(v.get("items"), Mapping):
        causes += _nested(v["items"], False, f"{path}.items")
    for name, prop in (v.get("properties") or {}).items():
        causes += _nested(prop, False, key(f"{path}.properties", name))
    if v.get("type"):
        causes.append(forbidden(f"{path}.type", "must be empty to be structural"))
    if v.get("additionalProperties") not in (None, False):
        causes.append(forbidden(f"{path}.additionalProperties", "must be undefined to be structural"))
    for word, detail in (
        ("default", "must be undefined to be structural"),
        ("title", "must be empty to be structural"),
        ("description", "must be empty to be structural"),
        ("nullable", "must be false to be structural"),
        ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
        ("x-kubernetes-embedded-resource", "must be false to be structural"),
        ("x-kubernetes-int-or-string", "must be false to be structural"),
        ("x-kubernetes-list-map-keys", "must be empty to be structural"),
        ("x-kubernetes-list-type", "must be undefined to be structural"),
        ("x-kubernetes-map-type", "must be undefined to be structural"),
        ("x-kubernetes-validations", "must be empty to be structural"),
    ):
        if v.get(word) not in (None, False, "", []):
            causes.append(forbidden(f"{path}.{word}", detail))
    if "metadata" in (v.get("properties") or {}):
        causes.append(
            forbidden(key(f"{path}.properties", "metadata"), "must not be specified in a nested context")
        )
    return causes


def _completeness(s: Schema, path: str) -> list[Cause]:
    """Value validations of the root must only name fields the structural part defines."""
    return _vv_complete(s, s, path, path)


def _vv_complete(v: Schema, s: Schema | None, s_path: str, v_path: str) -> list[Cause]:
    causes: list[Cause] = []
    if isinstance(v.get("not"), Mapping):
        causes += _nested_complete(v["not"], s, s_path, f"{v_path}.not")
    for word in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(v.get(word) or []):
            causes += _nested_complete(sub, s, s_path, index(f"{v_path}.{word}", i))
    return causes


def _nested_complete(v: Schema, s: Schema | None, s_path: str, v_path: str) -> list[Cause]:
    if s is None:
        return [required(s_path, f"because it is defined in {v_path}")]
    causes = _vv_complete(v, s, s_path, v_path)
    if isinstance(v.get("items"), Mapping):
        items = s.get("items") if isinstance(s.get("items"), Mapping) else None
        causes += _nested_complete(v["items"], items, f"{s_path}.items", f"{v_path}.items")
    s_props = s.get("properties") or {}
    for name, sub in (v.get("properties") or {}).items():
        if name not in s_props:
            causes.append(
                required(
                    key(f"{s_path}.properties", name),
                    f"because it is defined in {key(f'{v_path}.properties', name)}",
                )
            )
        else:
            causes += _nested_complete(
                sub, s_props[name], key(f"{s_path}.properties", name), key(f"{v_path}.properties", name)
            )
    return causes


# --- defaults (pkg/apiserver/schema/defaulting/validation.go) -------------------------------------------


def validate_defaults(schema: Schema, path: str) -> list[Cause]:
    return _defaults(schema, path, root=True)


def _defaults(s: Schema, path: str, *, root: bool) -> list[Cause]:
    causes: list[Cause] = []
    if "default" in s and not root:
        value = copy.deepcopy(s["default"])
        pruned = copy.deepcopy(value)
        admission.prune(s, pruned, embedded=bool(s.get("x-kubernetes-embedded-resource")))
        where = f"{path}.default"
        if pruned != value:
            causes.append(invalid(where, value, "must not have unknown fields"))
        else:
            found = admission.schema_causes(s, value, where)
            if not found and s.get("x-kubernetes-validations"):
                found = admission.cel_causes(s, value, value, where)
            causes += found
    if isinstance(s.get("items"), Mapping):
        causes += _defaults(s["items"], f"{path}.items", root=False)
    embedded = root or bool(s.get("x-kubernetes-embedded-resource"))
    for name, prop in (s.get("properties") or {}).items():
        if embedded and name in _META_FIELDS:
            continue  # ObjectMeta's business (forbidden at the root; ObjectMeta rules when embedded)
        causes += _defaults(prop, key(f"{path}.properties", name), root=False)
    return causes


# --- the OpenAPI rules and CEL (ValidateCustomResourceDefinitionOpenAPISchema) --------------------------


@dataclass
class _CelBudget:
    total: int = 0
    most_expensive: list[tuple[str, int]] = field(default_factory=list)

    def observe(self, path: str, cost: int) -> None:
        self.total = min(celcheck.U64, self.total + cost)
        if cost < STATIC_CRD_COST_LIMIT // 100:
            return
        self.most_expensive.append((path, cost))
        self.most_expensive.sort(key=lambda item: -item[1])
        del self.most_expensive[4:]


@dataclass(frozen=True)
class _Context:
    """Where a schema node sits: what it may hold and what its CEL rules may use."""

    allow_defaults: bool = True
    no_defaults_reason: str = ""
    inside_meta: bool = False
    uncorrelatable: str | None = None  # the path making oldSelf unusable here
    cardinality: int | None = 1  # how many values the node can have per object (None: unbounded)
    cel: bool = True  # CEL type information is available (not under a combinator)


def _max_elements(schema: Schema) -> int | None:
    type_ = schema.get("type")
    if type_ == "object":
        if schema.get("additionalProperties") is not None:
            return int(schema["maxProperties"]) if "maxProperties" in schema else None
        return 1
    if type_ == "array":
        return int(schema["maxItems"]) if "maxItems" in schema else None
    return 1


class _OpenApiCheck:
    def __init__(self, cel: _CelBudget | None) -> None:
        self.cel = cel

    def run(self, schema: Schema, path: str) -> list[Cause]:
        schema_errors, cel_errors = self._node(schema, path, _Context(), is_root=True)
        return schema_errors + cel_errors

    def _child_ctx(self, parent: Schema, ctx: _Context) -> _Context:
        if ctx.cardinality is None:
            return _Context(
                ctx.allow_defaults, ctx.no_defaults_reason, ctx.inside_meta, ctx.uncorrelatable, None, ctx.cel
            )
        bound = _max_elements(parent)
        cardinality = None if bound is None else celcheck.with_cardinality(ctx.cardinality, max(0, bound))
        return _Context(
            ctx.allow_defaults,
            ctx.no_defaults_reason,
            ctx.inside_meta,
            ctx.uncorrelatable,
            cardinality,
            ctx.cel,
        )

    def _node(
        self, s: Schema, path: str, ctx: _Context, *, is_root: bool = False
    ) -> tuple[list[Cause], list[Cause]]:
        errors: list[Cause] = []
        cel_errors: list[Cause] = []

        def merge(found: tuple[list[Cause], list[Cause]]) -> None:
            errors.extend(found[0])
            cel_errors.extend(found[1])

        errors += self._standard(s, path, ctx)
        if s.get("uniqueItems"):
            errors.append(
                forbidden(
                    f"{path}.uniqueItems",
                    "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
                )
            )
        extra = s.get("additionalProperties")
        if extra is not None:
            if s.get("properties") and (extra is False or isinstance(extra, Mapping)):
                errors.append(
                    forbidden(
                        f"{path}.additionalProperties",
                        "additionalProperties and properties are mutual exclusive",
                    )
                )
            if isinstance(extra, Mapping):
                sub = ctx
                if ctx.inside_meta:
                    sub = _replace(
                        sub,
                        allow_defaults=False,
                        no_defaults_reason="inside additionalProperties applying to object metadata",
                    )
                merge(self._node(extra, f"{path}.additionalProperties", self._child_ctx(s, sub)))
        for name, prop in (s.get("properties") or {}).items():
            sub = ctx
            if s.get("x-kubernetes-map-type") == "atomic":
                sub = _replace(sub, uncorrelatable=sub.uncorrelatable or path)
            if (is_root or s.get("x-kubernetes-embedded-resource")) and name in _META_FIELDS:
                sub = _replace(sub, inside_meta=True)
                if is_root:
                    sub = _replace(sub, allow_defaults=False, no_defaults_reason=f"in top-level {name}")
            merge(self._node(prop, key(f"{path}.properties", name), self._child_ctx(s, sub)))
        nested = _replace(ctx, cel=False)
        if isinstance(s.get("not"), Mapping):
            merge(self._node(s["not"], f"{path}.not", nested))
        for word in ("allOf", "oneOf", "anyOf"):
            for i, sub_schema in enumerate(s.get(word) or []):
                if isinstance(sub_schema, Mapping):
                    merge(self._node(sub_schema, index(f"{path}.{word}", i), nested))
        items = s.get("items")
        if isinstance(items, Mapping):
            sub = ctx
            if s.get("x-kubernetes-list-type") != "map":
                sub = _replace(sub, uncorrelatable=sub.uncorrelatable or path)
            merge(self._node(items, f"{path}.items", self._child_ctx(s, sub)))
        errors += self._list_and_map_types(s, path)
        errors += self._rule_fields(s, path)
        if not errors and ctx.cel and self.cel is not None and s.get("x-kubernetes-validations"):
            cel_errors += self._compile(s, path, ctx, is_root)
        return errors, cel_errors

    @staticmethod
    def _standard(s: Schema, path: str, ctx: _Context) -> list[Cause]:
        causes: list[Cause] = []
        type_ = s.get("type")
        if type_ and type_ not in _OPENAPI_TYPES:
            if type_ == "null":
                causes.append(
                    forbidden(f"{path}.type", "type cannot be set to null, use nullable as an alternative")
                )
            else:
                causes.append(not_supported(f"{path}.type", type_, _OPENAPI_TYPES))
        if "default" in s and not ctx.allow_defaults:
            detail = "must not be set" + (f" {ctx.no_defaults_reason}" if ctx.no_defaults_reason else "")
            causes.append(forbidden(f"{path}.default", detail))
        for word, detail in (
            ("id", "id is not supported"),
            ("additionalItems", "additionalItems is not supported"),
            ("patternProperties", "patternProperties is not supported"),
            ("definitions", "definitions is not supported"),
            ("dependencies", "dependencies is not supported"),
            ("$ref", "$ref is not supported"),
        ):
            if s.get(word):
                causes.append(forbidden(f"{path}.{word}", detail))
        if isinstance(s.get("items"), list):
            causes.append(forbidden(f"{path}.items", "items must be a schema object and not an array"))
        if ctx.inside_meta and s.get("x-kubernetes-embedded-resource"):
            causes.append(
                forbidden(
                    f"{path}.x-kubernetes-embedded-resource", "must not be used inside of resource meta"
                )
            )
        return causes

    @staticmethod
    def _list_and_map_types(s: Schema, path: str) -> list[Cause]:
        causes: list[Cause] = []
        type_ = s.get("type") or ""
        if s.get("x-kubernetes-preserve-unknown-fields") is False:
            causes.append(
                invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined")
            )
        map_type = s.get("x-kubernetes-map-type")
        if map_type is not None and type_ != "object":
            causes.append(_needs_type(path, type_, "object", "x-kubernetes-map-type"))
        if map_type is not None and map_type not in {"atomic", "granular"}:
            causes.append(not_supported(f"{path}.x-kubernetes-map-type", map_type, ["atomic", "granular"]))
        list_type = s.get("x-kubernetes-list-type")
        items = s.get("items") if isinstance(s.get("items"), Mapping) else None
        if list_type is not None and type_ != "array":
            causes.append(_needs_type(path, type_, "array", "x-kubernetes-list-type"))
        elif list_type == "set" and items is not None:
            if items.get("type") == "array" and items.get("x-kubernetes-list-type") not in (None, "atomic"):
                causes.append(
                    invalid(
                        f"{path}.items.x-kubernetes-list-type",
                        items.get("x-kubernetes-list-type"),
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    )
                )
            if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
                causes.append(
                    invalid(
                        f"{path}.items.x-kubernetes-map-type",
                        list_type,
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    )
                )
        if list_type is not None and list_type not in {"atomic", "set", "map"}:
            causes.append(
                not_supported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"])
            )
        map_keys = list(s.get("x-kubernetes-list-map-keys") or [])
        if map_keys:
            if list_type is None:
                causes.append(
                    required(
                        f"{path}.x-kubernetes-list-type",
                        "must be map if x-kubernetes-list-map-keys is non-empty",
                    )
                )
            elif list_type != "map":
                causes.append(
                    invalid(
                        f"{path}.x-kubernetes-list-type",
                        list_type,
                        "must be map if x-kubernetes-list-map-keys is non-empty",
                    )
                )
        if list_type == "map":
            if not map_keys:
                causes.append(
                    required(
                        f"{path}.x-kubernetes-list-map-keys",
                        "must not be empty if x-kubernetes-list-type is map",
                    )
                )
            if "items" not in s:
                causes.append(
                    required(f"{path}.items", "must have a schema if x-kubernetes-list-type is map")
                )
            elif items is None:
                causes.append(
                    invalid(
                        f"{path}.items",
                        s.get("items"),
                        "must only have a single schema if x-kubernetes-list-type is map",
                    )
                )
            elif items.get("type") != "object":
                causes.append(
                    invalid(
                        f"{path}.items.type",
                        items.get("type", ""),
                        "must be object if parent array's x-kubernetes-list-type is map",
                    )
                )
            else:
                props = items.get("properties") or {}
                seen: set[str] = set()
                for k in map_keys:
                    if k in props:
                        if props[k].get("type") in {"array", "object"}:
                            causes.append(
                                invalid(
                                    key(f"{path}.items.properties", k) + ".type",
                                    items.get("type"),
                                    "must be a scalar type if parent array's x-kubernetes-list-type is map",
                                )
                            )
                    else:
                        causes.append(
                            invalid(
                                f"{path}.x-kubernetes-list-map-keys",
                                map_keys,
                                "entries must all be names of item properties",
                            )
                        )
                    if k in seen:
                        causes.append(
                            invalid(
                                f"{path}.x-kubernetes-list-map-keys",
                                map_keys,
                                "must not contain duplicate entries",
                            )
                        )
                    seen.add(k)
        if list_type in {"set", "map"} and items is not None:  # validateMapListKeysMapSet
            if items.get("nullable"):
                causes.append(
                    forbidden(
                        f"{path}.items.nullable",
                        f"cannot be nullable when x-kubernetes-list-type is {list_type}",
                    )
                )
            if list_type == "map":
                required_keys = set(items.get("required") or [])
                for k in map_keys:
                    prop = (items.get("properties") or {}).get(k)
                    if prop is None:
                        continue
                    where = key(f"{path}.items.properties", k)
                    if k not in required_keys and "default" not in prop:
                        causes.append(
                            required(
                                f"{where}.default",
                                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",  # noqa: E501 - upstream's message
                            )
                        )
                    if prop.get("nullable"):
                        causes.append(
                            forbidden(
                                f"{where}.nullable",
                                "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                            )
                        )
        return causes

    @staticmethod
    def _rule_fields(s: Schema, path: str) -> list[Cause]:
        causes: list[Cause] = []
        for i, rule in enumerate(s.get("x-kubernetes-validations") or []):
            where = index(f"{path}.x-kubernetes-validations", i)
            text = str(rule.get("rule") or "").strip()
            message = rule.get("message")
            trimmed = str(message or "").strip()
            if not text:
                causes.append(required(f"{where}.rule", "rule is not specified"))
            elif message and not trimmed:
                causes.append(invalid(f"{where}.message", message, "must be non-empty if specified"))
            elif re.search(r"[\n\r]", trimmed):
                causes.append(invalid(f"{where}.message", message, "must not contain line breaks"))
            elif re.search(r"[\n\r]", text) and not trimmed:
                causes.append(
                    required(f"{where}.message", "message must be specified if rule contains line breaks")
                )
            expression = rule.get("messageExpression")
            if expression and not str(expression).strip():
                causes.append(
                    required(f"{where}.messageExpression", "messageExpression must be non-empty if specified")
                )
            reason = rule.get("reason")
            if reason is not None and reason not in _REASONS:
                causes.append(not_supported(f"{where}.reason", reason, _REASONS))
            field_path = rule.get("fieldPath")
            if field_path is not None and field_path != "":
                if not str(field_path).strip():
                    causes.append(invalid(f"{where}.fieldPath", field_path, "must be non-empty if specified"))
                if re.search(r"[\n\r]", str(field_path)):
                    causes.append(invalid(f"{where}.fieldPath", field_path, "must not contain line breaks"))
                if not valid_field_path(str(field_path), s):
                    causes.append(invalid(f"{where}.fieldPath", field_path, "must be a valid path"))
        return causes

    def _compile(self, s: Schema, path: str, ctx: _Context, is_root: bool) -> list[Cause]:
        assert self.cel is not None
        causes: list[Cause] = []
        self_type = celcheck.decl_type(s, root=is_root or bool(s.get("x-kubernetes-embedded-resource")))
        if self_type is None:
            return [
                Cause(
                    f"{path}.x-kubernetes-validations",
                    "Internal error: internal error: failed to retrieve type information for x-kubernetes-validations",  # noqa: E501 - upstream's message
                    "InternalError",
                )
            ]
        unbounded = celcheck.max_cardinality(self_type.min_size)
        for i, rule in enumerate(s.get("x-kubernetes-validations") or []):
            where = index(f"{path}.x-kubernetes-validations", i)
            text = str(rule.get("rule") or "")
            if not text.strip():
                continue
            try:
                compiled = celcheck.compile_rule(text, self_type)
            except celcheck.CelCompileError as exc:
                causes.append(invalid(f"{where}.rule", dict(rule), str(exc)))
                continue
            cardinality = ctx.cardinality if ctx.cardinality is not None else unbounded
            cost = celcheck.with_cardinality(compiled.max_cost, cardinality)
            if cost > STATIC_COST_LIMIT:
                causes.append(
                    forbidden(
                        f"{where}.rule",
                        celcheck.cost_factor_message("estimated rule cost", cost, STATIC_COST_LIMIT),
                    )
                )
            self.cel.observe(f"{where}.rule", cost)
            expression = rule.get("messageExpression")
            if expression:
                try:
                    message = celcheck.compile_rule(str(expression), self_type, expect="string")
                except celcheck.CelCompileError as exc:
                    causes.append(
                        invalid(
                            f"{where}.messageExpression",
                            dict(rule),
                            f"messageExpression {exc}".replace(
                                "messageExpression messageExpression", "messageExpression"
                            ),
                        )
                    )
                else:
                    if message.max_cost > STATIC_COST_LIMIT:
                        causes.append(
                            forbidden(
                                f"{where}.messageExpression",
                                celcheck.cost_factor_message(
                                    "estimated messageExpression cost", message.max_cost, STATIC_COST_LIMIT
                                ),
                            )
                        )
                    self.cel.observe(f"{where}.messageExpression", message.max_cost)
            if compiled.uses_old_self:
                if ctx.uncorrelatable is not None:
                    causes.append(
                        invalid(
                            f"{where}.rule",
                            text,
                            f"oldSelf cannot be used on the uncorrelatable portion of the schema within {ctx.uncorrelatable}",  # noqa: E501 - upstream's message
                        )
                    )
            elif rule.get("optionalOldSelf") is not None:
                causes.append(
                    invalid(
                        f"{where}.optionalOldSelf",
                        rule["optionalOldSelf"],
                        "may not be set if oldSelf is not used in rule",
                    )
                )
        return causes


def _needs_type(path: str, type_: str, wanted: str, extension: str) -> Cause:
    detail = f"must be {wanted} if {extension} is specified"
    return required(f"{path}.type", detail) if not type_ else invalid(f"{path}.type", type_, detail)


def _replace(ctx: _Context, **changes: Any) -> _Context:
    values = {**ctx.__dict__, **changes}
    return _Context(**values)


def valid_field_path(path: str, schema: Schema) -> bool:
    """cel.ValidFieldPath: `.a.b`, `['a.b']` and `.list[0]` through properties and additionalProperties."""
    tokens = re.findall(r"'(?:[^'\\]|\\.)*'|[.\[\]]|[^.\[\]']+", path)
    node: Schema | None = schema
    i = 0
    if not tokens:
        return False
    while i < len(tokens):
        part = tokens[i]
        if node is None:
            return False
        if part == ".":
            if i + 1 >= len(tokens) or tokens[i + 1] in {".", "[", "]"}:
                return False
            name = tokens[i + 1]
            props = node.get("properties") or {}
            if name not in props:
                return False
            node = props[name]
            i += 2
        elif part == "[":
            if i + 2 >= len(tokens) or tokens[i + 2] != "]":
                return False
            inner = tokens[i + 1]
            if inner.startswith("'"):
                name = inner[1:-1].replace("\\'", "'")
                props = node.get("properties") or {}
                extra = node.get("additionalProperties")
                if name in props:
                    node = props[name]
                elif isinstance(extra, Mapping):
                    node = extra
                else:
                    return False
            elif inner.isdigit() and node.get("type") == "array" and isinstance(node.get("items"), Mapping):
                node = node["items"]
            else:
                return False
            i += 3
        else:
            return False
    return True
