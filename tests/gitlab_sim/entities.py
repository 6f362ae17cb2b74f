"""JSON shapes of GitLab's API entities, built from the simulator's model.

``base`` is the client's base URL (``http://host:port``), used wherever GitLab
renders a ``web_url``.  Field order follows GitLab's Grape entities.
"""

from __future__ import annotations

from typing import Any

from .state import (
    ROLE_LEVELS,
    Group,
    Job,
    PersonalAccessToken,
    Project,
    Runner,
    RunnerManager,
    SimState,
    User,
    format_time,
)


def user_basic(user: User, base: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": f"{base}/{user.username}",
    }


def current_user(user: User, base: str) -> dict[str, Any]:
    """``UserPublic``; ``is_admin`` exists only for administrators (``UserWithAdmin``)."""
    body = user_basic(user, base) | {
        "created_at": format_time(user.created_at),
        "bio": "",
        "location": "",
        "public_email": None,
        "website_url": "",
        "organization": "",
        "job_title": "",
        "bot": False,
        "last_sign_in_at": None,
        "confirmed_at": format_time(user.created_at),
        "email": user.email,
        "projects_limit": 100000,
        "can_create_group": True,
        "can_create_project": True,
        "two_factor_enabled": False,
        "external": False,
        "private_profile": False,
        "commit_email": user.email,
    }
    if user.admin:
        body["is_admin"] = True
    return body


def personal_access_token(token: PersonalAccessToken, active: bool) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "revoked": token.revoked,
        "created_at": format_time(token.created_at),
        "description": token.description,
        "scopes": list(token.scopes),
        "user_id": token.user_id,
        "last_used_at": format_time(token.last_used_at),
        "active": active,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def basic_group(group: Group, base: str) -> dict[str, Any]:
    return {"id": group.id, "web_url": f"{base}/groups/{group.full_path}", "name": group.name}


def _full_name(state: SimState, group: Group) -> str:
    return " / ".join(g.name for g in reversed(state.self_and_ancestors(group)))


def group_detail(state: SimState, group: Group, viewer: User, base: str) -> dict[str, Any]:
    body = {
        "id": group.id,
        "web_url": f"{base}/groups/{group.full_path}",
        "name": group.name,
        "path": group.path,
        "description": group.description,
        "visibility": "private",
        "shared_runners_setting": "enabled" if group.shared_runners_enabled else "disabled_and_unoverridable",
        "avatar_url": None,
        "full_name": _full_name(state, group),
        "full_path": group.full_path,
        "created_at": format_time(group.created_at),
        "parent_id": group.parent_id,
    }
    # GroupDetail exposes the registration token only to those who can admin the group.
    if viewer.admin or state.group_level(viewer, group) >= ROLE_LEVELS["owner"]:
        body["runners_token"] = group.runners_token
    return body


def basic_project(state: SimState, project: Project, base: str) -> dict[str, Any]:
    group = state.groups[project.group_id]
    return {
        "id": project.id,
        "description": project.description,
        "name": project.name,
        "name_with_namespace": f"{_full_name(state, group)} / {project.name}",
        "path": project.path,
        "path_with_namespace": project.full_path,
        "created_at": format_time(project.created_at),
        "default_branch": "main",
        "tag_list": [],
        "topics": [],
        "web_url": f"{base}/{project.full_path}",
        "avatar_url": None,
        "forks_count": 0,
        "star_count": 0,
        "namespace": {
            "id": group.id,
            "name": group.name,
            "path": group.path,
            "kind": "group",
            "full_path": group.full_path,
            "parent_id": group.parent_id,
            "web_url": f"{base}/groups/{group.full_path}",
        },
    }


def project_detail(state: SimState, project: Project, viewer: User, base: str) -> dict[str, Any]:
    body = basic_project(state, project, base) | {
        "visibility": "private",
        "archived": False,
        "shared_runners_enabled": project.shared_runners_enabled,
        "group_runners_enabled": project.group_runners_enabled,
    }
    if viewer.admin or state.project_level(viewer, project) >= ROLE_LEVELS["maintainer"]:
        body["runners_token"] = project.runners_token
    return body


def runner(state: SimState, r: Runner, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": r.id,
        "description": r.description,
        "ip_address": None,
        "active": r.active,
        "paused": not r.active,
        "is_shared": r.runner_type == "instance_type",
        "runner_type": r.runner_type,
        "name": r.name,
        "online": state.online(r.contacted_at),
    }
    if r.creator_id in state.users:
        body["created_by"] = user_basic(state.users[r.creator_id], base)
    body |= {
        "created_at": format_time(r.created_at),
        "status": state.rest_status(r),
        "job_execution_status": "idle",
    }
    return body


def runner_details(state: SimState, r: Runner, viewer: User, base: str) -> dict[str, Any]:
    latest = state.latest_manager(r)
    projects = [state.projects[p] for p in r.project_ids]
    groups = [state.groups[r.group_id]] if r.group_id else []
    return runner(state, r, base) | {
        "tag_list": list(r.tag_list),
        "run_untagged": r.run_untagged,
        "locked": r.locked,
        "maximum_timeout": r.maximum_timeout,
        "access_level": r.access_level,
        "version": latest.version if latest else None,
        "revision": latest.revision if latest else None,
        "platform": latest.platform if latest else None,
        "architecture": latest.architecture if latest else None,
        "contacted_at": format_time(r.contacted_at),
        "maintenance_note": r.maintenance_note if state.can_update_runner(viewer, r) else None,
        "projects": [basic_project(state, p, base) for p in projects if state.can_read_project(viewer, p)],
        "groups": [basic_group(g, base) for g in groups if state.can_read_group(viewer, g)],
    }


def runner_manager(state: SimState, m: RunnerManager) -> dict[str, Any]:
    return {
        "id": m.id,
        "system_id": m.system_id,
        "version": m.version,
        "revision": m.revision,
        "platform": m.platform,
        "architecture": m.architecture,
        "created_at": format_time(m.created_at),
        "contacted_at": format_time(m.contacted_at),
        "ip_address": m.ip_address,
        "status": state.status(m.created_at, m.contacted_at),
        "job_execution_status": "idle",
    }


def registration_details(r: Runner) -> dict[str, Any]:
    return {"id": r.id, "token": r.token, "token_expires_at": format_time(r.token_expires_at)}


def token_with_expiration(r: Runner) -> dict[str, Any]:
    return {"token": r.token, "token_expires_at": format_time(r.token_expires_at)}


def job_payload(job: Job) -> dict[str, Any]:
    """What POST /jobs/request answers with a job (201): the parts a shell executor needs."""
    return {
        "id": job.id,
        "token": job.token,
        "allow_git_fetch": False,
        "job_info": {"id": job.id, "name": job.name, "stage": "test", "project_id": None, "project_name": None},
        "git_info": {},
        "runner_info": {"timeout": job.timeout},
        "variables": [{"key": "CI_JOB_ID", "value": str(job.id), "public": True, "masked": False}],
        "steps": [{"name": "script", "script": list(job.script), "timeout": job.timeout, "when": "on_success",
                   "allow_failure": False}],
        "image": None,
        "services": [],
        "artifacts": None,
        "cache": [],
        "credentials": [],
        "dependencies": [],
        "features": {"trace_sections": True, "failure_reasons": ["script_failure", "job_execution_timeout"]},
    }
