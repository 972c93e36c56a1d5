"""A shared balancer's URL map: each attachment edits only its own host rule and path matcher."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from iap_operator.engine import urlmap_rules as rules
from iap_operator.engine.attachments import Admission, Candidate, From, admits, arbitrate

DEFAULT = "https://compute.googleapis.com/compute/v1/projects/p/global/backendServices/platform-default"


def attachment(name: str, hosts: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> rules.Attachment:
    return rules.Attachment(
        owner_id=hashlib.sha256(name.encode()).hexdigest()[:16],
        owner_text=f"default/team/{name}",
        matcher=f"iaps-team-{name}-1234abcd-pm",
        hosts=hosts,
        service=f"projects/p/global/backendServices/iaps-team-{name}-1234abcd-bes",
        path_prefixes=prefixes,
    )


def foreign_map() -> dict[str, Any]:
    """What the platform team (or a human) put there: must survive every edit of ours, in its place."""
    return {
        "name": "shared-lb",
        "fingerprint": "abc=",
        "defaultService": DEFAULT,
        "hostRules": [{"hosts": ["status.example.com"], "pathMatcher": "human"}],
        "pathMatchers": [{"name": "human", "defaultService": DEFAULT}],
    }


A = attachment("a", ("a.example.com",))
B = attachment("b", ("b.example.com",), ("/app", "/api/"))


def test_attach_appends_ours_and_keeps_foreign_rules_and_fingerprint() -> None:
    before = foreign_map()
    after = rules.attached(before, A)
    assert after["fingerprint"] == "abc="
    assert after["hostRules"][0] == before["hostRules"][0]
    assert after["pathMatchers"][0] == before["pathMatchers"][0]
    assert after["hostRules"][1] == {
        "description": A.description,
        "hosts": ["a.example.com"],
        "pathMatcher": A.matcher,
    }
    assert after["pathMatchers"][1] == {
        "name": A.matcher,
        "description": A.description,
        "defaultService": A.service,
    }
    assert before == foreign_map()  # pure: the input is not changed


def test_path_prefixes_route_only_those_paths_and_the_rest_to_the_maps_default() -> None:
    matcher = rules.attached(foreign_map(), B)["pathMatchers"][1]
    assert matcher["defaultService"] == DEFAULT
    assert matcher["pathRules"] == [{"paths": ["/app", "/app/*", "/api", "/api/*"], "service": B.service}]


def test_second_attach_is_a_no_op_and_edits_stay_in_place() -> None:
    both = rules.attached(rules.attached(foreign_map(), A), B)
    assert rules.up_to_date(both, A)
    assert rules.up_to_date(both, B)
    moved = attachment("a", ("a.example.com", "a2.example.com"))
    changed = rules.attached(both, moved)
    assert not rules.up_to_date(both, moved)
    assert [r["pathMatcher"] for r in changed["hostRules"]] == ["human", A.matcher, B.matcher]
    assert changed["hostRules"][1]["hosts"] == ["a.example.com", "a2.example.com"]


def test_detach_removes_only_ours_in_any_order() -> None:
    both = rules.attached(rules.attached(foreign_map(), A), B)
    for first, second in ((A, B), (B, A)):
        once = rules.detached(both, first)
        assert rules.up_to_date(once, second)
        assert not any(r.get("pathMatcher") == first.matcher for r in once["hostRules"])
        empty = rules.detached(once, second)
        assert empty == foreign_map()


def test_a_foreign_matcher_with_our_name_but_no_mark_is_not_ours() -> None:
    squatted = foreign_map()
    squatted["pathMatchers"].append({"name": A.matcher, "defaultService": DEFAULT})
    squatted["hostRules"].append({"hosts": ["other.example.com"], "pathMatcher": A.matcher})
    assert rules.detached(squatted, A) == squatted
    assert rules.matcher_taken(squatted, A)
    assert not rules.up_to_date(squatted, A)
    with pytest.raises(ValueError, match="not ours"):
        rules.attached(squatted, A)
    assert not rules.matcher_taken(rules.attached(foreign_map(), A), A)


def test_a_host_someone_else_serves_is_a_conflict_and_nothing_is_computed() -> None:
    taken = copy.deepcopy(foreign_map())
    claimant = attachment("c", ("status.example.com",))
    (conflict,) = rules.conflicts(taken, claimant)
    assert conflict.host == "status.example.com"
    assert "human" in conflict.holder
    with pytest.raises(ValueError, match=r"status\.example\.com"):
        rules.attached(taken, claimant)
    other = attachment("d", ("a.example.com",))
    with_a = rules.attached(taken, A)
    assert rules.conflicts(with_a, other)[0].holder == A.description


def test_patch_body_has_both_lists_whole_and_the_fingerprint() -> None:
    body = rules.patch_body(rules.attached(foreign_map(), A))
    assert set(body) == {"hostRules", "pathMatchers", "fingerprint"}
    assert body["fingerprint"] == "abc="


def test_admission_follows_gateway_allowed_routes() -> None:
    assert admits(Admission(), "infra", "infra", {})
    assert not admits(Admission(), "infra", "team", {})
    assert admits(Admission(From.ALL), "infra", "team", {})
    selector = Admission(From.SELECTOR, {"shared-lb": "yes"})
    assert admits(selector, "infra", "team", {"shared-lb": "yes", "x": "y"})
    assert not admits(selector, "infra", "team", {"shared-lb": "no"})


def test_the_older_claimant_keeps_a_host_then_by_namespace_and_name() -> None:
    old = Candidate("b", "x", "2026-01-01T00:00:00Z", ("h.example.com",))
    young = Candidate("a", "y", "2026-01-02T00:00:00Z", ("h.example.com", "i.example.com"))
    tie = Candidate("a", "z", "2026-01-01T00:00:00Z", ("h.example.com",))
    verdict = arbitrate([young, old, tie])
    assert verdict.winners == (tie,)  # same second as `old`: a/z sorts before b/x
    assert verdict.losers[("b", "x")] == ("h.example.com", tie)
    assert verdict.losers[("a", "y")][0] == "h.example.com"
    free = Candidate("c", "w", "2026-01-03T00:00:00Z", ("i.example.com",))
    assert free in arbitrate([young, old, free]).winners  # the loser's other hosts are not held
