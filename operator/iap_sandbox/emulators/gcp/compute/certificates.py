"""Global SSL certificates: MANAGED (PROVISIONING, then ACTIVE after a delay) or SELF_MANAGED (key never
returned). No update method: replacing a certificate is delete + insert.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import re

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from iap_sandbox.emulators.gcp.core import JSON, invalid

from .crud import Collection, Scope
from .links import Ref

# Seconds a managed certificate stays PROVISIONING; unset: the latency profile's
# ("compute", "sslCertificates", "provision") entry (0 in the zero profile).
PROVISIONING_SETTING = "compute.managedCertificateSeconds"
_DOMAIN_RE = re.compile(r"(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
MAX_DOMAINS = 100


class SslCertificates(Collection):
    collection = "sslCertificates"
    api_resource = "sslCertificates"
    kind = "compute#sslCertificate"
    singular = "ssl_certificate"

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        fields = copy.deepcopy(body)
        kind = body.get("type") or ("MANAGED" if body.get("managed") else "SELF_MANAGED")
        fields["type"] = kind
        if kind == "MANAGED":
            return self._managed(fields)
        if kind == "SELF_MANAGED":
            return self._self_managed(fields)
        raise invalid(f"Invalid value for field 'resource.type': '{kind}'.")

    def _managed(self, fields: JSON) -> JSON:
        managed = fields.get("managed") or {}
        domains = managed.get("domains") or []
        if not isinstance(domains, list) or not 1 <= len(domains) <= MAX_DOMAINS:
            raise invalid("Invalid value for field 'resource.managed.domains': between 1 and 100 domains.")
        for domain in domains:
            if not isinstance(domain, str) or not _DOMAIN_RE.fullmatch(domain.lower()):
                raise invalid(f"Invalid value for field 'resource.managed.domains': '{domain}'.")
        fields.pop("certificate", None)
        fields.pop("privateKey", None)
        fields["managed"] = {
            "domains": list(domains),
            "status": "PROVISIONING",
            "domainStatus": dict.fromkeys(domains, "PROVISIONING"),
        }
        fields["subjectAlternativeNames"] = list(domains)
        return fields

    def _self_managed(self, fields: JSON) -> JSON:
        nested = fields.pop("selfManaged", None) or {}
        pem = fields.get("certificate") or nested.get("certificate")
        key = fields.pop("privateKey", None) or nested.get("privateKey")
        if not pem or not key:
            raise invalid("Invalid value for field 'resource': certificate and privateKey are required.")
        try:
            cert = x509.load_pem_x509_certificate(str(pem).encode())
        except ValueError as exc:
            raise invalid("Invalid value for field 'resource.certificate': not a PEM certificate.") from exc
        try:
            load_pem_private_key(str(key).encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise invalid("Invalid value for field 'resource.privateKey': not a PEM private key.") from exc
        fields["certificate"] = pem
        fields["expireTime"] = cert.not_valid_after_utc.isoformat(timespec="milliseconds")
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            fields["subjectAlternativeNames"] = sans.value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            pass
        return fields

    def after_write(self, scope: Scope, ref: Ref, before: JSON | None, after: JSON | None) -> None:
        if after is None or before is not None or after.get("type") != "MANAGED":
            return
        configured = self.world.settings.get(PROVISIONING_SETTING)
        delay = (
            float(configured)
            if configured is not None
            else self.world.delay("compute", "sslCertificates", "provision")
        )
        if delay <= 0:
            self._activate(ref, after["id"])
        else:
            handle = asyncio.get_running_loop().call_later(delay, self._activate, ref, after["id"])
            self.state.timers.append(handle)

    def _activate(self, ref: Ref, cert_id: str) -> None:
        cert = self.world.store.get(ref.path)
        if cert is None or cert.get("id") != cert_id:
            return  # deleted (or replaced) meanwhile
        managed = cert["managed"]
        managed["status"] = "ACTIVE"
        managed["domainStatus"] = dict.fromkeys(managed["domains"], "ACTIVE")
        expires = self.world.clock.wall() + datetime.timedelta(days=90)
        cert["expireTime"] = expires.isoformat(timespec="milliseconds")
        self.world.store.put(ref.path, cert)
