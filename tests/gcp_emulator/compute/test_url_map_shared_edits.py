"""Several writers editing one URL map (a shared balancer): the fingerprint makes the later one re-read.

The discovery document's UrlMap.fingerprint: "An up-to-date fingerprint must be provided in order to
update the UrlMap, otherwise the request will fail with error 412 conditionNotMet." Two attachments that
read the same map and both patch it: the second is refused, reads again, recomputes from the new map
(iap_operator.engine.urlmap_rules) and both host rules are there, with the human's rule untouched.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from iap_operator.engine import urlmap_rules as rules

from .conftest import PROJECT, SELF, Compute, reason_of


def as_json(url_map: compute_v1.UrlMap) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(compute_v1.UrlMap.to_json(url_map))
    return found


def patch(compute: Compute, body: dict[str, Any]) -> None:
    resource = compute_v1.UrlMap.from_json(json.dumps(body))
    compute.wait(compute.url_maps.patch_unary(project=PROJECT, url_map="um-hello", url_map_resource=resource))


def attachment(name: str) -> rules.Attachment:
    return rules.Attachment(
        owner_id=f"{ord(name):016x}",
        owner_text=f"default/team/{name}",
        matcher=f"pm-{name}",
        hosts=(f"{name}.example.com",),
        service=f"{SELF}/global/backendServices/bs-{name}",
    )


def test_concurrent_attaches_lose_no_edit(compute: Compute) -> None:
    compute.neg()
    compute.backend_service()
    for name in ("a", "b"):
        compute.backend_service(name=f"bs-{name}")
    compute.url_map()
    human = {
        "hostRules": [{"hosts": ["status.example.com"], "pathMatcher": "human"}],
        "pathMatchers": [{"name": "human", "defaultService": f"{SELF}/global/backendServices/bs-hello"}],
    }
    patch(compute, human)  # no fingerprint: accepted (recorded), and a human's edit of their own

    read_by_a = as_json(compute.url_maps.get(project=PROJECT, url_map="um-hello"))
    read_by_b = dict(read_by_a)
    patch(compute, rules.patch_body(rules.attached(read_by_a, attachment("a"))))

    with pytest.raises(exceptions.PreconditionFailed) as stale:
        patch(compute, rules.patch_body(rules.attached(read_by_b, attachment("b"))))
    assert reason_of(stale.value) == "conditionNotMet"

    again = as_json(compute.url_maps.get(project=PROJECT, url_map="um-hello"))
    patch(compute, rules.patch_body(rules.attached(again, attachment("b"))))

    final = as_json(compute.url_maps.get(project=PROJECT, url_map="um-hello"))
    assert [r["pathMatcher"] for r in final["hostRules"]] == ["human", "pm-a", "pm-b"]
    assert rules.up_to_date(final, attachment("a"))
    assert rules.up_to_date(final, attachment("b"))
    assert final["hostRules"][1]["description"] == attachment("a").description  # descriptions are kept

    patch(compute, rules.patch_body(rules.detached(final, attachment("a"))))
    left = as_json(compute.url_maps.get(project=PROJECT, url_map="um-hello"))
    assert [r["pathMatcher"] for r in left["hostRules"]] == ["human", "pm-b"]
    assert [m["name"] for m in left["pathMatchers"]] == ["human", "pm-b"]
