"""One runner's whole life through python-gitlab, as the collection will drive it."""

from __future__ import annotations

import gitlab
import pytest

from tests.simulator.sim_seed import ALICE


def test_create_list_verify_manage_reset_delete(sim, gl_for):
    gl = gl_for(ALICE, per_page=20)
    gl.auth()
    assert gl.personal_access_tokens.get("self").scopes == ["api"]
    group = gl.groups.get("platform")

    created = [
        gl.user.runners.create({"runner_type": "group_type", "group_id": group.id, "description": f"fleet-{i}",
                                "tag_list": ["fleet"], "run_untagged": False})
        for i in range(25)
    ]
    target = created[-1]
    assert target.token.startswith("glrt-t2_")

    # Listing spans two pages; python-gitlab follows Link rel="next" (no base-URL warning).
    fleet = group.runners.list(tag_list=["fleet"], get_all=True)
    assert len(fleet) == 25
    assert len(sim.requests("GET", "/api/v4/groups/1/runners")) == 2
    match = [r for r in fleet if r.description == "fleet-24"]
    assert [r.id for r in match] == [target.id]

    # The host's gitlab-runner proves the token, which records its manager.
    gl.runners.verify(target.token, system_id="s_0123456789ab")
    managers = gl.http_get(f"/runners/{target.id}/managers")
    assert [(m["system_id"], m["status"]) for m in managers] == [("s_0123456789ab", "online")]
    assert gl.runners.get(target.id).status == "online"

    # Rotate centrally: the old token stops working at once.
    fresh = gl.http_post(f"/runners/{target.id}/reset_authentication_token")
    with pytest.raises(gitlab.GitlabVerifyError) as caught:
        gl.runners.verify(target.token, system_id="s_0123456789ab")
    assert caught.value.response_code == 403
    gl.runners.verify(fresh["token"], system_id="s_0123456789ab")

    # Drift correction, then removal of the manager and the runner.
    runner = gl.runners.get(target.id)
    runner.tag_list = ["fleet", "arm64"]
    runner.save()
    assert gl.runners.get(target.id).tag_list == ["fleet", "arm64"]
    gl.http_delete("/runners/managers", token=fresh["token"], system_id="s_0123456789ab")
    assert gl.http_get(f"/runners/{target.id}/managers") == []
    gl.runners.delete(target.id)
    with pytest.raises(gitlab.GitlabGetError):
        gl.runners.get(target.id)
    assert len(group.runners.list(tag_list=["fleet"], get_all=True)) == 24
