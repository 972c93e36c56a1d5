"""deploy/gcp/: the custom IAM roles are well-formed, disjoint, and match docs/operations.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROLES = ("role-core.yaml", "role-loadbalancer.yaml")
PERMISSION = re.compile(r"^[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+$")


def permissions(repo: Path, name: str) -> list[str]:
    role = yaml.safe_load((repo / "deploy" / "gcp" / name).read_text())
    assert {"title", "description", "stage", "includedPermissions"} <= set(role)
    assert role["stage"] == "GA"
    perms: list[str] = role["includedPermissions"]
    return perms


@pytest.mark.parametrize("name", ROLES)
def test_role_file_lists_plain_permissions_once(repo: Path, name: str) -> None:
    perms = permissions(repo, name)
    assert perms
    assert len(perms) == len(set(perms))
    for perm in perms:
        assert PERMISSION.match(perm), perm


def test_roles_are_disjoint_and_keep_act_as_out(repo: Path) -> None:
    core, lb = (set(permissions(repo, name)) for name in ROLES)
    assert not core & lb
    assert "iam.serviceAccounts.actAs" not in core | lb
    assert all(perm.startswith("compute.") for perm in lb)
    assert not any(perm.startswith("compute.") for perm in core)


@pytest.mark.parametrize("name", ROLES)
def test_every_permission_is_documented(repo: Path, name: str) -> None:
    """Each permission appears in the docs' table: in full, or as `service.resource.` plus `.verb`."""
    lines = [
        line for line in (repo / "docs" / "operations.md").read_text().splitlines() if line.startswith("|")
    ]
    for perm in permissions(repo, name):
        prefix, verb = perm.rsplit(".", 1)
        assert any(perm in line or (f"{prefix}." in line and f"`.{verb}`" in line) for line in lines), (
            f"{perm} is not in docs/operations.md's permission table"
        )
