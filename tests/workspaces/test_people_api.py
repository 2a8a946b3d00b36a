"""GET /api/workspaces/{id}/people: the approval assignees the inspector offers."""

from django.contrib.auth.models import Group

from workspaces.models import Role


def test_people_lists_members_and_their_groups(member, make_user, workspace, api_for):
    editor = member(Role.EDITOR, username="dana")
    approver = member(Role.APPROVER, username="rui")
    approver.first_name, approver.last_name = "Rui", "Costa"
    approver.save()
    reviewers = Group.objects.create(name="Reviewers")
    reviewers.user_set.add(approver)
    outsiders = Group.objects.create(name="Outsiders")
    outsiders.user_set.add(make_user("stranger"))

    response = api_for(editor).get(f"/api/workspaces/{workspace.pk}/people")

    assert response.status_code == 200
    assert response.json() == {
        "users": [
            {"username": "dana", "display_name": "dana"},
            {"username": "rui", "display_name": "Rui Costa"},
        ],
        "groups": [{"name": "Reviewers"}],
    }


def test_people_of_a_foreign_workspace_is_not_found(member, other_workspace, api_for):
    editor = member(Role.EDITOR, username="dana")
    member(Role.OWNER, username="olga", ws=other_workspace)

    response = api_for(editor).get(f"/api/workspaces/{other_workspace.pk}/people")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_people_needs_authentication(workspace, api_for):
    assert api_for().get(f"/api/workspaces/{workspace.pk}/people").status_code == 401
