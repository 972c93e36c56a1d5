"""The fault benchmark's own arithmetic: fault rule probabilities and the mix of resources."""

from __future__ import annotations

import faults_to_ready as faults
import pytest


def test_two_rules_in_a_row_hit_their_shares() -> None:
    first, second = faults.rule_probabilities(0.30, 0.30)
    assert first == 0.30
    assert (1 - first) * second == pytest.approx(0.30)  # the 503 rule only sees what the 429 rule let by
    assert faults.rule_probabilities(0.0, 0.05) == (0.0, 0.05)
    with pytest.raises(ValueError, match="more than 1"):
        faults.rule_probabilities(0.6, 0.6)


def test_ten_resources_cover_every_mode() -> None:
    bodies = faults.mixed_resources(10)
    specs = [b["spec"] for b in bodies]
    assert len({b["metadata"]["name"] for b in bodies}) == 10
    assert len({s["cloudRun"]["service"] for s in specs}) == 10
    assert sum(s.get("mode") == "Direct" for s in specs) == 2
    attached = [s for s in specs if "backendService" in (s.get("loadBalancer") or {})]
    assert len(attached) == 2
    own = [s["loadBalancer"] for s in specs if "domains" in (s.get("loadBalancer") or {})]
    assert len(own) == 6
    assert {lb.get("loadBalancingScheme") for lb in own} == {None, "EXTERNAL_MANAGED"}
    assert any(lb.get("httpsRedirect") is False for lb in own)
