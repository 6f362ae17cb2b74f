"""Seed parsing, without a server: ids, defaults, derived values and error messages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.gitlab_sim.state import SeedError, load_seed_file, state_from_seed, version_matches_prefix


def test_ids_follow_declaration_order_per_kind():
    state = state_from_seed(
        {
            "users": [{"username": "a"}, {"username": "b"}],
            "groups": [{"path": "x/y"}, {"path": "z"}],  # x is created first, as y's parent
            "projects": [{"path": "z/p"}, {"path": "x/y/q"}],
            "runners": [{"group": "z"}, {"id": 40, "group": "z"}, {"group": "x"}],
        }
    )
    assert [(u.id, u.username) for u in state.users.values()] == [(1, "a"), (2, "b")]
    assert [(g.id, g.full_path, g.parent_id) for g in state.groups.values()] == [
        (1, "x", None), (2, "x/y", 1), (3, "z", None)]
    assert [(p.id, p.full_path, p.group_id) for p in state.projects.values()] == [(1, "z/p", 3), (2, "x/y/q", 2)]
    assert sorted(state.runners) == [1, 40, 41]


def test_runner_defaults_and_derived_values():
    contacted = "2026-01-02T03:04:05.678Z"
    state = state_from_seed(
        {
            "groups": [{"path": "g"}],
            "runners": [{"group": "g", "managers": ["s_a", {"system_id": "s_b", "contacted_at": contacted}]},
                        {"runner_type": "instance_type", "token": "plain-legacy-token"}],
        }
    )
    group_runner, instance_runner = state.runners.values()
    assert group_runner.runner_type == "group_type" and group_runner.token.startswith("glrt-t2_")
    assert (group_runner.run_untagged, group_runner.locked, group_runner.active) == (True, False, True)
    assert group_runner.contacted_at == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert list(group_runner.managers) == ["s_a", "s_b"]
    assert instance_runner.registration_type == "registration_token"


def test_auto_created_parent_can_be_declared_later():
    state = state_from_seed({"users": [{"username": "o"}],
                             "groups": [{"path": "a/b"}, {"path": "a", "members": {"o": "owner"}}]})
    assert state.group_by_path("a").members == {1: 50}


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ({"extra": []}, "seed: unknown key(s) extra"),
        ({"users": [{"username": "a"}, {"username": "a"}]}, "users[1]: duplicate username"),
        ({"users": [{"username": "a", "tokens": [{"token": "t"}, {"token": "t"}]}]}, "duplicate token"),
        ({"users": [{"username": "a", "tokens": [{"token": "t", "expires_at": "soon"}]}]}, "not a date"),
        ({"groups": [{"path": "g"}, {"path": "g"}]}, "declared twice"),
        ({"groups": [{"path": "/g"}]}, "not a full path"),
        ({"groups": [{"path": "g", "members": {"x": "owner"}}]}, "unknown user 'x'"),
        ({"users": [{"username": "x"}], "groups": [{"path": "g", "members": {"x": "boss"}}]}, "unknown role"),
        ({"projects": [{"path": "p"}]}, "a project lives in a group"),
        ({"runners": [{"runner_type": "group_type"}]}, "needs 'group'"),
        ({"groups": [{"path": "g"}], "runners": [{"runner_type": "instance_type", "group": "g"}]}, "has no group"),
        ({"runners": [{"project": "g/p"}]}, "unknown project"),
        ({"runners": [{"runner_type": "everywhere"}]}, "runners[0].runner_type"),
        ({"runners": [{"access_level": "all"}]}, "runners[0].access_level"),
        ({"runners": [{"id": 1}, {"id": 1}]}, "already used"),
        ({"runners": [{"token": "glrt-x"}, {"token": "glrt-x"}]}, "another runner has this token"),
        ({"runners": [{"contacted_at": "yesterday"}]}, "not an ISO 8601 timestamp"),
        ({"runners": [{"managers": ["s", "s"]}]}, "duplicate system_id"),
        ({"settings": {"allow_runner_registration_token": "yes"}}, "expected true or false"),
        ({"settings": {"group_runner_token_expiration_interval": -5}}, "positive number of seconds"),
    ],
)
def test_seed_errors_name_the_entry(seed, message):
    with pytest.raises(SeedError) as caught:
        state_from_seed(seed)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("version", "prefix", "matches"),
    [
        ("16.11.1", "16", True),
        ("16.11.1", "16.", True),
        ("16.11.1", "1", False),  # whole components, unlike a string prefix
        ("16.11.1", "16.1", False),
        ("16.1.0", "16.1", True),
        ("16.1.0", "16.1.", True),
        ("16.1.20", "16.1.2", False),
        ("16.1.2", "16.1.2", True),
        ("17.0.0~beta.1", "17.0.0", True),
        (None, "16", False),
    ],
)
def test_version_prefix_semantics(version, prefix, matches):
    assert version_matches_prefix(version, prefix) is matches


def test_example_seed_in_the_readme_loads():
    state = state_from_seed(load_seed_file(Path(__file__).parents[1] / "gitlab_sim" / "example-seed.yml"))
    assert [r.description for r in state.runners.values()] == ["instance-shared", "platform-docker", "app-shell"]
