"""Attaching to a shared balancer: admitted namespaces and hosts, the attachment's names and marks."""

from __future__ import annotations

from typing import Any

from iap_operator.api import parse_spec
from iap_operator.api.balancer_v1alpha1 import parse_balancer_spec
from iap_operator.engine import shared_attach, urlmap_rules
from iap_operator.engine.identity import Identity, Owner, Ownership

BACKEND = "projects/demo-project/global/backendServices/iaps-team-a-wiki-xxxxxxxx-bs"


def service(namespace: str = "team-a", **lb: Any) -> tuple[Identity, Ownership, Any]:
    who = Identity(namespace, "wiki", "uid-1")
    spec = parse_spec(
        {
            "cloudRun": {"service": "wiki", "region": "us-central1"},
            "loadBalancer": {
                "sharedRef": {"name": "tools", "namespace": "platform"},
                "host": "wiki.tools.example.com",
                **lb,
            },
        }
    )
    return who, Ownership.fresh(Owner.of("prod", who)), spec


def plan(
    balancer: dict[str, Any], namespace: str = "team-a", labels: dict[str, str] | None = None, **lb: Any
) -> Any:
    who, ownership, spec = service(namespace, **lb)
    ref = shared_attach.balancer_of(who, spec)
    assert ref == shared_attach.BalancerRef("platform", "tools")
    return shared_attach.plan_attachment(
        ref, parse_balancer_spec(balancer), who, ownership, spec, labels or {}, BACKEND
    )


def test_the_default_admits_only_the_balancers_own_namespace() -> None:
    refused = plan({})
    assert isinstance(refused, shared_attach.Refusal)
    assert refused.reason == "NotAllowed"
    assert "only namespace 'platform'" in refused.message
    assert isinstance(plan({}, namespace="platform"), urlmap_rules.Attachment)


def test_selector_and_all() -> None:
    selector = {
        "allowedServices": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"lb": "tools"}}}}
    }
    assert isinstance(plan(selector, labels={"lb": "tools"}), urlmap_rules.Attachment)
    refused = plan(selector, labels={"lb": "other"})
    assert isinstance(refused, shared_attach.Refusal)
    assert "{'lb': 'tools'}" in refused.message
    assert isinstance(plan({"allowedServices": {"namespaces": {"from": "All"}}}), urlmap_rules.Attachment)


def test_a_host_outside_the_balancers_domains_is_refused() -> None:
    every = {"allowedServices": {"namespaces": {"from": "All"}}}
    assert isinstance(plan({**every, "domains": ["*.tools.example.com"]}), urlmap_rules.Attachment)
    refused = plan({**every, "domains": ["wiki.example.com"]})
    assert isinstance(refused, shared_attach.Refusal)
    assert "wiki.tools.example.com" in refused.message


def test_the_attachment_carries_the_owner_mark_and_a_lineage_name() -> None:
    attachment = plan({"allowedServices": {"namespaces": {"from": "All"}}}, pathPrefixes=["/docs"])
    assert isinstance(attachment, urlmap_rules.Attachment)
    _, ownership, spec = service(pathPrefixes=["/docs"])
    assert attachment.description == ownership.marks().description  # the same mark as every compute resource
    assert attachment.matcher == ownership.resource_name("pm")
    assert attachment.hosts == ("wiki.tools.example.com",)
    assert attachment.path_prefixes == ("/docs",)
    assert shared_attach.url_of(spec) == "https://wiki.tools.example.com/docs"


def test_shared_ref_namespace_defaults_to_the_services_own() -> None:
    who = Identity("team-a", "wiki", "uid-1")
    spec = parse_spec(
        {
            "cloudRun": {"service": "wiki", "region": "us-central1"},
            "loadBalancer": {"sharedRef": {"name": "tools"}, "host": "wiki.example.com"},
        }
    )
    assert shared_attach.balancer_of(who, spec) == shared_attach.BalancerRef("team-a", "tools")
    assert shared_attach.url_of(spec) == "https://wiki.example.com/"
