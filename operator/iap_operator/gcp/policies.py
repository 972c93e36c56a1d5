"""IAM policies: `engine.resources.Policy` <-> `google.iam.v1` messages (etag kept as its base64 text)."""

from __future__ import annotations

import base64
from typing import Any

from google.iam.v1 import iam_policy_pb2, options_pb2, policy_pb2  # type: ignore[import-untyped]
from google.type import expr_pb2  # type: ignore[import-untyped]

from iap_operator.engine.resources import Binding, Policy

# Conditional bindings only read back faithfully at version 3.
REQUESTED_POLICY_VERSION = 3


def get_request(resource: str) -> Any:
    options = options_pb2.GetPolicyOptions(requested_policy_version=REQUESTED_POLICY_VERSION)
    return iam_policy_pb2.GetIamPolicyRequest(resource=resource, options=options)


def set_request(resource: str, policy: Policy) -> Any:
    return iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=to_message(policy))


def from_message(message: Any) -> Policy:
    bindings = []
    for binding in message.bindings:
        condition = None
        if binding.HasField("condition"):
            c = binding.condition
            condition = (c.title, c.description, c.expression)
        bindings.append(Binding(role=binding.role, members=frozenset(binding.members), condition=condition))
    return Policy(
        bindings=tuple(bindings),
        etag=base64.b64encode(message.etag).decode() if message.etag else "",
        version=message.version or 1,
    )


def to_message(policy: Policy) -> Any:
    conditional = any(b.condition for b in policy.bindings)
    message = policy_pb2.Policy(
        version=REQUESTED_POLICY_VERSION if conditional else policy.version,
        etag=base64.b64decode(policy.etag) if policy.etag else b"",
    )
    for binding in policy.bindings:
        entry = message.bindings.add(role=binding.role, members=sorted(binding.members))
        if binding.condition:
            title, description, expression = binding.condition
            entry.condition.CopyFrom(
                expr_pb2.Expr(title=title, description=description, expression=expression)
            )
    return message
