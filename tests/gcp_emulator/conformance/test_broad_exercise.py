"""Drive every emulated API (happy and error paths) over HTTP and validate every body it returned.

Besides the schema check, the test asserts coverage: each discovery method the emulator implements
answered at least one successful response, so a new endpoint cannot silently escape the check.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from iap_sandbox.emulators.gcp.conformance import ResponseRecorder, default_validator
from iap_sandbox.emulators.gcp.testing import run_gcp_emulator

P, N, R = "demo-project", "123456789012", "us-central1"
SELF = f"https://www.googleapis.com/compute/v1/projects/{P}"
SEED: dict[str, Any] = {
    "projects": [
        {
            "projectId": P,
            "projectNumber": N,
            "cloudRunServices": [
                {"name": "hello", "region": R},
                {"name": "grpc", "region": R, "containerPortName": "h2c"},
            ],
            "iamPolicies": {
                f"v2/projects/{P}/locations/{R}/services/hello": {
                    "bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]
                }
            },
        },
        {
            "projectId": "off-project",
            "projectNumber": "999999999999",
            "disabledServices": ["run.googleapis.com", "iap.googleapis.com"],
        },
    ]
}

# Discovery methods the emulator implements, each of which must have answered successfully at least once.
EXPECTED_METHODS = {
    "compute.backendServices.get",
    "compute.backendServices.insert",
    "compute.backendServices.list",
    "compute.backendServices.patch",
    "compute.backendServices.delete",
    "compute.regionBackendServices.insert",
    "compute.regionBackendServices.get",
    "compute.regionNetworkEndpointGroups.insert",
    "compute.regionNetworkEndpointGroups.get",
    "compute.globalOperations.get",
    "compute.globalOperations.wait",
    "compute.regionOperations.get",
    "compute.urlMaps.insert",
    "compute.urlMaps.get",
    "compute.sslCertificates.insert",
    "compute.sslCertificates.get",
    "compute.targetHttpsProxies.insert",
    "compute.targetHttpsProxies.get",
    "compute.globalAddresses.insert",
    "compute.globalAddresses.get",
    "compute.globalForwardingRules.insert",
    "compute.globalForwardingRules.get",
    "run.projects.locations.services.get",
    "run.projects.locations.services.list",
    "run.projects.locations.services.patch",
    "run.projects.locations.operations.get",
    "run.projects.locations.services.getIamPolicy",
    "run.projects.locations.services.setIamPolicy",
    "run.projects.locations.services.testIamPermissions",
    "iap.getIamPolicy",
    "iap.setIamPolicy",
    "iap.testIamPermissions",
    "iap.getIapSettings",
    "iap.updateIapSettings",
    "serviceusage.services.generateServiceIdentity",
    "serviceusage.operations.get",
    "serviceusage.services.get",
    "cloudresourcemanager.projects.get",
    "cloudresourcemanager.projects.testIamPermissions",
}


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def __call__(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.session.request(method, f"{self.url}/{path}", json=body) as response:
            data = await response.json()
            assert response.status == status, f"{method} {path}: {response.status} {data}"
            return data

    async def compute(self, method: str, path: str, body: Any = None) -> Any:
        """A compute mutation, waited for through operations.wait."""
        operation = await self(method, f"compute/v1/projects/{P}/{path}", body)
        scope = f"regions/{R}" if operation.get("region") else "global"
        done = await self("POST", f"compute/v1/projects/{P}/{scope}/operations/{operation['name']}/wait")
        assert done["status"] == "DONE", done
        await self("GET", f"compute/v1/projects/{P}/{scope}/operations/{operation['name']}")
        return done


async def exercise_compute(api: Api) -> None:
    neg = {"name": "neg-hello", "networkEndpointType": "SERVERLESS", "cloudRun": {"service": "hello"}}
    await api.compute("POST", f"regions/{R}/networkEndpointGroups", neg)
    await api("GET", f"compute/v1/projects/{P}/regions/{R}/networkEndpointGroups/neg-hello")
    group = f"{SELF}/regions/{R}/networkEndpointGroups/neg-hello"
    backend = {"name": "bs-hello", "loadBalancingScheme": "EXTERNAL_MANAGED", "backends": [{"group": group}]}
    await api.compute("POST", "global/backendServices", backend)
    await api.compute("POST", f"regions/{R}/backendServices", {**backend, "name": "bs-regional"})
    await api("GET", f"compute/v1/projects/{P}/regions/{R}/backendServices/bs-regional")
    current = await api("GET", f"compute/v1/projects/{P}/global/backendServices/bs-hello")
    patch = {"iap": {"enabled": True}, "fingerprint": current["fingerprint"]}
    await api.compute("PATCH", "global/backendServices/bs-hello", patch)
    await api("GET", f"compute/v1/projects/{P}/global/backendServices")
    await api.compute(
        "POST", "global/backendServices", {"name": "bs-spare", "loadBalancingScheme": "EXTERNAL_MANAGED"}
    )
    await api.compute("DELETE", "global/backendServices/bs-spare")
    await api("GET", f"compute/v1/projects/{P}/global/backendServices/missing", status=404)
    await api.compute(
        "POST",
        "global/urlMaps",
        {"name": "um-hello", "defaultService": f"{SELF}/global/backendServices/bs-hello"},
    )
    await api("GET", f"compute/v1/projects/{P}/global/urlMaps/um-hello")
    cert = {"name": "cert-hello", "type": "MANAGED", "managed": {"domains": ["hello.example.com"]}}
    await api.compute("POST", "global/sslCertificates", cert)
    await api("GET", f"compute/v1/projects/{P}/global/sslCertificates/cert-hello")
    proxy = {
        "name": "px-hello",
        "urlMap": f"{SELF}/global/urlMaps/um-hello",
        "sslCertificates": [f"{SELF}/global/sslCertificates/cert-hello"],
    }
    await api.compute("POST", "global/targetHttpsProxies", proxy)
    await api("GET", f"compute/v1/projects/{P}/global/targetHttpsProxies/px-hello")
    await api.compute("POST", "global/addresses", {"name": "ip-hello"})
    address = await api("GET", f"compute/v1/projects/{P}/global/addresses/ip-hello")
    rule = {
        "name": "fr-hello",
        "target": f"{SELF}/global/targetHttpsProxies/px-hello",
        "portRange": "443",
        "loadBalancingScheme": "EXTERNAL_MANAGED",
        "IPAddress": address["address"],
    }
    await api.compute("POST", "global/forwardingRules", rule)
    await api("GET", f"compute/v1/projects/{P}/global/forwardingRules/fr-hello")
    await api("DELETE", f"compute/v1/projects/{P}/global/backendServices/bs-hello", status=400)  # in use


async def exercise_run(api: Api) -> None:
    base = f"v2/projects/{P}/locations/{R}"
    hello = f"{base}/services/hello"
    service = await api("GET", hello)
    await api("GET", f"v2/projects/{N}/locations/{R}/services/grpc")
    await api("GET", f"{base}/services?pageSize=1")
    await api("GET", f"{base}/services/missing", status=404)
    await api("GET", f"v2/projects/off-project/locations/{R}/services/hello", status=403)
    # hello sits behind bs-hello, which has IAP on: Cloud Run's own IAP is refused there.
    await api("PATCH", f"{hello}?updateMask=iapEnabled", {"iapEnabled": True}, status=400)
    labels = {"labels": {"a": "b"}, "etag": service["etag"]}
    operation = await api("PATCH", f"{hello}?updateMask=labels", labels)
    await api("GET", f"v2/{operation['name']}")
    await api("PATCH", f"{hello}?updateMask=labels", labels, status=409)
    await api("PATCH", f"{base}/services/grpc?updateMask=iapEnabled", {"iapEnabled": True})
    await api("PATCH", f"{hello}?validateOnly=true", {**service, "etag": None, "ingress": 2})
    bad = {"template": {"containers": [{"image": "x", "ports": [{"name": "http2"}]}]}}
    await api("PATCH", f"{hello}?updateMask=template", bad, status=400)
    await api("PATCH", hello, {"unknownField": 1}, status=400)
    for version in ("v1", "v2"):
        path = f"{version}/projects/{P}/locations/{R}/services/hello"
        policy = await api("GET", f"{path}:getIamPolicy?options.requestedPolicyVersion=3")
        await api("POST", f"{path}:setIamPolicy", {"policy": policy})
        await api("POST", f"{path}:setIamPolicy", {"policy": policy}, status=409)
        await api("POST", f"{path}:testIamPermissions", {"permissions": ["run.services.get"]})
    await api(
        "POST",
        f"{hello}:setIamPolicy",
        {"policy": {"bindings": [{"role": "roles/run.invoker", "members": ["x"]}]}},
        status=400,
    )


async def exercise_iap(api: Api) -> None:
    web = f"v1/projects/{N}/iap_web"
    backend = await api("GET", f"compute/v1/projects/{P}/global/backendServices/bs-hello")
    for resource in (
        web,
        f"{web}/compute/services/bs-hello",
        f"{web}/compute/services/{backend['id']}",
        f"{web}/compute-{R}/services/bs-regional",
        f"{web}/cloud_run-{R}/services/hello",
    ):
        policy = await api("POST", f"{resource}:getIamPolicy", {"options": {"requestedPolicyVersion": 3}})
        policy["bindings"] = [{"role": "roles/iap.httpsResourceAccessor", "members": ["domain:example.com"]}]
        await api("POST", f"{resource}:setIamPolicy", {"policy": policy})
        await api("POST", f"{resource}:testIamPermissions", {"permissions": ["iap.webServices.getIamPolicy"]})
        await api("GET", f"{resource}:iapSettings")
        settings = {"accessSettings": {"reauthSettings": {"method": "SECURE_KEY", "maxAge": "300s"}}}
        await api("PATCH", f"{resource}:iapSettings?updateMask=accessSettings.reauthSettings", settings)
    await api("POST", f"{web}/compute/services/missing:getIamPolicy", {}, status=404)
    await api("GET", f"v1/projects/{P}:iapSettings")
    await api("GET", "v1/projects/999999999999/iap_web:iapSettings", status=403)
    await api("PATCH", f"{web}:iapSettings", {"nope": 1}, status=400)
    await api("GET", f"v1/projects/{N}/brands", status=404)


async def exercise_usage_and_projects(api: Api) -> None:
    operation = await api("POST", f"v1beta1/projects/{P}/services/iap.googleapis.com:generateServiceIdentity")
    await api("GET", f"v1beta1/{operation['name']}")
    await api("GET", "v1beta1/operations/acat.p2-0-missing", status=404)
    await api("GET", f"v1/projects/{P}/services/iap.googleapis.com")
    await api("GET", "v1/projects/off-project/services/run.googleapis.com")
    for version in ("v1", "v3"):
        await api("GET", f"{version}/projects/{P}")
        await api("GET", f"{version}/projects/nobody", status=403)
        await api("POST", f"{version}/projects/{P}:testIamPermissions", {"permissions": ["run.services.get"]})


async def test_every_api_answers_within_its_discovery_schema(broad_recorder: ResponseRecorder) -> None:
    async with run_gcp_emulator(seed=SEED) as emulator, aiohttp.ClientSession() as session:
        api = Api(session, emulator.url)
        await exercise_compute(api)
        await exercise_run(api)
        await exercise_iap(api)
        await exercise_usage_and_projects(api)

    validator = default_validator()
    problems = broad_recorder.violations(validator)
    assert not problems, "\n".join(map(str, problems))
    answered = {
        m.method_id
        for r in broad_recorder.records
        if r.status < 400
        for m in validator.match(r.method, r.path)
    }
    assert answered >= EXPECTED_METHODS, sorted(EXPECTED_METHODS - answered)
    assert any(r.status >= 400 for r in broad_recorder.records)
