"""Compute resource links: API paths, selfLinks, and parsing the many ways clients name a resource."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from iap_sandbox.emulators.gcp.core import COMPUTE_PREFIX, SELF_LINK_BASE, invalid

BETA_LINK_BASE = "https://www.googleapis.com/compute/beta/"

# Any host, then optional `compute/v1/`, then the resource path.
_LINK_RE = re.compile(
    r"(?:https?://[^/]+/)?(?:compute/(?:v1|beta|alpha)/)?"
    r"projects/(?P<project>[^/]+)/(?:(?P<global>global)|regions/(?P<region>[^/]+))/"
    r"(?P<collection>[A-Za-z]+)/(?P<name>[^/]+)"
)
_RELATIVE_RE = re.compile(
    r"(?:(?P<global>global)|regions/(?P<region>[^/]+))/(?P<collection>[A-Za-z]+)/(?P<name>[^/]+)"
)
REGION_RE = re.compile(r"[a-z]+(-[a-z]+)+[0-9]+")


@dataclass(frozen=True)
class Ref:
    """One compute resource's coordinates."""

    project: str
    region: str | None  # None: global
    collection: str  # URL segment: backendServices, networkEndpointGroups, addresses, ...
    name: str

    @property
    def relative(self) -> str:
        """`projects/p/global/backendServices/x`: how compute names resources in messages."""
        scope = f"regions/{self.region}" if self.region else "global"
        return f"projects/{self.project}/{scope}/{self.collection}/{self.name}"

    @property
    def path(self) -> str:
        """The store key (API path)."""
        return COMPUTE_PREFIX + self.relative

    @property
    def self_link(self) -> str:
        return SELF_LINK_BASE + self.relative

    @property
    def beta_link(self) -> str:
        return BETA_LINK_BASE + self.relative


class LinkForm(enum.Enum):
    """How GCP returns a reference it was sent, per field (as recorded in ../shared/recorded-gcp)."""

    FULL = "full"  # always the v1 URL
    BETA = "beta"  # the `compute/beta` URL, whatever was sent (urlMaps defaultService, healthChecks)
    AS_SENT = "as-sent"  # a URL or `projects/...` path as sent; anything else as the v1 URL
    URL_AS_SENT = "url-as-sent"  # a URL as sent (v1 or beta); anything else as the v1 URL


def stored_link(ref: Ref, sent: object, form: LinkForm) -> str:
    """The reference as GCP stores (and GETs return) it."""
    text = sent if isinstance(sent, str) else ""
    if form is LinkForm.BETA:
        return ref.beta_link
    is_url = text.startswith(("https://", "http://"))
    if form is LinkForm.URL_AS_SENT and is_url:
        return text
    if form is LinkForm.AS_SENT and (is_url or text.startswith("projects/")):
        return text
    return ref.self_link


def collection_path(project: str, region: str | None, collection: str) -> str:
    scope = f"regions/{region}" if region else "global"
    return f"{COMPUTE_PREFIX}projects/{project}/{scope}/{collection}"


def collection_link(project: str, region: str | None, collection: str) -> str:
    return SELF_LINK_BASE + collection_path(project, region, collection)[len(COMPUTE_PREFIX) :]


def region_link(project: str, region: str) -> str:
    return f"{SELF_LINK_BASE}projects/{project}/regions/{region}"


def parse_link(value: str, project: str) -> Ref | None:
    """A full URL, `projects/...` path or `global/...`/`regions/...` path -> `Ref` (None when unparseable).

    The project part is kept as written; callers map a project number to its id.
    """
    match = _LINK_RE.fullmatch(value)
    if match:
        return Ref(match["project"], match["region"], match["collection"], match["name"])
    match = _RELATIVE_RE.fullmatch(value)
    if match:
        return Ref(project, match["region"], match["collection"], match["name"])
    return None


def require_link(
    value: object,
    *,
    field: str,
    project: str,
    collections: tuple[str, ...],
    default_region: str | None = None,
) -> Ref:
    """Parse a reference field; a bare name means `collections[0]` in the caller's scope."""
    if not isinstance(value, str) or not value:
        raise invalid(f"Invalid value for field '{field}': '{value}'. The URL is malformed.")
    ref = parse_link(value, project)
    if ref is None and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", value):
        ref = Ref(project, default_region, collections[0], value)
    if ref is None or ref.collection not in collections:
        raise invalid(f"Invalid value for field '{field}': '{value}'. The URL is malformed.")
    return ref
