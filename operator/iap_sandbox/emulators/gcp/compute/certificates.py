"""Global SSL certificates: MANAGED (provisioned as GCP does it, against the emulator's DNS) or
SELF_MANAGED (key never returned). No update: replacing a certificate is delete + insert.

A managed certificate is `PROVISIONING` until every domain resolves (`world.dns`) to the IP of a
forwarding rule whose HTTPS proxy carries the certificate, and at least `provision` seconds passed since
its insert; then `ACTIVE`. Per domain (`managed.domainStatus`): `PROVISIONING`; `FAILED_CAA_FORBIDDEN`
when a CAA record does not name pki.goog; `FAILED_NOT_VISIBLE` once `notVisible`
seconds passed without the domain resolving to the load balancer. While a domain fails the certificate is
`PROVISIONING_FAILED` (GCP retries: fixing DNS heals it) and after `failPermanently` seconds of failure
`PROVISIONING_FAILED_PERMANENTLY`, which is final ("It won't be retried. To try again delete and create a
new managed SslCertificate resource": the discovery document's enum description). Times come from the
settings `compute.managedCertificateSeconds`, `compute.managedCertificateNotVisibleSeconds`,
`compute.managedCertificatePermanentFailureSeconds` (unset: never), else the latency profile's
`(compute, sslCertificates, provision|notVisible)` entries (0 in the zero profile).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from iap_sandbox.emulators.gcp.core import COMPUTE_PREFIX, JSON, invalid
from iap_sandbox.emulators.gcp.dns import AUTO, normalize

from .crud import REFERENCES, Collection, ComputeState, Scope
from .links import Ref

PROVISIONING_SETTING = "compute.managedCertificateSeconds"
NOT_VISIBLE_SETTING = "compute.managedCertificateNotVisibleSeconds"
PERMANENT_FAILURE_SETTING = "compute.managedCertificatePermanentFailureSeconds"
_DOMAIN_RE = re.compile(r"(?=.{1,253}\.?$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?")
MAX_DOMAINS = 100
# Statuses the emulator never moves away from on its own (renewal is not modelled; mutate sets it).
FINAL = frozenset({"ACTIVE", "PROVISIONING_FAILED_PERMANENTLY", "RENEWAL_FAILED"})


@dataclass
class _Clock:
    """When a managed certificate was inserted and since when one of its domains fails."""

    cert_id: str
    created: float
    failing_since: float | None = None
    timer: asyncio.TimerHandle | None = None


class SslCertificates(Collection):
    collection = "sslCertificates"
    api_resource = "sslCertificates"
    kind = "compute#sslCertificate"
    singular = "ssl_certificate"

    def build(self, scope: Scope, ref: Ref, body: JSON, current: JSON | None) -> JSON:
        fields = copy.deepcopy(body)
        kind = body.get("type") or ("MANAGED" if body.get("managed") else "SELF_MANAGED")
        if kind == "MANAGED":
            fields["type"] = kind
            return self._managed(fields)
        if kind == "SELF_MANAGED":  # `type` only when sent (recorded: globalcomputesslcertificate)
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
        fields["selfManaged"] = {"certificate": pem}  # recorded: the certificate twice, never the key
        fields["expireTime"] = cert.not_valid_after_utc.isoformat(timespec="milliseconds")
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            fields["subjectAlternativeNames"] = sans.value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            pass
        return fields

    def __init__(self, state: ComputeState) -> None:
        super().__init__(state)
        self._clocks: dict[str, _Clock] = {}
        state.certificate_listeners.append(self.evaluate_project)
        state.reset_listeners.append(self._reset)
        self.world.dns.listeners.append(self._dns_changed)

    def after_write(self, scope: Scope, ref: Ref, before: JSON | None, after: JSON | None) -> None:
        clock = self._clocks.pop(ref.path, None)
        if clock and clock.timer:
            clock.timer.cancel()
        if after is None or after.get("type") != "MANAGED":
            return
        self._clocks[ref.path] = _Clock(str(after["id"]), self.world.clock.monotonic())
        self.evaluate(ref.path)

    # ------------------------------------------------------------------------------- provisioning

    def _seconds(self, setting: str, verb: str | None) -> float | None:
        configured = self.world.settings.get(setting)
        if configured is not None:
            return float(configured)
        return self.world.delay("compute", "sslCertificates", verb) if verb else None

    def _reset(self) -> None:
        for clock in self._clocks.values():
            if clock.timer:
                clock.timer.cancel()
        self._clocks.clear()

    def _dns_changed(self) -> None:
        for project in self.world.projects.all():
            self.evaluate_project(project.project_id)

    def evaluate_project(self, project: str, certs: Iterable[str] | None = None) -> None:
        """Re-evaluate the certificates at `certs` (API paths), or every one of the project."""
        if certs is None:
            prefix = f"{COMPUTE_PREFIX}projects/{project}/global/sslCertificates"
            certs = [f"{prefix}/{name}" for name in list(self.world.store.names(prefix))]
        for path in sorted(certs):
            self.evaluate(path)

    def _serving_ips(self, path: str) -> set[str]:
        """IPs of the forwarding rules whose HTTPS proxy carries the certificate at `path`."""
        relative = path[len(COMPUTE_PREFIX) :]
        project = relative.split("/")[1]
        store = self.world.store
        global_prefix = f"{COMPUTE_PREFIX}projects/{project}/global/"
        proxies = [
            proxy_path[len(COMPUTE_PREFIX) :]
            for proxy_path in store.find(REFERENCES, f"ref:{relative}")
            if proxy_path.startswith(global_prefix + "targetHttpsProxies/")
        ]
        return {
            str((store.peek(rule_path) or {}).get("IPAddress"))
            for proxy in proxies
            for rule_path in store.find(REFERENCES, f"ref:{proxy}")
            if rule_path.startswith(global_prefix + "forwardingRules/")
        }

    def _domain_state(self, domain: str, serving: set[str]) -> str:
        """FAILED_CAA_FORBIDDEN, VISIBLE, or INVISIBLE."""
        record = self.world.dns.lookup(normalize(domain))
        if record is None:
            return "INVISIBLE"
        if record.forbids_google:
            return "FAILED_CAA_FORBIDDEN"
        if serving and (AUTO in record.addresses or serving & set(record.addresses)):
            return "VISIBLE"
        return "INVISIBLE"

    def evaluate(self, path: str) -> None:
        """Bring the stored certificate's provisioning status up to date; schedule the next change."""
        cert = self.world.store.get(path)
        if cert is None or cert.get("type") != "MANAGED":
            return
        managed = cert.get("managed") or {}
        if managed.get("status") in FINAL:
            return
        now = self.world.clock.monotonic()
        clock = self._clocks.get(path)
        if clock is None or clock.cert_id != str(cert.get("id")):
            clock = self._clocks[path] = _Clock(str(cert.get("id")), now)  # seeded or mutated
        provision = clock.created + (self._seconds(PROVISIONING_SETTING, "provision") or 0.0)
        not_visible = clock.created + (self._seconds(NOT_VISIBLE_SETTING, "notVisible") or 0.0)
        permanent_after = self._seconds(PERMANENT_FAILURE_SETTING, None)
        serving = self._serving_ips(path)
        states = {d: self._domain_state(d, serving) for d in managed.get("domains") or []}
        domains: dict[str, str] = {}
        for domain, found in states.items():
            if found == "VISIBLE" or (found == "INVISIBLE" and now < not_visible):
                domains[domain] = "PROVISIONING"
            else:
                domains[domain] = "FAILED_NOT_VISIBLE" if found == "INVISIBLE" else found
        upcoming = [t for t in (provision, not_visible) if t > now]
        if all(found == "VISIBLE" for found in states.values()) and now >= provision:
            status = "ACTIVE"
            domains = dict.fromkeys(domains, "ACTIVE")
            upcoming = []
        elif any(value.startswith("FAILED") for value in domains.values()):
            clock.failing_since = clock.failing_since if clock.failing_since is not None else now
            status = "PROVISIONING_FAILED"
            if permanent_after is not None:
                if now >= clock.failing_since + permanent_after:
                    status, upcoming = "PROVISIONING_FAILED_PERMANENTLY", []
                else:
                    upcoming.append(clock.failing_since + permanent_after)
        else:
            clock.failing_since = None
            status = "PROVISIONING"
        updated = copy.deepcopy(cert)
        updated["managed"] = {**managed, "status": status, "domainStatus": domains}
        if status == "ACTIVE":
            expires = self.world.clock.wall() + datetime.timedelta(days=90)
            updated["expireTime"] = expires.isoformat(timespec="milliseconds")
            updated["subjectAlternativeNames"] = list(managed.get("domains") or [])
        if updated != cert:
            self.world.store.put(path, updated)
        if clock.timer:
            clock.timer.cancel()
            clock.timer = None
        if upcoming:
            delay = min(upcoming) - now
            clock.timer = asyncio.get_running_loop().call_later(delay, self.evaluate, path)
