"""Global addresses and forwarding rules: allocation, IN_USE, labels with labelFingerprint, setTarget."""

from __future__ import annotations

import ipaddress

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from .conftest import PROJECT, SELF, Compute, reason_of


def test_address_is_allocated_and_reserved(compute: Compute) -> None:
    address = compute.address()
    assert ipaddress.IPv4Address(address.address) in ipaddress.ip_network("34.120.0.0/16")
    assert address.status == "RESERVED"
    assert "address_type" not in address
    assert "network_tier" not in address
    assert address.kind == "compute#address"
    assert address.label_fingerprint
    fixed = compute.address(name="ip-fixed", address="34.120.9.9")
    assert fixed.address == "34.120.9.9"
    with pytest.raises(exceptions.BadRequest):
        compute.address(name="ip-dup", address="34.120.9.9")


def test_forwarding_rule_uses_the_address(compute: Compute) -> None:
    compute.chain()
    rule = compute.forwarding_rules.get(project=PROJECT, forwarding_rule="fr-hello")
    address = compute.addresses.get(project=PROJECT, address="ip-hello")
    assert rule.I_p_address == address.address
    assert rule.port_range == "443-443"
    assert (rule.I_p_protocol, rule.network_tier) == ("TCP", "PREMIUM")
    assert "ip_version" not in rule  # recorded: only when sent
    assert rule.target == f"{SELF}/global/targetHttpsProxies/px-hello"
    assert address.status == "IN_USE"
    assert address.users == [rule.self_link]

    with pytest.raises(exceptions.BadRequest) as caught:
        compute.addresses.delete_unary(project=PROJECT, address="ip-hello")
    assert reason_of(caught.value) == "resourceInUseByAnotherResource"
    with pytest.raises(exceptions.BadRequest) as proxy:
        compute.https_proxies.delete_unary(project=PROJECT, target_https_proxy="px-hello")
    assert "forwardingRules/fr-hello" in str(proxy.value)

    compute.wait(compute.forwarding_rules.delete_unary(project=PROJECT, forwarding_rule="fr-hello"))
    freed = compute.addresses.get(project=PROJECT, address="ip-hello")
    assert freed.status == "RESERVED"
    assert not freed.users
    compute.wait(compute.addresses.delete_unary(project=PROJECT, address="ip-hello"))


def test_forwarding_rule_by_address_link_and_ephemeral(compute: Compute) -> None:
    compute.chain()
    compute.address(name="ip-two")
    rule = compute.forwarding_rule(name="fr-link", ip=f"{SELF}/global/addresses/ip-two", port_range="8443")
    assert rule.I_p_address == compute.addresses.get(project=PROJECT, address="ip-two").address
    ephemeral = compute.forwarding_rule(name="fr-ephemeral", port_range="8080")
    assert ipaddress.IPv4Address(ephemeral.I_p_address) in ipaddress.ip_network("34.160.0.0/16")


def test_forwarding_rule_refuses_unreserved_ip_and_port_clash(compute: Compute) -> None:
    compute.chain()
    with pytest.raises(exceptions.BadRequest):
        compute.forwarding_rule(name="fr-x", ip="203.0.113.7")
    taken = compute.addresses.get(project=PROJECT, address="ip-hello").address
    with pytest.raises(exceptions.BadRequest):
        compute.forwarding_rule(name="fr-clash", ip=taken)  # same IP, same port 443


def test_set_target(compute: Compute) -> None:
    compute.chain()
    redirect = compute_v1.UrlMap(
        name="um-redirect", default_url_redirect=compute_v1.HttpRedirectAction(https_redirect=True)
    )
    compute.wait(compute.url_maps.insert_unary(project=PROJECT, url_map_resource=redirect))
    http = compute_v1.TargetHttpProxy(name="px-http", url_map="global/urlMaps/um-redirect")
    compute.wait(compute.http_proxies.insert_unary(project=PROJECT, target_http_proxy_resource=http))
    before = compute.forwarding_rules.get(project=PROJECT, forwarding_rule="fr-hello")

    op = compute.forwarding_rules.set_target_unary(
        project=PROJECT,
        forwarding_rule="fr-hello",
        target_reference_resource=compute_v1.TargetReference(target="global/targetHttpProxies/px-http"),
    )
    assert (op.operation_type, op.status) == ("SetTarget", compute_v1.Operation.Status.RUNNING)  # recorded
    compute.wait(op)
    after = compute.forwarding_rules.get(project=PROJECT, forwarding_rule="fr-hello")
    assert after.target == f"{SELF}/global/targetHttpProxies/px-http"
    assert after.fingerprint != before.fingerprint
    compute.wait(compute.https_proxies.delete_unary(project=PROJECT, target_https_proxy="px-hello"))


