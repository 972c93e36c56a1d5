"""Discovery: what kopf's resource scan and kubectl's RESTMapper read."""

from __future__ import annotations

from .conftest import WIDGET_CRD, Api


async def test_core_v1_lists_namespaces_secrets_and_events(api: Api) -> None:
    reply = await api.get("/api/v1")
    names = {resource["name"]: resource for resource in reply.body["resources"]}
    assert reply.status == 200
    assert names["namespaces"]["namespaced"] is False
    assert names["namespaces"]["kind"] == "Namespace"
    assert {"secrets", "events", "configmaps"} <= set(names)
    assert "watch" in names["secrets"]["verbs"]


async def test_api_versions_and_server_version(api: Api) -> None:
    assert (await api.get("/api")).body["versions"] == ["v1"]
    assert (await api.get("/version")).body["major"] == "1"


async def test_groups_include_builtins_and_crd_groups_with_preferred_version(api: Api) -> None:
    groups = {group["name"]: group for group in (await api.get("/apis")).body["groups"]}
    assert {"coordination.k8s.io", "events.k8s.io", "apiextensions.k8s.io", "kopf.dev"} <= set(groups)
    assert groups["example.com"]["preferredVersion"]["version"] == "v1"  # GA before beta
    assert [v["version"] for v in groups["example.com"]["versions"]] == ["v1", "v1beta1"]
    group = await api.get("/apis/example.com")
    assert group.body["kind"] == "APIGroup"


async def test_crd_kinds_list_their_status_subresource(api: Api) -> None:
    resources = (await api.get("/apis/example.com/v1")).body["resources"]
    names = {resource["name"] for resource in resources}
    assert names == {"widgets", "widgets/status", "gadgets"}
    beta = (await api.get("/apis/example.com/v1beta1")).body["resources"]
    assert {resource["name"] for resource in beta} == {"widgets", "widgets/status"}
    widgets = next(r for r in resources if r["name"] == "widgets")
    assert widgets["shortNames"] == ["wd"]
    assert widgets["namespaced"] is True


async def test_unknown_group_and_path_answer_404_status(api: Api) -> None:
    for path in ("/apis/nothing.example.com", "/apis/example.com/v9", "/apis/example.com/v1/nothings"):
        reply = await api.get(path)
        assert reply.status == 404
        assert reply.body["kind"] == "Status"
        assert reply.body["reason"] == "NotFound"


async def test_crd_deletion_removes_its_group(api: Api) -> None:
    crd_path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{WIDGET_CRD['metadata']['name']}"
    await api.delete(crd_path)
    await api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com")
    groups = {group["name"] for group in (await api.get("/apis")).body["groups"]}
    assert "example.com" not in groups
    assert (await api.get("/apis/example.com/v1")).status == 404


async def test_openapi_v3_publishes_each_group_version_with_field_validation(api: Api) -> None:
    index = (await api.get("/openapi/v3")).body["paths"]
    assert {"api/v1", "apis/example.com/v1", "apis/apps/v1"} <= set(index)
    url = index["apis/example.com/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/example.com/v1?hash=")
    document = (await api.get(url.split("?")[0])).body
    schema = document["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "version": "v1", "kind": "Widget"}
    ]
    assert schema["properties"]["spec"]["properties"]["color"]["enum"] == ["blue", "red"]
    assert schema["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in document["components"]["schemas"]
    patch = document["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "example.com",
        "version": "v1",
        "kind": "Widget",
    }
    assert {p["name"] for p in patch["parameters"] if p["in"] == "query"} >= {
        "fieldValidation",
        "fieldManager",
    }
    assert (await api.get("/openapi/v3/apis/nothing.example.com/v1")).status == 404


async def test_openapi_v2_has_every_kind(api: Api) -> None:
    document = (await api.get("/openapi/v2")).body
    assert document["swagger"] == "2.0"
    widget = document["definitions"]["com.example.v1.Widget"]
    assert (
        widget["properties"]["metadata"]["$ref"]
        == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    assert "io.k8s.api.core.v1.Secret" in document["definitions"]
    assert "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}" in document["paths"]
