"""Google-managed SSL certificates. Never updated: the engine replaces a certificate to change domains."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from iap_operator.engine.resources import DOMAIN_STATUS, Key, Kind, Marks, Observed, SslCertificate
from iap_operator.gcp.compute.base import ComputeKind, description_marks


class SslCertificateAdapter(ComputeKind[SslCertificate]):
    kind = Kind.SSL_CERTIFICATE
    field = "ssl_certificate"
    fingerprint_field = None
    collection = "sslCertificates"

    def to_resource(self, project: str, desired: SslCertificate, marks: Marks) -> compute_v1.SslCertificate:
        return compute_v1.SslCertificate(
            name=desired.key.name,
            description=marks.description,
            type_="MANAGED",
            managed=compute_v1.SslCertificateManagedSslCertificate(domains=list(desired.domains)),
        )

    def to_observed(self, project: str, key: Key, resource: Any) -> Observed[SslCertificate]:
        """Outputs: `status` (managed.status) and `domain/<name>` per domain (managed.domainStatus)."""
        managed = resource.managed
        spec = SslCertificate(key=key, domains=tuple(managed.domains))
        outputs = {f"{DOMAIN_STATUS}{d}": str(s) for d, s in sorted(managed.domain_status.items())}
        return self._base_observed(
            resource, spec, description_marks(resource), status=managed.status, **outputs
        )
