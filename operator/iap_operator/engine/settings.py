"""Engine settings: which projects a namespace may act on, defaults, and polling."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field

from iap_operator.engine.identity import DEFAULT_CLUSTER


@dataclass(frozen=True)
class ProjectPolicy:
    """Namespace pattern -> project patterns. No rule for a namespace means: only the default project.

    Parsed from `NAMESPACE=PROJECT[,PROJECT...][;...]`, with `*` globs on both sides,
    e.g. `team-a=team-a-prod,team-a-dev;sandbox-*=sandbox-project`.
    """

    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ProjectPolicy:
        rules: dict[str, tuple[str, ...]] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            namespace, sep, projects = part.partition("=")
            if not sep or not namespace.strip():
                raise ValueError(f"allowed-projects rule {part!r} is not NAMESPACE=PROJECT[,PROJECT]")
            rules[namespace.strip()] = tuple(p.strip() for p in projects.split(",") if p.strip())
        return cls(rules)

    def allows(self, namespace: str, project: str, default_project: str | None) -> bool:
        matched = [ps for ns, ps in self.rules.items() if fnmatch.fnmatchcase(namespace, ns)]
        if not matched:
            return project == default_project
        return any(fnmatch.fnmatchcase(project, p) for ps in matched for p in ps)


@dataclass(frozen=True)
class Settings:
    # Names this operator's cluster in every ownership mark (docs/ownership.md): the same name adopts
    # what a rebuilt cluster or a restored namespace finds; another name is another owner.
    cluster_name: str = DEFAULT_CLUSTER
    default_project: str | None = None
    projects: ProjectPolicy = ProjectPolicy()
    poll_interval: float = 15.0  # while a certificate provisions or an operation is pending
    missing_retry: float = 60.0  # while the Cloud Run service or the OAuth Secret is missing
    iam_attempts: int = 5  # read-modify-write cycles on an etag conflict before backing off
