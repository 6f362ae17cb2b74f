"""The seed every simulator test starts from, and its tokens by purpose."""

from __future__ import annotations

from typing import Any

# Tokens of the base seed, named after what they are for.
ADMIN = "glpat-admin-api-000000"
ADMIN_READ_API = "glpat-admin-read-api-0"
ADMIN_CREATE_RUNNER = "glpat-admin-create-00"
ADMIN_MANAGE_RUNNER = "glpat-admin-manage-00"
ADMIN_READ_USER = "glpat-admin-read-user"
EXPIRED = "glpat-admin-expired-0"
REVOKED = "glpat-admin-revoked-0"
ALICE = "glpat-alice-owner-000"  # Owner of group platform
BOB = "glpat-bob-maintainer-0"  # Maintainer of group platform
DAVE = "glpat-dave-developer-"  # Developer of group platform
CAROL = "glpat-carol-project-0"  # Maintainer of project platform/app only
EVE = "glpat-eve-nobody-0000"  # member of nothing

GROUP_REGISTRATION = "GR1348941group-platform"
PROJECT_REGISTRATION = "GR1348941project-app000"
INSTANCE_REGISTRATION = "GR1348941instance-00000"

INSTANCE_RUNNER_TOKEN = "glrt-t1_instancerunner0000"
GROUP_RUNNER_TOKEN = "glrt-t2_grouprunner0000000"
PROJECT_RUNNER_TOKEN = "glrt-t3_projectrunner00000"
LEGACY_RUNNER_TOKEN = "t2_legacyrunnertoken0000"

BASE_SEED: dict[str, Any] = {
    "settings": {"version": "17.11.1-ee", "registration_token": INSTANCE_REGISTRATION},
    "users": [
        {
            "username": "root",
            "admin": True,
            "tokens": [
                {"token": ADMIN, "scopes": ["api"], "name": "admin"},
                {"token": ADMIN_READ_API, "scopes": ["read_api"]},
                {"token": ADMIN_CREATE_RUNNER, "scopes": ["create_runner"]},
                {"token": ADMIN_MANAGE_RUNNER, "scopes": ["manage_runner"]},
                {"token": ADMIN_READ_USER, "scopes": ["read_user"]},
                {"token": EXPIRED, "scopes": ["api"], "expires_at": "2020-01-01"},
                {"token": REVOKED, "scopes": ["api"], "revoked": True},
            ],
        },
        {"username": "alice", "tokens": [{"token": ALICE, "scopes": ["api"]}]},
        {"username": "bob", "tokens": [{"token": BOB, "scopes": ["api"]}]},
        {"username": "dave", "tokens": [{"token": DAVE, "scopes": ["api"]}]},
        {"username": "carol", "tokens": [{"token": CAROL, "scopes": ["api"]}]},
        {"username": "eve", "tokens": [{"token": EVE, "scopes": ["api"]}]},
    ],
    "groups": [
        {
            "path": "platform",  # id 1
            "members": {"alice": "owner", "bob": "maintainer", "dave": "developer"},
            "runners_token": GROUP_REGISTRATION,
        },
        {"path": "platform/ci"},  # id 2
        {"path": "other"},  # id 3
    ],
    "projects": [
        {"path": "platform/app", "members": {"carol": "maintainer"}, "runners_token": PROJECT_REGISTRATION},  # 1
        {"path": "other/secret"},  # id 2
    ],
    "runners": [
        {"id": 1, "description": "instance-shared", "runner_type": "instance_type",
         "token": INSTANCE_RUNNER_TOKEN, "tag_list": ["linux"]},
        {"id": 2, "description": "group-docker", "group": "platform", "token": GROUP_RUNNER_TOKEN,
         "tag_list": ["docker", "linux"], "maintenance_note": "owned by platform",
         "managers": [{"system_id": "s_000000000001", "version": "17.2.0"}]},
        {"id": 3, "description": "project-shell", "project": "platform/app", "token": PROJECT_RUNNER_TOKEN,
         "tag_list": ["shell"], "run_untagged": False},
        {"id": 4, "description": "legacy-group", "group": "platform/ci", "token": LEGACY_RUNNER_TOKEN},
        {"id": 5, "description": "other-group", "group": "other", "paused": True},
    ],
}