def test_address_labels(compute: Compute) -> None:
    address = compute.address(labels={"owner": "abc"})
    assert dict(address.labels) == {"owner": "abc"}

    request = compute_v1.GlobalSetLabelsRequest(
        labels={"owner": "xyz", "env": "dev"}, label_fingerprint=address.label_fingerprint
    )
    op = compute.addresses.set_labels_unary(
        project=PROJECT, resource="ip-hello", global_set_labels_request_resource=request
    )
    # recorded: DONE at once, progress 0, without operationType or targetLink
    assert (op.status, op.progress, op.operation_type, op.target_link) == (op.Status.DONE, 0, "", "")
    labelled = compute.addresses.get(project=PROJECT, address="ip-hello")
    assert dict(labelled.labels) == {"owner": "xyz", "env": "dev"}
    assert labelled.label_fingerprint != address.label_fingerprint

    with pytest.raises(exceptions.PreconditionFailed) as stale:
        compute.addresses.set_labels_unary(
            project=PROJECT, resource="ip-hello", global_set_labels_request_resource=request
        )
    assert reason_of(stale.value) == "conditionNotMet"


def test_forwarding_rule_labels(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    compute.url_map()
    compute.managed_certificate()
    compute.https_proxy()
    rule = compute.forwarding_rule(labels={"managed-by": "iap-operator"})
    assert not rule.labels  # recorded: labels sent with the insert are dropped
    assert rule.label_fingerprint
    request = compute_v1.GlobalSetLabelsRequest(
        labels={"managed-by": "iap-operator"}, label_fingerprint=rule.label_fingerprint
    )
    op = compute.forwarding_rules.set_labels_unary(
        project=PROJECT, resource="fr-hello", global_set_labels_request_resource=request
    )
    # recorded: DONE at once, with operationType and progress 100
    assert (op.status, op.progress, op.operation_type) == (op.Status.DONE, 100, "setLabels")
    after = compute.forwarding_rules.get(project=PROJECT, forwarding_rule="fr-hello")
    assert dict(after.labels) == {"managed-by": "iap-operator"}

    no_fingerprint = compute_v1.GlobalSetLabelsRequest(labels={})
    with pytest.raises(exceptions.PreconditionFailed):
        compute.forwarding_rules.set_labels_unary(
            project=PROJECT, resource="fr-hello", global_set_labels_request_resource=no_fingerprint
        )


def test_invalid_labels(compute: Compute) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.address(labels={"Owner": "abc"})
    assert reason_of(caught.value) == "invalid"


def test_forwarding_rule_patch(compute: Compute) -> None:
    compute.chain()
    rule = compute.forwarding_rules.get(project=PROJECT, forwarding_rule="fr-hello")
    patch = compute_v1.ForwardingRule(fingerprint=rule.fingerprint, description="patched")
    compute.wait(
        compute.forwarding_rules.patch_unary(
            project=PROJECT, forwarding_rule="fr-hello", forwarding_rule_resource=patch
        )
    )
    after = compute.forwarding_rules.get(project=PROJECT, forwarding_rule="fr-hello")
    assert after.description == "patched"
    assert after.I_p_address == rule.I_p_address
    assert after.fingerprint != rule.fingerprint
    with pytest.raises(exceptions.PreconditionFailed):
        compute.forwarding_rules.patch_unary(
            project=PROJECT, forwarding_rule="fr-hello", forwarding_rule_resource=patch
        )
