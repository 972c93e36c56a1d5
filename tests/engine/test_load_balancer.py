"""LoadBalancer mode with domains: the first pass builds everything; an up-to-date pass writes nothing."""

from __future__ import annotations

import re

from iap_operator.engine.conditions import Reason, Type
from iap_operator.engine.identity import MANAGED_BY_LABEL, OWNER_LABEL
from iap_operator.engine.resources import IamTarget, IamTargetKind, IapSettings, Kind

from .fakes import FakeGcp
from .scenario import (
    ACCESSOR,
    AGENT,
    AGENT_MEMBER,
    ALICE,
    DOMAIN,
    INGRESS_LB,
    INVOKER,
    INVOKER_TARGET,
    NAMESPACE,
    NUMBER,
    PROJECT,
    REGION,
    SERVICE,
    Harness,
    condition,
    identity,
    key,
    ownership,
    reasons,
    spec,
)

RFC1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
BUILT = [
    Kind.NEG,
    Kind.BACKEND_SERVICE,
    Kind.URL_MAP,
    Kind.SSL_CERTIFICATE,
    Kind.TARGET_HTTPS_PROXY,
    Kind.ADDRESS,
    Kind.FORWARDING_RULE,
    Kind.URL_MAP,
    Kind.TARGET_HTTP_PROXY,
    Kind.FORWARDING_RULE,
]


