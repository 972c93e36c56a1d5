"""The emulator against facts about real GCP: per API, a table of request -> expected answer shape.

Every row names its evidence: a recording in ../shared/recorded-gcp (by its file name, without the
`__v1beta1__` noise), or a Google document. The recordings themselves are never read here: each fact is
written down in our own words. Rows of one API run in order against one emulator, so a row can use what
an earlier answer returned (`{name}` placeholders filled from `keep`). docs/gcp-emulator.md lists the
facts, the sources and what is not modelled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from iap_sandbox.emulators.gcp.testing import run_gcp_emulator

P, N, R = "demo-project", "123456789012", "us-central1"
C = f"compute/v1/projects/{P}"
V1 = f"https://www.googleapis.com/compute/v1/projects/{P}"
BETA = f"https://www.googleapis.com/compute/beta/projects/{P}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
INT_ENUMS = {"$alt": "json;enum-encoding=int"}
SEED: dict[str, Any] = {
    "projects": [{"projectId": P, "projectNumber": N, "cloudRunServices": [{"name": "hello", "region": R}]}]
}
ABSENT = object()


@dataclass(frozen=True)
class Row:
    """One request and what GCP answers it with."""

    source: str  # the recording (or document) the expectation comes from
    method: str
    path: str
    body: Any = None
    query: Mapping[str, str] = field(default_factory=dict)
    status: int = 200
    equals: Mapping[str, Any] = field(default_factory=dict)  # dotted key -> value (ABSENT: not there)
    matches: Mapping[str, str] = field(default_factory=dict)  # dotted key -> regex (full match)
    keys: Sequence[str] | None = None  # exactly these top-level keys
    keep: Mapping[str, str] = field(default_factory=dict)  # placeholder -> dotted key of the answer


def dig(body: Any, dotted: str) -> Any:
    node = body
    for part in dotted.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return ABSENT
    return node


def running(op_type: str, **more: Any) -> dict[str, Any]:
    """A compute operation as first answered for most methods: RUNNING, progress 0, no endTime."""
    return {"status": "RUNNING", "progress": 0, "operationType": op_type, "endTime": ABSENT, **more}


DONE = {"status": "DONE", "progress": 100, "endTime": re.compile(".+")}
# URL maps, target HTTP proxies and address setLabels answer this (computeurlmap, globaltargethttpproxy,
# globalcomputeforwardingrulessl-direct).
DONE_BARE = {
    "status": "DONE",
    "progress": 0,
    "operationType": ABSENT,
    "targetLink": ABSENT,
    "endTime": ABSENT,
}


def wait(scope: str = "global") -> Row:
    return Row(
        "compute operations",
        "POST",
        f"{C}/{scope}/operations/{{op}}/wait",
        equals={"status": "DONE", "progress": 100},
        matches={"endTime": ".+"},
    )


COMPUTE: list[Row] = [
    Row(
        "computebackendservice__globalcomputebackendservice",
        "GET",
        f"{C}/global/backendServices/missing",
        status=404,
        equals={
            "error.code": 404,
            "error.message": f"The resource 'projects/{P}/global/backendServices/missing' was not found",
            "error.errors.0.reason": "notFound",
            "error.errors.0.domain": "global",
            "error.status": ABSENT,
        },
    ),
    Row(
        "computeregionnetworkendpointgroup__cloudruncomputeregionnetworkendpointgroup",
        "POST",
        f"{C}/regions/{R}/networkEndpointGroups",
        {"name": "neg", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "hello"}},
        equals=running(
            "compute.regionNetworkEndpointGroups.insert",
            region=f"{V1}/regions/{R}",
            targetLink=f"{V1}/regions/{R}/networkEndpointGroups/neg",
        ),
        keep={"op": "name"},
    ),
    wait(f"regions/{R}"),
    Row(
        "computeregionnetworkendpointgroup__cloudruncomputeregionnetworkendpointgroup",
        "GET",
        f"{C}/regions/{R}/networkEndpointGroups/neg",
        equals={
            "size": 0,
            "region": f"{V1}/regions/{R}",
            "kind": "compute#networkEndpointGroup",
            "cloudRun": {"service": "hello"},
            "description": ABSENT,
        },
    ),
    Row(
        "computebackendservice__globalcomputebackendservice",
        "POST",
        f"{C}/global/backendServices",
        {
            "name": "bs",
            "loadBalancingScheme": "EXTERNAL",
            "backends": [{"group": f"{V1}/regions/{R}/networkEndpointGroups/neg"}],
        },
        equals=running("insert", targetLink=f"{V1}/global/backendServices/bs"),
        keep={"op": "name"},
    ),
    wait(),
    Row(
        "computebackendservice__globalcomputebackendservice (and every backend service GET recorded)",
        "GET",
        f"{C}/global/backendServices/bs",
        equals={
            "iap": {"enabled": False, "oauth2ClientId": "", "oauth2ClientSecretSha256": EMPTY_SHA256},
            "description": "",
            "timeoutSec": 30,
            "sessionAffinity": "NONE",
            "affinityCookieTtlSec": 0,
            "kind": "compute#backendService",
            "selfLink": f"{V1}/global/backendServices/bs",
            "protocol": ABSENT,
            "port": ABSENT,
            "portName": ABSENT,
        },
        matches={"fingerprint": r"[A-Za-z0-9+/_-]{11}=", "id": r"\d+"},
        keep={"fp": "fingerprint"},
    ),
    Row(
        "compute discovery document (BackendService.fingerprint: a stale one fails with 412)",
        "PATCH",
        f"{C}/global/backendServices/bs",
        {"description": "x", "fingerprint": "AAAAAAAAAAA="},
        status=412,
        equals={"error.errors.0.reason": "conditionNotMet", "error.status": ABSENT},
    ),
    Row(
        "globalcomputebackendservice (update); globaltargethttpsproxy (patch without a fingerprint)",
        "PATCH",
        f"{C}/global/backendServices/bs",
        {"iap": {"enabled": True}},
        equals=running("patch"),
        keep={"op": "name"},
    ),
    wait(),
    Row(
        "the managed OAuth client: the same empty client id and secret hash",
        "GET",
        f"{C}/global/backendServices/bs",
        equals={"iap": {"enabled": True, "oauth2ClientId": "", "oauth2ClientSecretSha256": EMPTY_SHA256}},
    ),
    Row(
        "computeurlmap__globalcomputeurlmap (DONE at once, progress 0, no operationType)",
        "POST",
        f"{C}/global/urlMaps",
        {"name": "um", "defaultService": f"{V1}/global/backendServices/bs"},
        equals=DONE_BARE,
    ),
    Row(
        "computeurlmap__globalcomputeurlmap (defaultService as the compute/beta URL)",
        "GET",
        f"{C}/global/urlMaps/um",
        equals={"defaultService": f"{BETA}/global/backendServices/bs", "kind": "compute#urlMap"},
    ),
    Row(
        "computemanagedsslcertificate",
        "POST",
        f"{C}/global/sslCertificates",
        {"name": "cert", "type": "MANAGED", "managed": {"domains": ["hello.example.com"]}},
        equals=running("insert"),
        keep={"op": "name"},
    ),
    wait(),
    Row(
        "compute discovery document (SslCertificateManagedSslCertificate status enums); zero profile",
        "GET",
        f"{C}/global/sslCertificates/cert",
        equals={
            "type": "MANAGED",
            "managed.domains": ["hello.example.com"],
            "managed.status": "PROVISIONING_FAILED",
            "managed.domainStatus": {"hello.example.com": "FAILED_NOT_VISIBLE"},
            "expireTime": ABSENT,
        },
    ),
    Row(
        "computetargethttpsproxy__globaltargethttpsproxy",
        "POST",
        f"{C}/global/targetHttpsProxies",
        {
            "name": "px",
            "urlMap": f"projects/{P}/global/urlMaps/um",
            "sslCertificates": [f"{V1}/global/sslCertificates/cert"],
        },
        equals=running("insert"),
        keep={"op": "name"},
    ),
    wait(),
    Row(
        "computetargethttpsproxy__globaltargethttpsproxy (urlMap as the URL after an insert)",
        "GET",
        f"{C}/global/targetHttpsProxies/px",
        equals={
            "urlMap": f"{V1}/global/urlMaps/um",
            "sslCertificates": [f"{V1}/global/sslCertificates/cert"],
            "tlsEarlyData": "DISABLED",
        },
        matches={"fingerprint": r".{12}"},
    ),
    Row(
        "computetargethttpsproxy__globaltargethttpsproxy (patch without fingerprint)",
        "PATCH",
        f"{C}/global/targetHttpsProxies/px",
        {"urlMap": f"projects/{P}/global/urlMaps/um"},
        equals=running("patch"),
        keep={"op": "name"},
    ),
    wait(),
    Row(
        "computetargethttpsproxy__globaltargethttpsproxy (urlMap as sent after a patch)",
        "GET",
        f"{C}/global/targetHttpsProxies/px",
        equals={"urlMap": f"projects/{P}/global/urlMaps/um"},
    ),
    Row(
        "computeaddress__globalcomputeaddress-direct (labels kept on insert)",
        "POST",
        f"{C}/global/addresses",
        {"name": "ip", "labels": {"owner": "us"}},
        equals=running("insert"),
        keep={"op": "name"},
    ),
    wait(),
    Row(
        "computeaddress__globalcomputeaddress-direct",
        "GET",
        f"{C}/global/addresses/ip",
        equals={"labels": {"owner": "us"}, "addressType": ABSENT, "networkTier": ABSENT},
        matches={"address": r"\d+\.\d+\.\d+\.\d+", "labelFingerprint": r".{12}"},
        keep={"addressFp": "labelFingerprint"},
    ),
    Row(
        "computeforwardingrule__globalcomputeforwardingrule-direct",
        "POST",
        f"{C}/global/forwardingRules",
        {
            "name": "fr",
            "IPAddress": f"projects/{P}/global/addresses/ip",
            "portRange": "443",
            "target": f"{V1}/global/targetHttpsProxies/px",
            "labels": {"owner": "us"},
        },
        equals=running("insert"),
        keep={"op": "name"},
    ),
    wait(),
    Row(
        "computeforwardingrule__globalcomputeforwardingrule-direct (labels dropped on insert)",
        "GET",
        f"{C}/global/forwardingRules/fr",
        equals={
            "labels": ABSENT,
            "portRange": "443-443",
            "IPProtocol": "TCP",
            "networkTier": "PREMIUM",
            "ipVersion": ABSENT,
            "target": f"{V1}/global/targetHttpsProxies/px",
        },
        matches={"IPAddress": r"\d+\.\d+\.\d+\.\d+", "labelFingerprint": r".{12}", "fingerprint": r".{12}"},
        keep={"ruleFp": "labelFingerprint"},
    ),
    Row(
        "computeforwardingrule__globalcomputeforwardingrule-direct (setLabels DONE at once)",
        "POST",
        f"{C}/global/forwardingRules/fr/setLabels",
        {"labels": {"owner": "us"}, "labelFingerprint": "{ruleFp}"},
        equals={"status": "DONE", "progress": 100, "operationType": "setLabels"},
    ),
    Row(
        "compute discovery document (labelFingerprint: a stale one fails with 412)",
        "POST",
        f"{C}/global/forwardingRules/fr/setLabels",
        {"labels": {}, "labelFingerprint": "{ruleFp}"},
        status=412,
        equals={"error.errors.0.reason": "conditionNotMet"},
    ),
    Row(
        "computeforwardingrule__globalcomputeforwardingrulessl-direct (address setLabels)",
        "POST",
        f"{C}/global/addresses/ip/setLabels",
        {"labels": {"owner": "them"}, "labelFingerprint": "{addressFp}"},
        equals=DONE_BARE,
    ),
    Row(
        "computetargethttpproxy__globaltargethttpproxy (its own 404 message)",
        "GET",
        f"{C}/global/targetHttpProxies/px-http",
        status=404,
        equals={
            "error.message": f'targetHttpProxy "projects/{P}/global/targetHttpProxies/px-http" not found',
            "error.errors.0.reason": "notFound",
        },
    ),
    Row(
        "computetargethttpproxy__globaltargethttpproxy (DONE at once)",
        "POST",
        f"{C}/global/targetHttpProxies",
        {"name": "px-http", "urlMap": f"projects/{P}/global/urlMaps/um"},
        equals=DONE_BARE,
    ),
    Row(
        "computetargethttpproxy__globaltargethttpproxy (urlMap as sent)",
        "GET",
        f"{C}/global/targetHttpProxies/px-http",
        equals={"urlMap": f"projects/{P}/global/urlMaps/um", "fingerprint": re.compile(".{12}")},
    ),
    Row(
        "computeforwardingrule__globalcomputeforwardingrule-direct (setTarget: operationType SetTarget)",
        "POST",
        f"{C}/global/forwardingRules/fr/setTarget",
        {"target": f"{V1}/global/targetHttpProxies/px-http"},
        equals=running("SetTarget"),
    ),
    Row(
        "compute API errors (documents only: deleting what is in use)",
        "DELETE",
        f"{C}/global/backendServices/bs",
        status=400,
        equals={"error.errors.0.reason": "resourceInUseByAnotherResource", "error.status": ABSENT},
    ),
]

HELLO = f"v2/projects/{P}/locations/{R}/services/hello"
RUN: list[Row] = [
    Row(
        "runservicebasic (404 body: status, no errors)",
        "GET",
        f"v2/projects/{P}/locations/{R}/services/missing",
        status=404,
        equals={
            "error.message": f'service "projects/{P}/locations/{R}/services/missing" not found',
            "error.status": "NOT_FOUND",
            "error.errors": ABSENT,
        },
    ),
    Row(
        "runservicebasic",
        "GET",
        HELLO,
        equals={
            "ingress": "INGRESS_TRAFFIC_ALL",
            "launchStage": "GA",
            "terminalCondition.type": "Ready",
            "terminalCondition.state": "CONDITION_SUCCEEDED",
            "template.executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
            "template.maxInstanceRequestConcurrency": 80,
            "template.timeout": "300s",
            "template.containers.0.resources.limits": {"cpu": "1000m", "memory": "512Mi"},
        },
        matches={"etag": ".+", "uri": r"https://.+\.run\.app", "generation": r"\d+"},
        keep={"etag": "etag"},
    ),
    Row(
        "iapsettings__projectiapsettings ($alt=json;enum-encoding=int answers numbers)",
        "GET",
        HELLO,
        query=INT_ENUMS,
        equals={"ingress": 1, "launchStage": 4, "terminalCondition.state": 4},
    ),
    Row(
        "runservicebasic (the operation is answered not done)",
        "PATCH",
        HELLO,
        {"ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "etag": "{etag}"},
        query={"updateMask": "ingress"},
        equals={"done": ABSENT, "metadata.@type": "type.googleapis.com/google.cloud.run.v2.Service"},
        keep={"op": "name"},
    ),
    Row(
        "runservicebasic (then done, with the Service as response)",
        "GET",
        "v2/{op}",
        equals={
            "done": True,
            "response.@type": "type.googleapis.com/google.cloud.run.v2.Service",
            "response.ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        },
    ),
    Row(
        "iam-serviceidentityref (a resource that never had a policy)",
        "GET",
        f"{HELLO}:getIamPolicy",
        keys=("etag",),
        equals={"etag": "ACAB"},
    ),
    Row(
        "iam-serviceidentityref (version 3 sent, 1 answered without conditions)",
        "POST",
        f"{HELLO}:setIamPolicy",
        {
            "policy": {
                "version": 3,
                "etag": "ACAB",
                "bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}],
            }
        },
        equals={"version": 1, "bindings.0.members": ["allUsers"]},
        matches={"etag": r"[A-Za-z0-9+/=_-]+"},
        keep={"policyEtag": "etag"},
    ),
    Row(
        "iam-serviceidentityref (emptied: etag and version only)",
        "POST",
        f"{HELLO}:setIamPolicy",
        {"policy": {"version": 3, "etag": "{policyEtag}"}},
        keys=("etag", "version"),
        equals={"version": 1},
    ),
]

IAP: list[Row] = [
    Row(
        "iapsettings__projectiapsettings (asked by id, named by number)",
        "GET",
        f"v1/projects/{P}:iapSettings",
        query=INT_ENUMS,
        keys=("name",),
        equals={"name": f"projects/{N}"},
    ),
    Row(
        "iapsettings__projectiapsettings (enums as numbers both ways)",
        "PATCH",
        f"v1/projects/{P}:iapSettings",
        {
            "name": f"projects/{P}",
            "accessSettings": {"reauthSettings": {"maxAge": "300s", "method": 1, "policyType": 2}},
        },
        query={**INT_ENUMS, "updateMask": "iapSettings.accessSettings.reauthSettings"},
        equals={
            "name": f"projects/{N}",
            "accessSettings.reauthSettings": {"maxAge": "300s", "method": 1, "policyType": 2},
        },
    ),
    Row(
        "iapsettings__projectiapsettings (names without enum-encoding)",
        "GET",
        f"v1/projects/{N}:iapSettings",
        equals={
            "accessSettings.reauthSettings.method": "LOGIN",
            "accessSettings.reauthSettings.policyType": "DEFAULT",
        },
    ),
    Row(
        "Google: the IAP OAuth Admin API was shut down (documents only)",
        "GET",
        f"v1/projects/{N}/brands",
        status=404,
        equals={"error.status": "NOT_FOUND", "error.details.0.reason": "API_SHUTDOWN"},
    ),
]

SERVICE_USAGE: list[Row] = [
    Row(
        "serviceusage__serviceidentity (done at once, no metadata)",
        "POST",
        f"v1beta1/projects/{P}/services/iap.googleapis.com:generateServiceIdentity",
        keys=("done", "name", "response"),
        equals={
            "done": True,
            "response.email": f"service-{N}@gcp-sa-iap.iam.gserviceaccount.com",
            "response.@type": "type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity",
        },
        matches={"name": r"operations/.+", "response.uniqueId": r"\d+"},
    ),
]

RESOURCE_MANAGER: list[Row] = [
    Row(
        "resourcemanager__project__projectinorg (403, no errors, no details)",
        "GET",
        "v1/projects/nobody-knows",
        status=403,
        keys=("error",),
        equals={
            "error": {
                "code": 403,
                "message": "The caller does not have permission",
                "status": "PERMISSION_DENIED",
            }
        },
    ),
    Row(
        "resourcemanager__project__projectinorg",
        "GET",
        f"v1/projects/{P}",
        equals={"projectId": P, "projectNumber": N, "lifecycleState": "ACTIVE"},
        matches={"createTime": ".+", "name": ".+"},
    ),
    Row(
        "Resource Manager v3 reference (documents only); enum-encoding=int as recorded for IAP",
        "GET",
        f"v3/projects/{P}",
        query=INT_ENUMS,
        equals={"name": f"projects/{N}", "projectId": P, "state": 1},
    ),
]

TABLES = {
    "compute": COMPUTE,
    "run": RUN,
    "iap": IAP,
    "serviceusage": SERVICE_USAGE,
    "resourcemanager": RESOURCE_MANAGER,
}


def fill(value: Any, kept: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: kept.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: fill(v, kept) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, kept) for v in value]
    return value


def mismatches(row: Row, status: int, body: Any) -> list[str]:
    found = [] if status == row.status else [f"status {status}, expected {row.status}: {body}"]
    for key, want in row.equals.items():
        got = dig(body, key)
        if isinstance(want, re.Pattern):
            if not (isinstance(got, str) and want.fullmatch(got)):
                found.append(f"{key}: {got!r} does not match {want.pattern!r}")
        elif want is ABSENT:
            if got is not ABSENT:
                found.append(f"{key}: present ({got!r}), expected absent")
        elif got != want:
            found.append(f"{key}: {'absent' if got is ABSENT else repr(got)}, expected {want!r}")
    for key, pattern in row.matches.items():
        got = dig(body, key)
        if not (isinstance(got, str) and re.fullmatch(pattern, got)):
            found.append(f"{key}: {'absent' if got is ABSENT else repr(got)} does not match {pattern!r}")
    if row.keys is not None and sorted(body) != sorted(row.keys):
        found.append(f"keys {sorted(body)}, expected exactly {sorted(row.keys)}")
    return found


@pytest.mark.parametrize("api", sorted(TABLES))
async def test_the_emulator_answers_as_gcp_does(api: str) -> None:
    kept: dict[str, str] = {}
    failures: list[str] = []
    async with run_gcp_emulator(seed=SEED) as emu, aiohttp.ClientSession() as session:
        for index, row in enumerate(TABLES[api]):
            path, body = fill(row.path, kept), fill(row.body, kept)
            url = f"{emu.url}/{path}"
            async with session.request(row.method, url, json=body, params=dict(row.query)) as response:
                answer = await response.json()
                problems = mismatches(row, response.status, answer)
            failures += [f"row {index} {row.method} {path} [{row.source}]: {p}" for p in problems]
            if problems:
                break  # later rows build on this one
            kept.update({name: str(dig(answer, key)) for name, key in row.keep.items()})
    assert not failures, "\n".join(failures)


def test_every_row_names_its_evidence() -> None:
    for rows in TABLES.values():
        for row in rows:
            assert row.source.strip(), row
