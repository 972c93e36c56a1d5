"""A shared balancer's managed certificate follows the attached hosts without dropping any old domain."""

from __future__ import annotations

import pytest

from iap_operator.engine.cert_rotation import Certificate, certificate_name, rotate


def names(suffix: str) -> str:
    return f"iaps-platform-tools-1234abcd-{suffix}"


OLD_HOSTS = ("a.example.com",)
NEW_HOSTS = ("b.example.com", "a.example.com")
OLD = certificate_name(OLD_HOSTS, names)
NEW = certificate_name(NEW_HOSTS, names)


def test_a_new_host_makes_a_new_certificate_served_next_to_the_old_one() -> None:
    ours = {OLD: Certificate(OLD, OLD_HOSTS, "ACTIVE")}
    step = rotate(NEW_HOSTS, [OLD], ours, names)
    assert step.create == Certificate(NEW, ("a.example.com", "b.example.com"), "PROVISIONING")
    assert step.proxy == (OLD, NEW)  # the old domains keep being served
    assert step.delete == ()
    assert step.waiting


def test_while_it_provisions_nothing_changes_and_once_active_the_old_one_goes() -> None:
    provisioning = {
        OLD: Certificate(OLD, OLD_HOSTS, "ACTIVE"),
        NEW: Certificate(NEW, NEW_HOSTS, "PROVISIONING"),
    }
    step = rotate(NEW_HOSTS, [OLD, NEW], provisioning, names)
    assert step.create is None
    assert step.proxy is None
    assert step.delete == ()
    active = {**provisioning, NEW: Certificate(NEW, NEW_HOSTS, "ACTIVE")}
    step = rotate(NEW_HOSTS, [OLD, NEW], active, names)
    assert step.proxy == (NEW,)
    assert step.delete == (OLD,)  # after the proxy write: the caller orders create, proxy, delete
    assert not step.waiting
    done = rotate(NEW_HOSTS, [NEW], {NEW: active[NEW]}, names)
    assert (done.create, done.proxy, done.delete) == (None, None, ())  # a second pass writes nothing


def test_a_crash_after_the_create_is_picked_up_and_nothing_is_made_twice() -> None:
    ours = {OLD: Certificate(OLD, OLD_HOSTS, "ACTIVE"), NEW: Certificate(NEW, NEW_HOSTS, "PROVISIONING")}
    step = rotate(NEW_HOSTS, [OLD], ours, names)  # created, proxy not updated yet
    assert step.create is None
    assert step.proxy == (OLD, NEW)


def test_a_foreign_certificate_on_the_proxy_is_never_deleted() -> None:
    ours = {NEW: Certificate(NEW, NEW_HOSTS, "ACTIVE")}
    step = rotate(NEW_HOSTS, ["platform-wildcard", NEW], ours, names)
    assert step.delete == ()
    assert step.proxy == (NEW,)  # the balancer's proxy serves what the balancer decides


def test_host_order_does_not_matter_and_no_host_keeps_what_is_served() -> None:
    assert certificate_name(("b.example.com", "a.example.com"), names) == certificate_name(
        ("a.example.com", "b.example.com"), names
    )
    ours = {OLD: Certificate(OLD, OLD_HOSTS, "ACTIVE")}
    step = rotate((), [OLD], ours, names)
    assert (step.create, step.proxy, step.delete) == (None, None, ())
    with pytest.raises(ValueError, match="at most 100"):
        rotate([f"h{i}.example.com" for i in range(101)], [], {}, names)


def test_the_proxy_limit_drops_our_oldest_first() -> None:
    stale = [certificate_name((f"h{i}.example.com",), names) for i in range(15)]
    ours = {n: Certificate(n, ("x.example.com",), "ACTIVE") for n in stale}
    step = rotate(NEW_HOSTS, stale, ours, names)
    assert step.proxy is not None
    assert len(step.proxy) == 15
    assert step.proxy[-1] == NEW
    assert stale[0] not in step.proxy
