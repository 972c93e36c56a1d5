"""Resource Manager projects.get (id -> number) and testIamPermissions, v3 and v1."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core.exceptions import Forbidden
from google.cloud import resourcemanager_v3
from googleapiclient.errors import HttpError

ASKED = ["run.services.get", "run.services.setIamPolicy", "iap.webServices.setIamPolicy"]


def test_v3_get_maps_the_id_to_the_number(projects: resourcemanager_v3.ProjectsClient) -> None:
    project = projects.get_project(name="projects/demo-project")
    assert project.name == "projects/123456789012"
    assert project.project_id == "demo-project"
    assert project.state == resourcemanager_v3.Project.State.ACTIVE
    assert project.display_name == "Demo"
    assert project.parent == "organizations/555"
    assert dict(project.labels) == {"env": "test"}
    assert projects.get_project(name="projects/123456789012").project_id == "demo-project"


def test_v1_get_maps_the_id_to_the_number(projects_v1: Any) -> None:
    project = projects_v1.get(projectId="demo-project").execute()
    assert project["projectNumber"] == "123456789012"
    assert project["lifecycleState"] == "ACTIVE"
    assert project["parent"] == {"type": "organization", "id": "555"}


@pytest.mark.parametrize("name", ["projects/no-such-project", "projects/hidden-project"])
def test_v3_unknown_or_invisible_project_is_denied(
    projects: resourcemanager_v3.ProjectsClient, name: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        projects.get_project(name=name)
    error = caught.value.response.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert "(or it may not exist)" in error["message"]


def test_v1_unknown_project_is_denied(projects_v1: Any) -> None:
    with pytest.raises(HttpError) as caught:
        projects_v1.get(projectId="no-such-project").execute()
    assert caught.value.status_code == 403


def test_v3_test_iam_permissions_defaults_to_everything(projects: resourcemanager_v3.ProjectsClient) -> None:
    answer = projects.test_iam_permissions(
        request={"resource": "projects/demo-project", "permissions": ASKED}
    )
    assert list(answer.permissions) == ASKED


def test_test_iam_permissions_answers_from_the_seeded_set(
    projects: resourcemanager_v3.ProjectsClient, projects_v1: Any
) -> None:
    v3 = projects.test_iam_permissions(request={"resource": "projects/narrow-project", "permissions": ASKED})
    assert list(v3.permissions) == ["run.services.get"]
    v1 = projects_v1.testIamPermissions(resource="narrow-project", body={"permissions": ASKED}).execute()
    assert v1 == {"permissions": ["run.services.get"]}
    none = projects_v1.testIamPermissions(resource="hidden-project", body={"permissions": ASKED}).execute()
    assert none == {}


def test_test_iam_permissions_on_unknown_project_is_denied(
    projects: resourcemanager_v3.ProjectsClient,
) -> None:
    with pytest.raises(Forbidden):
        projects.test_iam_permissions(request={"resource": "projects/no-such-project", "permissions": ASKED})
