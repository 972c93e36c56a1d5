"""The plan: one value from which creation order, teardown order, conditions and Protected derive."""

from __future__ import annotations

import pytest

from iap_operator.api import IapProtectedServiceSpec
from iap_operator.engine import plan
from iap_operator.engine.conditions import Type
from iap_operator.engine.plan import Action, Node, Plan
from iap_operator.engine.resources import Kind

from .scenario import PROJECT, attach_spec, direct_spec, spec


def built(s: IapProtectedServiceSpec | None = None, *, held: bool = False) -> Plan:
    return plan.build(
        s or spec(), project=PROJECT, names=lambda suffix: f"web-{suffix}", oauth=None, held=held
    )


def test_first_pass_waits_for_the_claim_and_builds_concurrently() -> None:
    waves = built().waves()
    assert waves[0] == ("agent",)
    assert waves[1] == ("invoker",)  # the claim: every write of a first pass waits for it
    assert set(waves[2]) == {"ingress", "neg", "cert", "address", "um_redirect"}
    assert waves[-1] == ("fr_https",)
    assert next(w for w in built(held=True).waves() if "neg" in w) == ("agent", "ingress", "neg", "cert",
                                                                       "address", "um_redirect")  # fmt: skip


def test_what_each_condition_and_protected_depend_on() -> None:
    p = built()
    assert p.feeding(Type.LOAD_BALANCER) == (
        "neg", "bs", "um", "https_proxy", "address", "fr_https", "um_redirect", "http_proxy", "fr_http",
    )  # fmt: skip
    assert p.feeding(Type.CERTIFICATE) == ("cert",)
    assert set(p.protected_by) == {"invoker", "ingress", "bs"}
    assert set(built(direct_spec()).protected_by) == {"invoker", "iap"}
    assert set(built(attach_spec()).protected_by) == {"invoker", "ingress", "bs"}
    assert built(attach_spec()).owned() == []  # the balancer is someone else's: nothing to prune


def test_owned_resources_are_the_plans_compute_nodes() -> None:
    p = built()
    kinds = [k.kind for k in p.owned()]
    assert kinds.count(Kind.FORWARDING_RULE) == 2
    assert Kind.NEG in kinds
    assert Kind.SSL_CERTIFICATE in kinds
    assert len(built(spec(loadBalancer={"domains": ["a.example.com"], "httpsRedirect": False})).owned()) == 7


def test_teardown_is_creation_reversed_by_reference() -> None:
    levels = plan.teardown_levels()
    assert levels == (
        (Kind.FORWARDING_RULE,),
        (Kind.ADDRESS, Kind.TARGET_HTTP_PROXY, Kind.TARGET_HTTPS_PROXY),
        (Kind.SSL_CERTIFICATE, Kind.URL_MAP),
        (Kind.BACKEND_SERVICE,),
        (Kind.NEG,),
    )
    position = {kind: i for i, level in enumerate(levels) for kind in level}
    for kind, used in plan.reference().kind_references().items():
        assert all(position[kind] < position[u] for u in used), kind  # the user goes first
    assert plan.regional_kinds() == {Kind.NEG}


def test_a_plan_refuses_unknown_or_later_dependencies() -> None:
    with pytest.raises(ValueError, match="unknown or later"):
        Plan((Node("a", Action.AGENT, "a", after=("b",)), Node("b", Action.AGENT, "b")))
    with pytest.raises(ValueError, match="twice"):
        Plan((Node("a", Action.AGENT, "a"), Node("a", Action.AGENT, "a")))
