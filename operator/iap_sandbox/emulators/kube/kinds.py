"""What the emulated API serves: one `KindInfo` per (group, version, plural), built-ins included."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = frozenset({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"})


@dataclass(frozen=True)
class KindInfo:
    """A served resource. Objects are stored once per (group, plural), at `storage_version`."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    storage_version: str = ""
    crd_name: str | None = None  # set for kinds defined by a CustomResourceDefinition
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def resource_path(self) -> str:
        """`group/version/plural` (`version/plural` for the core group), as kmock's resource keys."""
        return f"{self.api_version}/{self.plural}"


def _builtin(
    group: str, version: str, plural: str, kind: str, namespaced: bool, *short: str, status: bool = False
) -> KindInfo:
    return KindInfo(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short,
        subresources=frozenset({"status"}) if status else frozenset(),
        storage_version=version,
    )


NAMESPACE_KIND = _builtin("", "v1", "namespaces", "Namespace", False, "ns")
CRD_KIND = _builtin(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    False,
    "crd",
    "crds",
    status=True,
)

# The built-in kinds kopf, kubectl, the operator and its manifests touch. Everything else arrives via CRDs.
BUILTIN_KINDS: tuple[KindInfo, ...] = (
    NAMESPACE_KIND,
    CRD_KIND,
    _builtin("", "v1", "secrets", "Secret", True),
    _builtin("", "v1", "configmaps", "ConfigMap", True, "cm"),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, "sa"),
    _builtin("", "v1", "events", "Event", True, "ev"),
    _builtin("events.k8s.io", "v1", "events", "Event", True, "ev"),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True),
    # What `kubectl apply -k deploy/` installs besides the CRD (no controllers act on them here).
    _builtin("", "v1", "services", "Service", True, "svc", status=True),
    _builtin("apps", "v1", "deployments", "Deployment", True, "deploy", status=True),
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "pdb", status=True),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    # kopf's peering kinds (normally installed from kopf's own CRDs); schemaless here.
    _builtin("kopf.dev", "v1", "kopfpeerings", "KopfPeering", True),
    _builtin("kopf.dev", "v1", "clusterkopfpeerings", "ClusterKopfPeering", False),
)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
