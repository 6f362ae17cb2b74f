"""Runner lists, their filters and pagination; group and project lookups."""

from __future__ import annotations

import pytest
import requests

from tests.simulator.sim_seed import ADMIN, ALICE, BOB, CAROL, DAVE, EVE, GROUP_RUNNER_TOKEN

FORBIDDEN = {"message": "403 Forbidden"}


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()]


# ---------------------------------------------------------------------- who sees which runners


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (ALICE, [2, 3, 4]),  # owned groups (and subgroups), their projects
        (BOB, [3]),  # group Maintainer: project runners only
        (CAROL, [3]),
        (EVE, []),
        (ADMIN, []),  # ownership, not admin rights, decides
    ],
)
def test_owned_runners(api, token, expected):
    assert ids(api("GET", "/runners", token=token)) == expected


def test_all_runners_admin_only(api, gl_for):
    assert ids(api("GET", "/runners/all", token=ADMIN)) == [1, 2, 3, 4, 5]
    response = api("GET", "/runners/all", token=ALICE)
    assert response.status_code == 403 and response.json() == FORBIDDEN
    assert [r.id for r in gl_for(ADMIN).runners.all(get_all=True)] == [1, 2, 3, 4, 5]


def test_list_entity_fields(api):
    item = api("GET", "/runners/all", token=ADMIN).json()[0]
    assert list(item) == ["id", "description", "ip_address", "active", "paused", "is_shared", "runner_type", "name",
                          "online", "created_at", "status", "job_execution_status"]
    assert item["is_shared"] is True and item["runner_type"] == "instance_type"


def test_group_runners_include_ancestors_and_instance(api, gl_for):
    assert ids(api("GET", "/groups/1/runners", token=ALICE)) == [1, 2]
    assert ids(api("GET", "/groups/platform%2Fci/runners", token=BOB)) == [1, 2, 4]
    assert [r.id for r in gl_for(ALICE).groups.get(2, lazy=True).runners.list(get_all=True)] == [1, 2, 4]


def test_group_runners_without_shared_runners(sim, api):
    seed = {"users": [{"username": "root", "admin": True, "tokens": [{"token": ADMIN}]}],
            "groups": [{"path": "g", "shared_runners_enabled": False}],
            "runners": [{"runner_type": "instance_type"}, {"group": "g"}]}
    sim.reset(seed)
    assert ids(api("GET", "/groups/g/runners", token=ADMIN)) == [2]


def test_group_runners_permission(api):
    response = api("GET", "/groups/1/runners", token=DAVE)
    assert response.status_code == 403 and response.json() == FORBIDDEN
    response = api("GET", "/groups/1/runners", token=EVE)
    assert response.status_code == 404 and response.json() == {"message": "404 Group Not Found"}
    assert api("GET", "/groups/nope/runners", token=ADMIN).json() == {"message": "404 Group Not Found"}


def test_group_lookup_and_permission_come_before_parameter_validation(api):
    assert api("GET", "/groups/1/runners", token=EVE, params={"type": "bogus"}).status_code == 404
    assert api("GET", "/groups/1/runners", token=DAVE, params={"type": "bogus"}).status_code == 403
    assert api("GET", "/groups/1/runners", token=BOB, params={"type": "bogus"}).status_code == 400


def test_project_runners(sim, api, gl_for):
    assert ids(api("GET", "/projects/1/runners", token=CAROL)) == [1, 2, 3]
    assert ids(api("GET", "/projects/platform%2Fapp/runners", token=BOB)) == [1, 2, 3]
    assert [r.id for r in gl_for(ADMIN).projects.get("other/secret", lazy=True).runners.list(get_all=True)] == [1, 5]
    response = api("GET", "/projects/1/runners", token=DAVE)
    assert response.status_code == 403 and response.json() == FORBIDDEN
    response = api("GET", "/projects/2/runners", token=CAROL)
    assert response.status_code == 404 and response.json() == {"message": "404 Project Not Found"}


def test_project_runners_without_group_or_shared_runners(sim, api):
    seed = {"users": [{"username": "root", "admin": True, "tokens": [{"token": ADMIN}]}],
            "projects": [{"path": "g/p", "group_runners_enabled": False, "shared_runners_enabled": False}],
            "runners": [{"runner_type": "instance_type"}, {"group": "g"}, {"project": "g/p"}]}
    sim.reset(seed)
    assert ids(api("GET", "/projects/g%2Fp/runners", token=ADMIN)) == [3]


