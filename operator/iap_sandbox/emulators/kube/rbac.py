"""Optional authentication and RBAC authorization, as kube-apiserver does them (read, not copied):

  - request attributes from the URL: k8s.io/apiserver pkg/endpoints/request/requestinfo.go (the verb
    from the method, `list`/`watch` for collections, `deletecollection`, a `metadata.name` field
    selector naming the object, subresources, namespaces);
  - rule matching and the rules that apply: kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go
    (RuleAllows: verb, API group, resource or resource/subresource (`*/status`), resourceNames) and
    pkg/registry/rbac/validation/rule.go (ClusterRoleBindings everywhere, RoleBindings in their
    namespace, to a Role of that namespace or a ClusterRole; User, Group and ServiceAccount subjects);
  - the refusal: k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go (403 `User "..."
    cannot VERB resource "R" in API group "G" in the namespace "N"`), 401 for an unknown token.
Bearer tokens map to users; a ServiceAccount's user is `system:serviceaccount:NS:NAME` in the groups
`system:serviceaccounts`, `system:serviceaccounts:NS` and `system:authenticated`. Members of
`system:masters` may do anything (the apiserver's privileged group), and every authenticated user may
read the discovery and OpenAPI documents (the bootstrap `system:discovery` role). Left out: role
aggregation, impersonation, nonResourceURLs rules, and the escalation checks on writing roles.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import errors

RBAC_GROUP = "rbac.authorization.k8s.io"
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_DISCOVERY_PREFIXES = ("/api", "/apis", "/version", "/openapi", "/healthz", "/livez", "/readyz")


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


def service_account_user(namespace: str, name: str) -> User:
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


@dataclass(frozen=True)
class Attributes:
    """What is asked: the authorizer's view of one request."""

    user: User
    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def attributes(method: str, path: str, query: Mapping[str, str], user: User) -> Attributes:
    """RequestInfoFactory.NewRequestInfo for the API prefixes `api` and `apis`."""
    verb = method.lower()
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) < 3 or parts[0] not in {"api", "apis"}:
        return Attributes(user, verb, path)
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return Attributes(user, verb, path)
        group, rest = rest[0], rest[1:]
    rest = rest[1:]  # the version
    verb = {
        "POST": "create",
        "GET": "get",
        "HEAD": "get",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete",
    }.get(method.upper(), "")
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "").lower() not in {"", "false", "0"} else "list"
        for term in unquote(query.get("fieldSelector", "")).split(","):
            key, equals, value = term.partition("=")
            if equals and key.strip() == "metadata.name" and not key.endswith("!"):
                name = value.removeprefix("=").strip()
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, path, True, group, resource, subresource, namespace, name)


def _matches(values: Iterable[str], wanted: str) -> bool:
    return any(v in {"*", wanted} for v in values)


def rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    if not _matches(rule.get("verbs") or [], attrs.verb):
        return False
    if not attrs.resource_request:
        return False  # nonResourceURLs rules are not modelled
    if not _matches(rule.get("apiGroups") or [], attrs.api_group):
        return False
    resources = rule.get("resources") or []
    combined = attrs.combined_resource
    if not any(
        r in {"*", combined} or (attrs.subresource and r == f"*/{attrs.subresource}") for r in resources
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _subject_matches(subject: Mapping[str, Any], user: User, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{subject.get('name')}"
    return False


@dataclass(frozen=True)
class Grant:
    """One rule reaching a user, and through which binding (for reports of unused grants)."""

    binding: str  # "ClusterRoleBinding/x" or "RoleBinding/ns/x"
    role: str  # "ClusterRole/x" or "Role/ns/x"
    namespace: str  # where it applies; "" everywhere
    rule: Mapping[str, Any]


class Authorizer:
    """RBAC over the Roles, ClusterRoles and bindings stored in the emulated cluster."""

    def __init__(self, read: Any) -> None:
        # read(plural, namespace_or_None) -> list of stored RBAC objects
        self._read = read

    def grants(self, user: User, namespace: str) -> list[Grant]:
        found: list[Grant] = []
        roles = {
            (r["metadata"].get("namespace", ""), r["metadata"]["name"]): r for r in self._read("roles", None)
        }
        cluster_roles = {r["metadata"]["name"]: r for r in self._read("clusterroles", None)}
        for binding in self._read("clusterrolebindings", None):
            if not any(_subject_matches(s, user, "") for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            role = cluster_roles.get(ref.get("name")) if ref.get("kind") == "ClusterRole" else None
            for rule in (role or {}).get("rules") or []:
                found.append(
                    Grant(
                        f"ClusterRoleBinding/{binding['metadata']['name']}",
                        f"ClusterRole/{ref.get('name')}",
                        "",
                        rule,
                    )
                )
        for binding in self._read("rolebindings", namespace or None):
            binding_ns = binding["metadata"].get("namespace", "")
            if namespace and binding_ns != namespace:
                continue
            if not any(_subject_matches(s, user, binding_ns) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                role, role_name = cluster_roles.get(ref.get("name")), f"ClusterRole/{ref.get('name')}"
            else:
                role, role_name = (
                    roles.get((binding_ns, ref.get("name"))),
                    f"Role/{binding_ns}/{ref.get('name')}",
                )
            for rule in (role or {}).get("rules") or []:
                found.append(
                    Grant(
                        f"RoleBinding/{binding_ns}/{binding['metadata']['name']}", role_name, binding_ns, rule
                    )
                )
        return found

    def authorize(self, attrs: Attributes) -> Grant | bool | None:
        """The grant that allows the request, True for a privileged or discovery request, or None."""
        if "system:masters" in attrs.user.groups:
            return True
        if not attrs.resource_request:
            authenticated = "system:authenticated" in attrs.user.groups
            return (
                True
                if authenticated and attrs.verb == "get" and attrs.path.startswith(_DISCOVERY_PREFIXES)
                else None
            )
        for grant in self.grants(attrs.user, attrs.namespace):
            if rule_allows(grant.rule, attrs):
                return grant
        return None


def forbidden(attrs: Attributes) -> errors.ApiError:
    """ForbiddenStatusError: the message kubectl, kopf and the operator see."""
    user = attrs.user.name
    if not attrs.resource_request:
        message = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    elif attrs.namespace:
        message = (
            f'User "{user}" cannot {attrs.verb} resource "{attrs.combined_resource}" in API group '
            f'"{attrs.api_group}" in the namespace "{attrs.namespace}"'
        )
    else:
        message = (
            f'User "{user}" cannot {attrs.verb} resource "{attrs.combined_resource}" in API group '
            f'"{attrs.api_group}" at the cluster scope'
        )
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    prefix = f'{qualified} "{attrs.name}" is forbidden: ' if attrs.name else f"{qualified} is forbidden: "
    details = {"name": attrs.name, "group": attrs.api_group, "kind": attrs.resource}
    return errors.ApiError(
        403, "Forbidden", prefix + message, {k: v for k, v in details.items() if v or k == "kind"}
    )


def unauthorized() -> errors.ApiError:
    return errors.ApiError(401, "Unauthorized", "Unauthorized")


@dataclass
class Tokens:
    """Bearer tokens the emulator accepts, each mapped to a user."""

    users: dict[str, User] = field(default_factory=dict)

    def issue(self, user: User) -> str:
        token = secrets.token_urlsafe(24)
        self.users[token] = user
        return token

    def user_of(self, authorization: str | None) -> User | None:
        """The authenticated user; ANONYMOUS without credentials; None for a token nobody issued."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.users.get(token.strip())


@dataclass(frozen=True)
class Decision:
    """One authorized (or refused) resource request, for reports of what was used."""

    attributes: Attributes
    grant: Grant | None
    allowed: bool
