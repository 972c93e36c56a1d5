"""Label and field selectors (kopf's watching selectors, kubectl -l, kubectl wait's fieldSelector)."""

from __future__ import annotations

import pytest

from iap_sandbox.emulators.kube import selectors

from .conftest import WIDGETS, Api, widget

OBJ = {
    "metadata": {"name": "n", "namespace": "ns", "labels": {"app": "web", "tier": "front"}},
    "spec": {"on": True},
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app in (web,api)", True),
        ("app notin (web, api)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web,tier=back", False),
        ("app in (api),tier", False),
    ],
)
def test_label_selector(selector: str, expected: bool) -> None:
    assert selectors.parse_label_selector(selector)(OBJ) is expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=n", True),
        ("metadata.name==n,metadata.namespace=ns", True),
        ("metadata.name!=n", False),
        ("spec.on=true", True),
        ("spec.missing=", True),
    ],
)
def test_field_selector(selector: str, expected: bool) -> None:
    assert selectors.parse_field_selector(selector)(OBJ) is expected


def test_unparsable_selector() -> None:
    with pytest.raises(selectors.SelectorError):
        selectors.parse_label_selector("a in b")


async def test_list_filters_by_label_and_field(api: Api) -> None:
    await api.post(WIDGETS, widget("a", labels={"app": "web"}))
    await api.post(WIDGETS, widget("b", labels={"app": "db"}))
    by_label = await api.get(WIDGETS, labelSelector="app=web")
    by_field = await api.get(WIDGETS, fieldSelector="metadata.name=b")
    assert [i["metadata"]["name"] for i in by_label.body["items"]] == ["a"]
    assert [i["metadata"]["name"] for i in by_field.body["items"]] == ["b"]
    assert (await api.get(WIDGETS, labelSelector="a in b")).status == 400