# ---------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "group_type"}, [2, 4, 5]),
        ({"type": "project_type"}, [3]),
        ({"status": "paused"}, [5]),
        ({"status": "active"}, [1, 2, 3, 4]),
        ({"status": "never_contacted"}, [1, 2, 3, 4, 5]),
        ({"status": "online"}, []),
        ({"paused": "true"}, [5]),
        ({"paused": "false"}, [1, 2, 3, 4]),
        ({"tag_list": "linux"}, [1, 2]),
        ({"tag_list": "docker,linux"}, [2]),
        ({"tag_list[]": ["linux", "shell"]}, []),
        ({"version_prefix": "17."}, [2]),
        ({"version_prefix": "17.2.0"}, [2]),
        ({"version_prefix": "16"}, []),
        ({"version_prefix": "1"}, []),  # major version 1, not "starts with 1"
        ({"version_prefix": "17.20"}, []),
        ({"scope": "shared"}, [1]),
        ({"scope": "specific"}, [2, 3, 4, 5]),
        ({"scope": "project_type"}, [3]),
        ({"type": "group_type", "paused": "false", "tag_list": "linux"}, [2]),
    ],
)
def test_filters(api, params, expected):
    assert ids(api("GET", "/runners/all", token=ADMIN, params=params)) == expected


def test_status_filters_follow_contact(api):
    api("POST", "/runners/verify", json={"token": GROUP_RUNNER_TOKEN, "system_id": "s_x"})
    assert ids(api("GET", "/runners/all", token=ADMIN, params={"status": "online"})) == [2]
    assert ids(api("GET", "/runners/all", token=ADMIN, params={"status": "never_contacted"})) == [1, 3, 4, 5]


def test_filters_through_python_gitlab(gl_for):
    gl = gl_for(ADMIN)
    assert [r.id for r in gl.runners_all.list(type="group_type", paused=True, get_all=True)] == [5]
    assert [r.id for r in gl.runners_all.list(tag_list=["docker", "linux"], get_all=True)] == [2]
    assert [r.id for r in gl_for(ALICE).runners.list(type="group_type", get_all=True)] == [2, 4]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"type": "shared"}, "type does not have a valid value"),
        ({"status": "sleeping"}, "status does not have a valid value"),
        ({"paused": "maybe"}, "paused is invalid"),
        ({"version_prefix": "V15"}, "version_prefix is invalid"),
        ({"scope": "everything"}, "scope does not have a valid value"),
        ({"page": "two"}, "page is invalid"),
        ({"per_page": "many"}, "per_page is invalid"),
        ({"type": "x", "status": "y"}, "type does not have a valid value, status does not have a valid value"),
    ],
)
def test_invalid_filters(api, params, error):
    for path in ("/runners/all", "/runners", "/projects/1/runners"):
        response = api("GET", path, token=ADMIN, params=params)
        assert response.status_code == 400, path
        assert response.json() == {"error": error}


def test_scope_not_allowed_on_owned_runners(api):
    response = api("GET", "/runners", token=ALICE, params={"scope": "shared"})
    assert response.status_code == 400 and response.json() == {"message": "Scope contains invalid value"}
    assert ids(api("GET", "/runners", token=ALICE, params={"scope": "active"})) == [2, 3, 4]


def test_group_runners_ignore_scope(api):
    assert ids(api("GET", "/groups/1/runners", token=ALICE, params={"scope": "shared"})) == [1, 2]


# ---------------------------------------------------------------------- pagination


@pytest.fixture
def many(sim):
    """45 group runners in group platform (ids 1..45)."""
    sim.reset(
        {
            "users": [{"username": "root", "admin": True, "tokens": [{"token": ADMIN}]}],
            "groups": [{"path": "platform"}],
            "runners": [{"description": f"r{i}", "group": "platform", "tag_list": ["t"]} for i in range(45)],
        }
    )
    return sim


def test_pagination_headers(many, api):
    response = api("GET", "/runners/all", token=ADMIN, params={"type": "group_type", "page": 2, "per_page": 20})
    assert ids(response) == list(range(21, 41))
    headers = response.headers
    assert (headers["X-Page"], headers["X-Per-Page"], headers["X-Prev-Page"], headers["X-Next-Page"]) == (
        "2", "20", "1", "3")
    assert (headers["X-Total"], headers["X-Total-Pages"]) == ("45", "3")
    base = f"{many.url}/api/v4/runners/all"
    assert headers["Link"] == (
        f'<{base}?page=1&per_page=20&type=group_type>; rel="prev", '
        f'<{base}?page=3&per_page=20&type=group_type>; rel="next", '
        f'<{base}?page=1&per_page=20&type=group_type>; rel="first", '
        f'<{base}?page=3&per_page=20&type=group_type>; rel="last"'
    )


