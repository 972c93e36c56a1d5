"""ProjectPolicy: which projects a namespace may act on."""

from __future__ import annotations

import pytest

from iap_operator.engine.settings import ProjectPolicy


def test_parse_rules_with_globs_and_spaces() -> None:
    policy = ProjectPolicy.parse(" team-a = team-a-prod , team-a-dev ; sandbox-*=sandbox-project;; ")

    assert policy.rules == {"team-a": ("team-a-prod", "team-a-dev"), "sandbox-*": ("sandbox-project",)}


def test_parse_empty_text_has_no_rules() -> None:
    assert ProjectPolicy.parse("").rules == {}
    assert ProjectPolicy.parse(" ; ").rules == {}


@pytest.mark.parametrize("text", ["team-a", "=project", " = project", "team-a:project"])
def test_parse_refuses_malformed_rules(text: str) -> None:
    with pytest.raises(ValueError, match="NAMESPACE=PROJECT"):
        ProjectPolicy.parse(text)


@pytest.mark.parametrize(
    ("namespace", "project", "allowed"),
    [
        ("team-a", "team-a-prod", True),
        ("team-a", "team-a-dev", True),
        ("team-a", "team-b-prod", False),
        ("team-a", "default-project", False),  # a rule for the namespace replaces the default
        ("sandbox-42", "sandbox-project", True),
        ("sandbox-42", "team-a-prod", False),
        ("team-c", "default-project", True),  # no rule: the default project only
        ("team-c", "team-a-prod", False),
        ("data", "data-eu-1", True),
        ("data", "data-us-1", True),
        ("data", "datalake", False),
    ],
)
def test_allows(namespace: str, project: str, allowed: bool) -> None:
    policy = ProjectPolicy.parse("team-a=team-a-prod,team-a-dev;sandbox-*=sandbox-project;data=data-*-1")

    assert policy.allows(namespace, project, "default-project") is allowed


def test_without_a_default_project_a_namespace_without_rule_may_use_nothing() -> None:
    policy = ProjectPolicy.parse("team-a=team-a-prod")

    assert not policy.allows("team-c", "team-a-prod", None)
    assert not ProjectPolicy().allows("team-c", "anything", None)


def test_matching_rules_are_combined() -> None:
    policy = ProjectPolicy.parse("team-*=shared-project;team-a=team-a-prod")

    assert policy.allows("team-a", "shared-project", None)
    assert policy.allows("team-a", "team-a-prod", None)
    assert not policy.allows("team-b", "team-a-prod", None)
