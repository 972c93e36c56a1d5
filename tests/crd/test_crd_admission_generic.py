"""admit() on small made-up CRDs: it is generic over structural schemas, not IapProtectedService-specific."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from iap_sandbox.emulators.kube.admission import AdmissionError, Cause, admit

GROUP = "widgets.test"


def make_crd(spec_schema: dict[str, Any], *, served: bool = True, **root: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"spec": spec_schema, **root}}
    return {
        "spec": {
            "group": GROUP,
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": served, "storage": True, "schema": {"openAPIV3Schema": schema}}
            ],
        }
    }


def widget(spec: Any, name: str = "w", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec, **extra}


def obj_schema(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


STR = {"type": "string"}
INT = {"type": "integer"}


def refusal(crd: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    with pytest.raises(AdmissionError) as refused:
        admit(crd, obj, old)
    return refused.value.causes


def at(causes: list[Cause], field: str) -> list[Cause]:
    return [c for c in causes if c.field == field]


# --- pruning -------------------------------------------------------------------


def test_unknown_fields_are_pruned_silently_at_every_level() -> None:
    crd = make_crd(obj_schema(a=obj_schema(b=STR)))
    got = admit(crd, widget({"a": {"b": "x", "junk": 1}, "junk": {"deep": True}}), None)
    assert got["spec"] == {"a": {"b": "x"}}


def test_object_meta_is_kept_and_unknown_top_level_fields_are_pruned() -> None:
    crd = make_crd(obj_schema())
    obj = widget({}, extra="dropped")
    obj["metadata"].update(labels={"app": "w"}, annotations={"a": "b"})
    got = admit(crd, obj, None)
    assert got["metadata"] == {"name": "w", "labels": {"app": "w"}, "annotations": {"a": "b"}}
    assert "extra" not in got


def test_preserve_unknown_fields_and_additional_properties() -> None:
    crd = make_crd(
        obj_schema(
            free={
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"k": obj_schema()},
            },
            labels={"type": "object", "additionalProperties": obj_schema(v=STR)},
            embedded={"type": "object", "x-kubernetes-embedded-resource": True, "properties": {}},
        )
    )
    spec = {
        "free": {"anything": [1, {"x": 2}], "k": {"pruned": 1}},
        "labels": {"one": {"v": "1", "pruned": 2}},
        "embedded": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": {"pruned": "x"},
        },
    }
    got = admit(crd, widget(spec), None)["spec"]
    assert got["free"] == {"anything": [1, {"x": 2}], "k": {}}
    assert got["labels"] == {"one": {"v": "1"}}
    assert got["embedded"] == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}


# --- defaulting -------------------------------------------------------------------


def test_defaults_are_applied_recursively() -> None:
    crd = make_crd(
        obj_schema(
            size={**INT, "default": 3},
            nested={
                **obj_schema(mode={**STR, "default": "fast"}, depth={**INT, "default": 1}),
                "default": {},
            },
            items={"type": "array", "items": obj_schema(weight={**INT, "default": 7}, id=STR)},
            byName={
                "type": "object",
                "additionalProperties": obj_schema(on={"type": "boolean", "default": True}),
            },
        )
    )
    got = admit(crd, widget({"nested": {"depth": 2}, "items": [{"id": "a"}], "byName": {"x": {}}}), None)[
        "spec"
    ]
    assert got == {
        "size": 3,
        "nested": {"mode": "fast", "depth": 2},
        "items": [{"id": "a", "weight": 7}],
        "byName": {"x": {"on": True}},
    }
    # An absent object with an object default gets the default's own nested defaults too.
    assert admit(crd, widget({}), None)["spec"]["nested"] == {"mode": "fast", "depth": 1}


def test_null_is_dropped_or_defaulted_unless_nullable() -> None:
    crd = make_crd(obj_schema(a={**STR, "default": "d"}, b=STR, c={**STR, "nullable": True}))
    assert admit(crd, widget({"a": None, "b": None, "c": None}), None)["spec"] == {"a": "d", "c": None}


def test_input_is_not_modified() -> None:
    crd = make_crd(obj_schema(a={**STR, "default": "d"}))
    obj = widget({"junk": 1})
    before = copy.deepcopy(obj)
    got = admit(crd, obj, None)
    assert obj == before
    got["metadata"]["name"] = "changed"
    assert obj["metadata"]["name"] == "w"


# --- OpenAPI validation -------------------------------------------------------------------


def test_types() -> None:
    crd = make_crd(
        obj_schema(
            i=INT, n={"type": "number"}, b={"type": "boolean"}, s=STR, a={"type": "array", "items": INT}
        )
    )
    admit(crd, widget({"i": 1, "n": 1, "b": False, "s": "", "a": []}), None)
    causes = refusal(crd, widget({"i": True, "n": "1", "b": 0, "s": 1, "a": {}}))
    assert {c.field for c in causes} == {f"spec.{k}" for k in "inbsa"}
    assert {c.reason for c in causes} == {"FieldValueTypeInvalid"}
    assert (
        at(causes, "spec.i")[0].message
        == 'Invalid value: "boolean": spec.i in body must be of type integer: "boolean"'
    )


def test_int_or_string() -> None:
    crd = make_crd(obj_schema(port={"x-kubernetes-int-or-string": True}))
    admit(crd, widget({"port": 80}), None)
    admit(crd, widget({"port": "http"}), None)
    assert at(refusal(crd, widget({"port": 1.5})), "spec.port")[0].reason == "FieldValueTypeInvalid"


def test_enum_lists_the_supported_values() -> None:
    crd = make_crd(obj_schema(color={**STR, "enum": ["red", "green"]}))
    (cause,) = refusal(crd, widget({"color": "blue"}))
    assert cause == Cause(
        "spec.color", 'Unsupported value: "blue": supported values: "red", "green"', "FieldValueNotSupported"
    )


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({**INT, "minimum": 1, "maximum": 10}, [1, 10], [0, 11]),
        (
            {**INT, "minimum": 1, "exclusiveMinimum": True, "maximum": 10, "exclusiveMaximum": True},
            [2, 9],
            [1, 10],
        ),
        ({"type": "number", "multipleOf": 0.5}, [1.5, 2], [1.25]),
        ({**STR, "minLength": 2, "maxLength": 3}, ["ab", "abc"], ["a", "abcd"]),
        ({**STR, "pattern": "^[a-z]+$"}, ["abc"], ["ABC", "a1"]),
        ({"type": "array", "items": INT, "minItems": 1, "maxItems": 2}, [[1], [1, 2]], [[], [1, 2, 3]]),
        (
            {"type": "object", "additionalProperties": INT, "minProperties": 1, "maxProperties": 1},
            [{"a": 1}],
            [{}, {"a": 1, "b": 2}],
        ),
        (
            {**STR, "format": "date-time"},
            ["2025-01-02T03:04:05Z", "2025-01-02T03:04:05.5+02:00"],
            ["2025-13-02T03:04:05Z", "2025-01-02"],
        ),
        ({**STR, "format": "uuid"}, ["123e4567-e89b-12d3-a456-426614174000"], ["123e4567"]),
        ({**STR, "format": "ipv4"}, ["10.0.0.1"], ["10.0.0.256"]),
        ({**STR, "format": "byte"}, ["aGVsbG8="], ["not base64!"]),
        ({**STR, "format": "no-such-format"}, ["anything"], []),
    ],
)
def test_value_constraints(schema: dict[str, Any], good: list[Any], bad: list[Any]) -> None:
    crd = make_crd(obj_schema(v=schema))
    for value in good:
        admit(crd, widget({"v": value}), None)
    for value in bad:
        causes = refusal(crd, widget({"v": value}))
        assert [c.reason for c in causes] == ["FieldValueInvalid"], (value, causes)
        assert causes[0].field == "spec.v"


def test_required_fields_are_named_one_by_one() -> None:
    crd = make_crd({**obj_schema(a=STR, b=obj_schema(c=STR)), "required": ["a", "b"]})
    assert refusal(crd, widget({})) == [
        Cause("spec.a", "Required value", "FieldValueRequired"),
        Cause("spec.b", "Required value", "FieldValueRequired"),
    ]


def test_list_types_set_and_map() -> None:
    item = {**obj_schema(name=STR, port=INT), "required": ["name", "port"]}
    crd = make_crd(
        obj_schema(
            tags={"type": "array", "items": STR, "x-kubernetes-list-type": "set"},
            ports={
                "type": "array",
                "items": item,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "port"],
            },
            atomic={"type": "array", "items": STR},
        )
    )
    admit(
        crd,
        widget({"atomic": ["a", "a"], "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}),
        None,
    )
    causes = refusal(
        crd, widget({"tags": ["a", "b", "a"], "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 1}]})
    )
    assert [(c.field, c.reason) for c in causes] == [
        ("spec.tags[2]", "FieldValueDuplicate"),
        ("spec.ports[1]", "FieldValueDuplicate"),
    ]


def test_combinators() -> None:
    crd = make_crd(
        obj_schema(v={**STR, "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}], "not": {"pattern": "x$"}})
    )
    admit(crd, widget({"v": "abc"}), None)
    assert len(refusal(crd, widget({"v": "cde"}))) == 1
    assert len(refusal(crd, widget({"v": "abx"}))) == 1


# --- CEL rules -------------------------------------------------------------------


def rule(text: str, **extra: Any) -> dict[str, Any]:
    return {"rule": text, **extra}


def test_rule_message_reason_and_field_path() -> None:
    spec = {
        **obj_schema(min=INT, max=INT, extra={"type": "object", "additionalProperties": STR}),
        "x-kubernetes-validations": [
            rule(
                "!has(self.min) || !has(self.max) || self.min <= self.max",
                message="min must not exceed max",
                fieldPath=".min",
            ),
            rule(
                "!has(self.extra) || !('bad.key' in self.extra)",
                fieldPath=".extra['bad.key']",
                reason="FieldValueForbidden",
            ),
        ],
    }
    crd = make_crd(spec)
    admit(crd, widget({"min": 1, "max": 2}), None)
    causes = refusal(crd, widget({"min": 3, "max": 2, "extra": {"bad.key": "x"}}))
    assert causes == [
        Cause("spec.min", 'Invalid value: "object": min must not exceed max', "FieldValueInvalid"),
        Cause(
            "spec.extra[bad.key]",
            "Forbidden: failed rule: !has(self.extra) || !('bad.key' in self.extra)",
            "FieldValueForbidden",
        ),
    ]


def test_message_expression_and_its_fallback() -> None:
    spec = {
        **obj_schema(n=INT),
        "x-kubernetes-validations": [
            rule("self.n < 10", message="static", messageExpression="'n is ' + string(self.n) + ', above 9'"),
            rule("self.n < 10", message="fallback", messageExpression="self.missing.field"),
        ],
    }
    messages = [c.message for c in refusal(make_crd(spec), widget({"n": 12}))]
    assert messages == ['Invalid value: "object": n is 12, above 9', 'Invalid value: "object": fallback']


def test_rules_on_list_items_and_map_values() -> None:
    crd = make_crd(
        obj_schema(
            names={
                "type": "array",
                "items": {**STR, "x-kubernetes-validations": [rule("self.size() <= 3", message="too long")]},
            },
            limits={
                "type": "object",
                "additionalProperties": {
                    **INT,
                    "x-kubernetes-validations": [rule("self >= 0", message="negative")],
                },
            },
        )
    )
    causes = refusal(crd, widget({"names": ["abc", "abcd"], "limits": {"cpu": -1, "mem": 1}}))
    assert [(c.field, c.message) for c in causes] == [
        ("spec.names[1]", 'Invalid value: "string": too long'),
        ("spec.limits[cpu]", 'Invalid value: "integer": negative'),
    ]


def test_escaped_property_names_and_timestamps() -> None:
    crd = make_crd(
        {
            **obj_schema(**{"max-size": INT, "namespace": STR, "until": {**STR, "format": "date-time"}}),
            "x-kubernetes-validations": [
                rule("self.max__dash__size > 0", message="max-size"),
                rule("self.__namespace__ != 'kube-system'", message="namespace"),
                rule("self.until < timestamp('2030-01-01T00:00:00Z')", message="until"),
            ],
        }
    )
    admit(crd, widget({"max-size": 1, "namespace": "apps", "until": "2029-12-31T23:59:59Z"}), None)
    causes = refusal(
        crd, widget({"max-size": 0, "namespace": "kube-system", "until": "2030-01-01T00:00:01Z"})
    )
    assert [c.message.rsplit(": ", 1)[1] for c in causes] == ["max-size", "namespace", "until"]


def test_transition_rules_need_an_old_value() -> None:
    item = {
        **obj_schema(
            name=STR,
            size={**INT, "x-kubernetes-validations": [rule("self >= oldSelf", message="no shrinking")]},
        ),
        "required": ["name"],
    }
    crd = make_crd(
        obj_schema(
            id={**STR, "x-kubernetes-validations": [rule("self == oldSelf", message="id is immutable")]},
            disks={
                "type": "array",
                "items": item,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        )
    )
    old = widget({"id": "a", "disks": [{"name": "root", "size": 10}]})
    admit(crd, widget({"id": "b", "disks": [{"name": "root", "size": 1}]}), None)  # a create: no old value
    admit(
        crd, widget({"disks": [{"name": "data", "size": 1}, {"name": "root", "size": 10}]}), old
    )  # new item, id unset
    causes = refusal(
        crd, widget({"id": "b", "disks": [{"name": "data", "size": 1}, {"name": "root", "size": 5}]}), old
    )
    assert [(c.field, c.message) for c in causes] == [
        ("spec.id", 'Invalid value: "string": id is immutable'),
        ("spec.disks[1].size", 'Invalid value: "integer": no shrinking'),  # correlated by key, not by index
    ]


def test_type_errors_block_cel_and_rule_errors_are_reported() -> None:
    crd = make_crd({**obj_schema(n=INT), "x-kubernetes-validations": [rule("self.n > 0")]})
    assert [c.reason for c in refusal(crd, widget({"n": "x"}))] == ["FieldValueTypeInvalid"]
    (cause,) = refusal(crd, widget({}))  # self.n does not exist: an evaluation error, reported on the field
    assert cause.field == "spec"
    assert "rule evaluation error" in cause.message
    broken = make_crd({**obj_schema(), "x-kubernetes-validations": [rule("self.(")]})
    assert "compilation failed" in refusal(broken, widget({}))[0].message


def test_duration_rules() -> None:
    crd = make_crd(
        obj_schema(
            every={
                **STR,
                "x-kubernetes-validations": [rule("duration(self) >= duration('1m')", message="at least 1m")],
            }
        )
    )
    for value in ("1m", "90s", "1h30m", "1.5h"):
        admit(crd, widget({"every": value}), None)
    for value in ("59s", "100ms"):
        assert refusal(crd, widget({"every": value}))[0].message.endswith("at least 1m")


# --- versions, kind, metadata -------------------------------------------------------------------


def test_version_and_kind_must_match_a_served_version() -> None:
    crd = make_crd(obj_schema())
    (cause,) = refusal(crd, {**widget({}), "apiVersion": f"{GROUP}/v2"})
    assert (cause.field, cause.reason) == ("apiVersion", "FieldValueNotSupported")
    assert refusal(make_crd(obj_schema(), served=False), widget({}))[0].field == "apiVersion"
    assert refusal(crd, {**widget({}), "kind": "Gadget"})[0].field == "kind"


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({}, "metadata.name"),
        ({"name": "UPPER"}, "metadata.name"),
        ({"name": "a" * 254}, "metadata.name"),
        ({"name": "ok", "namespace": "Not_OK"}, "metadata.namespace"),
    ],
)
def test_metadata_names(metadata: dict[str, Any], field: str) -> None:
    causes = refusal(make_crd(obj_schema()), {**widget({}), "metadata": metadata})
    assert [c.field for c in causes] == [field]


def test_generate_name_stands_in_for_name() -> None:
    admit(make_crd(obj_schema()), {**widget({}), "metadata": {"generateName": "w-"}}, None)


def test_error_text_lists_every_cause() -> None:
    crd = make_crd({**obj_schema(a=STR, b=STR), "required": ["a", "b"]})
    with pytest.raises(AdmissionError) as refused:
        admit(crd, widget({}), None)
    assert str(refused.value) == "spec.a: Required value; spec.b: Required value"