def test_first_and_last_page(many, api):
    first = api("GET", "/runners/all", token=ADMIN).headers
    assert (first["X-Page"], first["X-Per-Page"], first["X-Prev-Page"], first["X-Next-Page"]) == ("1", "20", "", "2")
    assert 'rel="prev"' not in first["Link"]
    last = api("GET", "/runners/all", token=ADMIN, params={"page": 3}).headers
    assert (last["X-Prev-Page"], last["X-Next-Page"]) == ("2", "")
    assert 'rel="next"' not in last["Link"]
    assert len(api("GET", "/runners/all", token=ADMIN, params={"page": 3}).json()) == 5


def test_per_page_is_clamped_and_beyond_last_is_empty(many, api):
    response = api("GET", "/runners/all", token=ADMIN, params={"per_page": 500})
    assert response.headers["X-Per-Page"] == "100" and len(response.json()) == 45
    beyond = api("GET", "/runners/all", token=ADMIN, params={"page": 9})
    assert beyond.json() == [] and beyond.headers["X-Next-Page"] == ""


def test_empty_list_has_one_page(api):
    response = api("GET", "/runners", token=EVE)
    assert response.json() == []
    assert (response.headers["X-Total"], response.headers["X-Total-Pages"]) == ("0", "1")
    assert response.headers["Link"].count("page=1&") == 2


def test_link_uses_the_host_the_client_used(many):
    url = many.url.replace("127.0.0.1", "localhost")
    response = requests.get(f"{url}/api/v4/runners/all", headers={"PRIVATE-TOKEN": ADMIN}, timeout=5)
    assert response.links["next"]["url"] == f"{url}/api/v4/runners/all?page=2&per_page=20"


def test_link_keeps_an_encoded_path(sim, api):
    many_in_subgroup = {"users": [{"username": "root", "admin": True, "tokens": [{"token": ADMIN}]}],
                        "groups": [{"path": "a/b"}],
                        "runners": [{"group": "a/b"} for _index in range(3)]}
    sim.reset(many_in_subgroup)
    response = api("GET", "/groups/a%2Fb/runners", token=ADMIN, params={"per_page": 1})
    assert response.links["next"]["url"] == f"{sim.url}/api/v4/groups/a%2Fb/runners?page=2&per_page=1"


def test_get_all_follows_links_without_warnings(many, gl_for):
    gl = gl_for(ADMIN)
    runners = gl.runners_all.list(get_all=True, per_page=20)  # UserWarning would fail the test
    assert [r.id for r in runners] == list(range(1, 46))
    pages = many.requests("GET", "/api/v4/runners/all")
    assert [e["query"]["page"] for e in pages[1:]] == ["2", "3"]
    assert len(pages) == 3


def test_iterator_reads_totals(many, gl_for):
    listing = gl_for(ADMIN).runners_all.list(iterator=True, per_page=10)
    assert (listing.total, listing.total_pages, listing.per_page, listing.next_page) == (45, 5, 10, 2)
    assert len(list(listing)) == 45


def test_partial_list_warns_like_gitlab(many, gl_for):
    with pytest.warns(UserWarning, match="45 items"):
        assert len(gl_for(ADMIN).runners_all.list()) == 20


# ---------------------------------------------------------------------- groups and projects


def test_group_lookup(sim, gl_for, api):
    gl = gl_for(ALICE)
    group = gl.groups.get("platform/ci")
    expected = (2, "platform/ci", 1, f"{sim.url}/groups/platform/ci")
    assert (group.id, group.full_path, group.parent_id, group.web_url) == expected
    assert gl.groups.get(1).runners_token == "GR1348941group-platform"  # Owner sees it
    assert "runners_token" not in api("GET", "/groups/1", token=BOB).json()
    assert api("GET", "/groups/1", token=EVE).json() == {"message": "404 Group Not Found"}
    assert api("GET", "/groups/PLATFORM", token=ALICE).json()["id"] == 1


def test_project_lookup(sim, gl_for, api):
    project = gl_for(CAROL).projects.get("platform/app")
    expected = (1, "platform/app", "platform")
    assert (project.id, project.path_with_namespace, project.namespace["full_path"]) == expected
    assert project.runners_token == "GR1348941project-app000"
    assert "runners_token" not in api("GET", "/projects/1", token=DAVE).json()
    assert api("GET", "/projects/1", token=EVE).json() == {"message": "404 Project Not Found"}
    assert api("GET", "/projects/999", token=ADMIN).status_code == 404
    # An unencoded slash is another route altogether.
    assert api("GET", "/projects/platform/app", token=ADMIN).json() == {"error": "404 Not Found"}


def test_subgroup_member_can_see_parent_group(sim, api):
    sim.reset({"users": [{"username": "ann", "tokens": [{"token": "glpat-ann"}]}],
               "groups": [{"path": "top"}, {"path": "top/sub", "members": {"ann": "developer"}}, {"path": "else"}]})
    assert api("GET", "/groups/top", token="glpat-ann").status_code == 200
    assert api("GET", "/groups/else", token="glpat-ann").status_code == 404