async def test_first_pass_builds_the_whole_balancer(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(spec())

    created = [(c.port, c.subject) for c in gcp.writes() if c.method == "create"]
    assert sorted(created) == sorted(
        [
            ("negs", key(Kind.NEG, "neg").name),
            ("backend_services", key(Kind.BACKEND_SERVICE, "bs").name),
            ("url_maps", key(Kind.URL_MAP, "um").name),
            ("ssl_certificates", gcp.ssl_certificates.only().spec.key.name),
            ("https_proxies", key(Kind.TARGET_HTTPS_PROXY, "https").name),
            ("addresses", key(Kind.ADDRESS, "ip").name),
            ("forwarding_rules", key(Kind.FORWARDING_RULE, "fr-https").name),
            ("url_maps", key(Kind.URL_MAP, "um-redirect").name),
            ("http_proxies", key(Kind.TARGET_HTTP_PROXY, "http").name),
            ("forwarding_rules", key(Kind.FORWARDING_RULE, "fr-http").name),
        ]
    )
    assert sorted(k.kind for _, k in gcp.compute_items()) == sorted(BUILT)
    compute = {store.port for store in gcp.stores()}
    assert not [c for c in gcp.writes() if c.port in compute and c.method != "create"]
    assert [e.reason for e in outcome.events].count("Created") == 10

    neg = gcp.negs.get(PROJECT, key(Kind.NEG, "neg", region=REGION))
    assert neg is not None
    assert neg.spec.cloud_run_service == SERVICE
    bs = gcp.backend_services.only()
    assert bs.spec.iap == IapSettings(enabled=True)  # IAP on, Google-managed client
    assert bs.spec.backends == (neg.spec.key.path(PROJECT),)
    assert bs.spec.scheme == "EXTERNAL"
    cert = gcp.ssl_certificates.only()
    assert cert.spec.domains == (DOMAIN,)
    rules = {o.spec.port_range.partition("-")[0]: o.spec for o in gcp.forwarding_rules.items.values()}
    assert set(rules) == {"443", "80"}
    assert rules["443"].ip_address == rules["80"].ip_address == key(Kind.ADDRESS, "ip").path(PROJECT)
    assert rules["443"].target == key(Kind.TARGET_HTTPS_PROXY, "https").path(PROJECT)
    assert rules["80"].target == key(Kind.TARGET_HTTP_PROXY, "http").path(PROJECT)
    redirect = gcp.url_maps.get(PROJECT, key(Kind.URL_MAP, "um-redirect"))
    assert redirect is not None
    assert redirect.spec.https_redirect


async def test_names_are_rfc1035_stable_and_differ_by_cluster_not_by_uid() -> None:
    who = ownership()
    recreated = ownership(identity(uid="f3c1a2b4-2222-4c1e-9d55-6f2d3c4b5a69"))  # same name, new object
    elsewhere = ownership(cluster="prod-eu")
    long = ownership(identity(name="a-very-long-name." + "x" * 200))
    for suffix in ("neg", "bs", "um", "um-redirect", "cert-0a1b2c", "https", "http", "ip", "fr-https"):
        name = who.resource_name(suffix)
        assert RFC1035.match(name), name
        assert name.endswith(f"-{suffix}")
        assert name == recreated.resource_name(suffix)  # a restore or a rebuild finds the same names
        assert name != elsewhere.resource_name(suffix)
        assert re.fullmatch(who.name_pattern(), name)
        assert not re.fullmatch(elsewhere.name_pattern(), name)
        truncated = long.resource_name(suffix)
        assert len(truncated) <= 63
        assert RFC1035.match(truncated), truncated
        assert truncated.endswith(f"-{suffix}")
        assert re.fullmatch(long.name_pattern(), truncated)
    assert who.resource_name("neg").startswith("iaps-team-a-web-")


async def test_created_resources_carry_ownership_marks(gcp: FakeGcp, harness: Harness) -> None:
    await harness.reconcile(spec())

    who = ownership()
    for (_, k), observed in gcp.compute_items().items():
        assert who.owns(observed.marks), k
        assert f"for default/{NAMESPACE}/web (owner {who.owner.id})" in observed.marks.description
        if k.kind in {Kind.ADDRESS, Kind.FORWARDING_RULE}:
            assert observed.marks.labels == {MANAGED_BY_LABEL: "iap-operator", OWNER_LABEL: who.owner.id}
    assert not ownership(cluster="prod-eu").owns(gcp.backend_services.only().marks)
    assert not ownership(identity(name="other")).owns(gcp.backend_services.only().marks)


async def test_cloud_run_is_closed_and_iam_granted(gcp: FakeGcp, harness: Harness) -> None:
    await harness.reconcile(spec())

    assert gcp.cloud_run.get(PROJECT, REGION, SERVICE).ingress == INGRESS_LB
    assert gcp.iam.members(INVOKER_TARGET, INVOKER) == {AGENT_MEMBER}
    bs = gcp.backend_services.only()
    iap = IamTarget(IamTargetKind.IAP_BACKEND_SERVICE, NUMBER, bs.id)
    assert gcp.iam.members(iap, ACCESSOR) == {ALICE}
    assert gcp.identities.created == {(NUMBER, "iap.googleapis.com")}


async def test_conditions_while_the_certificate_provisions_then_ready(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(spec())

    assert reasons(outcome)["Ready"] == (False, Reason.CERTIFICATE_PROVISIONING)
    assert reasons(outcome)["Protected"] == (True, Reason.UP_TO_DATE)
    assert reasons(outcome)["CertificateReady"] == (False, Reason.CERTIFICATE_PROVISIONING)
    assert reasons(outcome)["Reconciling"][0] is True
    assert reasons(outcome)["Stalled"][0] is False
    assert DOMAIN in condition(outcome, Type.CERTIFICATE).message
    assert outcome.poll_after == harness.settings.poll_interval
    assert outcome.error is None
    assert not outcome.stalled

    cert = gcp.ssl_certificates.only()
    gcp.ssl_certificates.set_outputs(PROJECT, cert.spec.key, status="ACTIVE")
    outcome = await harness.reconcile(spec())

    assert outcome.ready
    assert reasons(outcome)["Ready"] == (True, Reason.UP_TO_DATE)
    assert reasons(outcome)["Reconciling"] == (False, Reason.UP_TO_DATE)
    assert outcome.poll_after is None
    for type_ in ("ServiceAgentReady", "IngressRestricted", "InvokerGranted", "LoadBalancerReady"):
        assert reasons(outcome)[type_] == (True, Reason.UP_TO_DATE), type_
    assert reasons(outcome)["ConfigurationWarning"] == (False, Reason.NO_WARNINGS)


async def test_outputs(gcp: FakeGcp, harness: Harness) -> None:
    outcome = await harness.reconcile(spec())

    bs = gcp.backend_services.only()
    address = gcp.addresses.only()
    status = outcome.status
    assert status["url"] == f"https://{DOMAIN}"
    assert status["ipAddress"] == address.outputs["address"] != ""
    assert status["backendService"] == {"name": key(Kind.BACKEND_SERVICE, "bs").name, "id": bs.id}
    assert status["jwtAudience"] == f"/projects/{NUMBER}/global/backendServices/{bs.id}"
    assert status["serviceAgent"] == AGENT
    assert status["grants"] == {"invoker": [AGENT_MEMBER], "access": [ALICE]}
    resources = {(r["kind"], r["name"], r["scope"]) for r in status["resources"]}
    assert resources == {(str(k.kind), k.name, k.scope) for _, k in gcp.compute_items()}
    assert (str(Kind.NEG), key(Kind.NEG, "neg").name, REGION) in resources
    assert all(r["created"] for r in status["resources"])


async def test_second_pass_over_an_up_to_date_state_writes_nothing(gcp: FakeGcp, harness: Harness) -> None:
    await harness.ready(spec())  # two passes: the second one sees the certificate ACTIVE

    outcome = await harness.reconcile(spec())

    assert gcp.writes() == []
    assert gcp.recorder.reads()  # it did look
    assert outcome.ready
    assert outcome.events == []


async def test_second_pass_while_provisioning_writes_nothing(gcp: FakeGcp, harness: Harness) -> None:
    await harness.reconcile(spec())
    gcp.recorder.clear()

    outcome = await harness.reconcile(spec())

    assert gcp.writes() == []
    assert reasons(outcome)["Ready"] == (False, Reason.CERTIFICATE_PROVISIONING)
