"""The simulated GitLab instance: plain Python objects, no HTTP.

Everything the API routes read or change lives in :class:`SimState`: users and
their personal access tokens, groups and projects with member roles, runners
with their managers, the application settings and the simulator clock.  The
permission rules (who may read, update or create which runner) live here too,
next to the data they inspect.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

ROLE_LEVELS: dict[str, int] = {
    "guest": 10,
    "reporter": 20,
    "developer": 30,
    "maintainer": 40,
    "owner": 50,
}
MAINTAINER = ROLE_LEVELS["maintainer"]
OWNER = ROLE_LEVELS["owner"]

RUNNER_TYPES = ("instance_type", "group_type", "project_type")
ACCESS_LEVELS = ("not_protected", "ref_protected")
TAG_LIST_MAX_LENGTH = 50
MINIMUM_TIMEOUT = 600
TEXT_MAX_LENGTH = 1024

ONLINE_WINDOW = timedelta(hours=2)
STALE_WINDOW = timedelta(days=7)
# EE's bounds for token_expires_at on POST /user/runners (gitlab-org/gitlab MR 226128).
MIN_REQUESTED_EXPIRY = timedelta(minutes=5)
MAX_REQUESTED_EXPIRY = timedelta(days=15)

CREATED_RUNNER_TOKEN_PREFIX = "glrt-"
LEGACY_SYSTEM_ID = "<legacy>"


class SeedError(ValueError):
    """A seed document (or a runtime settings update) is malformed."""


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and ``Z``, as GitLab's API renders times."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(value: Any, where: str) -> datetime | None:
    """Read a timestamp from a seed: ISO 8601 text or a YAML datetime; naive means UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise SeedError(f"{where}: not an ISO 8601 timestamp: {value!r}") from exc
    else:
        raise SeedError(f"{where}: expected an ISO 8601 timestamp, got {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError as exc:
            raise SeedError(f"{where}: not a date (YYYY-MM-DD): {value!r}") from exc
    raise SeedError(f"{where}: expected a date (YYYY-MM-DD), got {value!r}")


def random_token_part() -> str:
    """20 URL-safe characters, the length of Devise's friendly token GitLab uses."""
    return secrets.token_urlsafe(15)


class Clock:
    """Wall-clock time shifted by an offset that tests move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Settings:
    version: str = "17.11.1-ee"
    revision: str = "c401a659d0c"
    # GitLab 17.0+ ships with registration tokens disabled for new instances.
    allow_runner_registration_token: bool = False
    runner_token_expiration_interval: int | None = None
    group_runner_token_expiration_interval: int | None = None
    project_runner_token_expiration_interval: int | None = None
    registration_token: str | None = None

    @property
    def enterprise(self) -> bool:
        """GitLab EE, as ``/version`` tells it (``-ee``)."""
        return self.version.endswith("-ee")

    def update(self, values: Mapping[str, Any], where: str = "settings") -> None:
        """Apply values after checking them all; unknown keys and wrong types raise SeedError."""
        known = {f.name for f in fields(self)}
        checked: dict[str, Any] = {}
        for key, value in values.items():
            at = f"{where}.{key}"
            if key not in known:
                raise SeedError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
            if key == "allow_runner_registration_token":
                checked[key] = _expect_bool(value, at)
            elif key.endswith("_interval"):
                checked[key] = _optional_interval(value, at)
            elif key == "registration_token" and value is None:
                checked[key] = None
            else:
                checked[key] = _expect_str(value, at)
        for key, value in checked.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class PersonalAccessToken:
    id: int
    user_id: int
    token: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: date | None = None
    revoked: bool = False
    description: str | None = None
    last_used_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        # GitLab stores a date; the token stops working when that day begins (UTC).
        return self.expires_at is not None and self.expires_at <= now.date()


@dataclass
class User:
    id: int
    username: str
    name: str
    email: str
    admin: bool
    created_at: datetime


@dataclass
class Group:
    id: int
    full_path: str
    name: str
    parent_id: int | None
    created_at: datetime
    description: str = ""
    members: dict[int, int] = field(default_factory=dict)  # user id -> access level
    runners_token: str | None = None
    allow_runner_registration_token: bool = True
    shared_runners_enabled: bool = True
    runner_token_expiration_interval: int | None = None

    @property
    def path(self) -> str:
        return self.full_path.rsplit("/", 1)[-1]


@dataclass
class Project:
    id: int
    full_path: str
    name: str
    group_id: int
    created_at: datetime
    description: str | None = None
    members: dict[int, int] = field(default_factory=dict)
    runners_token: str | None = None
    shared_runners_enabled: bool = True
    group_runners_enabled: bool = True
    runner_token_expiration_interval: int | None = None

    @property
    def path(self) -> str:
        return self.full_path.rsplit("/", 1)[-1]


@dataclass
class RunnerManager:
    id: int
    system_id: str
    created_at: datetime
    contacted_at: datetime | None = None
    version: str | None = None
    revision: str | None = None
    platform: str | None = None
    architecture: str | None = None
    executor: str | None = None
    ip_address: str | None = None


@dataclass
class Runner:
    id: int
    runner_type: str
    token: str
    created_at: datetime
    registration_type: str  # "authenticated_user" (glrt- workflow) or "registration_token"
    group_id: int | None = None
    project_ids: list[int] = field(default_factory=list)
    description: str | None = None
    name: str | None = None
    tag_list: list[str] = field(default_factory=list)
    run_untagged: bool = True
    locked: bool = False
    access_level: str = "not_protected"
    maximum_timeout: int | None = None
    active: bool = True
    maintenance_note: str | None = None
    token_expires_at: datetime | None = None
    # EE: after it, the token can no longer be reset (set at creation, for the first token only).
    token_rotation_deadline: datetime | None = None
    contacted_at: datetime | None = None
    creator_id: int | None = None
    updated_at: datetime | None = None
    managers: dict[str, RunnerManager] = field(default_factory=dict)
    queue_value: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def type_digit(self) -> int:
        return RUNNER_TYPES.index(self.runner_type) + 1


JOB_STATES = ("pending", "running", "success", "failed", "canceled")


@dataclass
class Job:
    """A CI job queued for one runner; the runner that takes it runs ``script`` and reports its state."""

    id: int
    runner_id: int
    name: str
    script: list[str]
    token: str
    created_at: datetime
    timeout: int = 3600
    status: str = "pending"
    system_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    failure_reason: str | None = None


def version_matches_prefix(version: str | None, prefix: str) -> bool:
    """The ``version_prefix`` filter: whole version components, not a string prefix.

    As ``Ci::RunnerManager.with_version_prefix``: "16" and "16." mean major 16,
    "16.1" minor 16.1 (not 16.10), "16.1.2" that exact patch release.
    """
    if re.search(r"\d+\.\d+\.\d+", prefix):
        pattern = r"\d+\.\d+\.\d+"
    elif re.search(r"\d+\.\d+", prefix):
        pattern = r"\d+\.\d+\."
    else:
        pattern = r"\d+\."
    if pattern.endswith(r"\.") and not prefix.endswith("."):
        prefix += "."
    match = re.match(pattern, version or "")
    return match is not None and match.group(0) == prefix


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Strip, drop blanks and duplicates, keep order: what GitLab's tag parser does."""
    result: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if tag and tag not in result:
            result.append(tag)
    return result


def validation_errors(runner: Runner, *, changed: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Ci::Runner model validations, keyed by attribute in GitLab's order.

    ``changed`` limits the checks GitLab only runs on changed attributes (tag
    count, description length); None means a new record, where all run.
    """
    changed = None if changed is None else set(changed)
    errors: dict[str, list[str]] = {}
    if not runner.tag_list and not runner.run_untagged:
        errors.setdefault("tags_list", []).append(
            "can not be empty when runner is not allowed to pick untagged jobs"
        )
    if (changed is None or "tag_list" in changed) and len(runner.tag_list) > TAG_LIST_MAX_LENGTH:
        errors.setdefault("tags_list", []).append(
            f"Too many tags specified. Please limit the number of tags to {TAG_LIST_MAX_LENGTH}"
        )
    if (changed is None or "description" in changed) and len(runner.description or "") > TEXT_MAX_LENGTH:
        errors["description"] = [f"is too long (maximum is {TEXT_MAX_LENGTH} characters)"]
    if runner.maximum_timeout is not None and runner.maximum_timeout < MINIMUM_TIMEOUT:
        errors["maximum_timeout"] = ["needs to be at least 10 minutes"]
    if len(runner.maintenance_note or "") > TEXT_MAX_LENGTH:
        errors["maintenance_note"] = [f"is too long (maximum is {TEXT_MAX_LENGTH} characters)"]
    return errors


def full_messages(errors: Mapping[str, list[str]]) -> list[str]:
    """Rails' ``errors.full_messages``: humanized attribute name + message."""
    return [f"{attr.replace('_', ' ').capitalize()} {msg}" for attr, msgs in errors.items() for msg in msgs]


def to_sentence(items: list[str]) -> str:
    """Rails' ``Array#to_sentence``."""
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


class SimState:
    """The whole simulated instance; not thread-safe (the server serialises requests)."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.settings = Settings()
        self.users: dict[int, User] = {}
        self.tokens: list[PersonalAccessToken] = []
        self.groups: dict[int, Group] = {}
        self.projects: dict[int, Project] = {}
        self.runners: dict[int, Runner] = {}
        self.jobs: dict[int, Job] = {}
        self._next_id: dict[str, int] = {}

    def next_id(self, kind: str) -> int:
        value = self._next_id.get(kind, 1)
        self._next_id[kind] = value + 1
        return value

    def now(self) -> datetime:
        return self.clock.now()

    # ------------------------------------------------------------------ lookups

    def user_by_name(self, username: str) -> User | None:
        return next((u for u in self.users.values() if u.username.lower() == username.lower()), None)

    def find_pat(self, token: str) -> PersonalAccessToken | None:
        return next((t for t in self.tokens if t.token == token), None)

    def find_group(self, ref: str) -> Group | None:
        """By numeric id or (case-insensitive) full path, as GitLab's ``find_group``."""
        if ref.isdigit():
            return self.groups.get(int(ref))
        return next((g for g in self.groups.values() if g.full_path.lower() == ref.lower()), None)

    def find_project(self, ref: str) -> Project | None:
        if ref.isdigit():
            return self.projects.get(int(ref))
        return next((p for p in self.projects.values() if p.full_path.lower() == ref.lower()), None)

    def group_by_path(self, path: str) -> Group | None:
        return next((g for g in self.groups.values() if g.full_path == path), None)

    def project_by_path(self, path: str) -> Project | None:
        return next((p for p in self.projects.values() if p.full_path == path), None)

    def self_and_ancestors(self, group: Group) -> list[Group]:
        chain = [group]
        while chain[-1].parent_id is not None:
            chain.append(self.groups[chain[-1].parent_id])
        return chain

    def owner_group(self, runner: Runner) -> Group:
        """The group of a group_type runner."""
        assert runner.group_id is not None, runner
        return self.groups[runner.group_id]

    def find_runner_by_token(self, token: str) -> Runner | None:
        """An expired token is simply not found, as in GitLab's token lookup."""
        now = self.now()
        for runner in self.runners.values():
            if runner.token == token:
                if runner.token_expires_at is None or runner.token_expires_at >= now:
                    return runner
                return None
        return None

    # ------------------------------------------------------------------ roles

    def group_level(self, user: User, group: Group) -> int:
        """Effective access level: memberships are inherited by subgroups."""
        return max((g.members.get(user.id, 0) for g in self.self_and_ancestors(group)), default=0)

    def project_level(self, user: User, project: Project) -> int:
        return max(project.members.get(user.id, 0), self.group_level(user, self.groups[project.group_id]))

    def can_read_group(self, user: User, group: Group) -> bool:
        """Private groups: members (direct, inherited, or of something inside) only."""
        if user.admin or self.group_level(user, group):
            return True
        inside = {g.id for g in self.groups.values() if group.id in {a.id for a in self.self_and_ancestors(g)}}
        return any(self.groups[g].members.get(user.id) for g in inside) or any(
            p.members.get(user.id) for p in self.projects.values() if p.group_id in inside
        )

    def can_read_project(self, user: User, project: Project) -> bool:
        return user.admin or self.project_level(user, project) > 0

    def can_read_runner(self, user: User, runner: Runner) -> bool:
        if user.admin or runner.runner_type == "instance_type":
            return True
        if runner.runner_type == "group_type":
            return self.group_level(user, self.owner_group(runner)) >= MAINTAINER
        return any(self.project_level(user, self.projects[pid]) >= MAINTAINER for pid in runner.project_ids)

    def can_update_runner(self, user: User, runner: Runner) -> bool:
        """update_runner / delete_runner: admin, group Owner, owner project Maintainer+."""
        if user.admin:
            return True
        if runner.runner_type == "group_type":
            return self.group_level(user, self.owner_group(runner)) >= OWNER
        if runner.runner_type == "project_type":
            return self.project_level(user, self.projects[runner.project_ids[0]]) >= MAINTAINER
        return False

    def owned_runners(self, user: User) -> list[Runner]:
        """``User#ci_owned_runners``: runners of owned groups and maintained projects."""
        return [
            r
            for r in self.runners.values()
            if (r.runner_type == "group_type" and self.group_level(user, self.owner_group(r)) >= OWNER)
            or (
                r.runner_type == "project_type"
                and any(self.project_level(user, self.projects[p]) >= MAINTAINER for p in r.project_ids)
            )
        ]

    def group_runners(self, group: Group) -> list[Runner]:
        """Runners usable by a group: its own, its ancestors', and instance runners if allowed."""
        chain = {g.id for g in self.self_and_ancestors(group)}
        return [
            r
            for r in self.runners.values()
            if (r.runner_type == "group_type" and r.group_id in chain)
            or (r.runner_type == "instance_type" and group.shared_runners_enabled)
        ]

    def project_runners(self, project: Project) -> list[Runner]:
        chain = {g.id for g in self.self_and_ancestors(self.groups[project.group_id])}
        return [
            r
            for r in self.runners.values()
            if project.id in r.project_ids
            or (r.runner_type == "group_type" and project.group_runners_enabled and r.group_id in chain)
            or (r.runner_type == "instance_type" and project.shared_runners_enabled)
        ]

    # ------------------------------------------------------------------ runner status

    def online(self, contacted_at: datetime | None) -> bool:
        return contacted_at is not None and contacted_at > self.now() - ONLINE_WINDOW

    def stale(self, created_at: datetime, contacted_at: datetime | None) -> bool:
        deadline = self.now() - STALE_WINDOW
        return created_at <= deadline and (contacted_at is None or contacted_at <= deadline)

    def status(self, created_at: datetime, contacted_at: datetime | None) -> str:
        """Current status of a runner or manager: stale, never_contacted, online, offline."""
        if self.stale(created_at, contacted_at):
            return "stale"
        if contacted_at is None:
            return "never_contacted"
        return "online" if self.online(contacted_at) else "offline"

    def rest_status(self, runner: Runner) -> str:
        """The deprecated ``status`` field of the REST runner entity (``paused`` wins over online)."""
        status = self.status(runner.created_at, runner.contacted_at)
        if status in ("online", "offline") and not runner.active:
            return "paused"
        return status

    def matches_status(self, runner: Runner, status: str) -> bool:
        """The ``status``/``scope`` list filters, which are SQL scopes, not the derived field."""
        match status:
            case "active":
                return runner.active
            case "paused":
                return not runner.active
            case "online":
                return self.online(runner.contacted_at)
            case "offline":
                return runner.contacted_at is not None and not self.online(runner.contacted_at)
            case "never_contacted":
                return runner.contacted_at is None
            case "stale":
                return self.stale(runner.created_at, runner.contacted_at)
        raise ValueError(status)

    def latest_manager(self, runner: Runner) -> RunnerManager | None:
        contacted = [(m.contacted_at, m) for m in runner.managers.values() if m.contacted_at is not None]
        if contacted:
            return max(contacted, key=lambda pair: pair[0])[1]
        return next(iter(runner.managers.values()), None)

    # ------------------------------------------------------------------ runner lifecycle

    def new_runner_token(self, runner_type: str, registration_type: str) -> str:
        prefix = f"t{RUNNER_TYPES.index(runner_type) + 1}_"
        if registration_type == "authenticated_user":
            prefix = CREATED_RUNNER_TOKEN_PREFIX + prefix
        return prefix + random_token_part()

    def token_expiry(self, runner: Runner) -> datetime | None:
        """now + the shortest applicable expiration interval, or None when none applies."""
        settings = self.settings
        if runner.runner_type == "instance_type":
            intervals = [settings.runner_token_expiration_interval]
        elif runner.runner_type == "group_type":
            group = self.owner_group(runner)
            intervals = [settings.group_runner_token_expiration_interval, group.runner_token_expiration_interval]
        else:
            intervals = [settings.project_runner_token_expiration_interval] + [
                self.projects[p].runner_token_expiration_interval for p in runner.project_ids
            ]
        applicable = [i for i in intervals if i is not None]
        return self.now() + timedelta(seconds=min(applicable)) if applicable else None

    def add_runner(self, runner: Runner) -> Runner:
        self.runners[runner.id] = runner
        self._next_id["runner"] = max(self._next_id.get("runner", 1), runner.id + 1)
        return runner

    def create_runner(
        self,
        runner_type: str,
        registration_type: str,
        *,
        group: Group | None = None,
        project: Project | None = None,
        attributes: Mapping[str, Any] | None = None,
        creator: User | None = None,
    ) -> Runner:
        now = self.now()
        runner = Runner(
            id=self.next_id("runner"),
            runner_type=runner_type,
            token=self.new_runner_token(runner_type, registration_type),
            created_at=now,
            updated_at=now,
            registration_type=registration_type,
            group_id=group.id if group else None,
            project_ids=[project.id] if project else [],
            creator_id=creator.id if creator else None,
        )
        for key, value in (attributes or {}).items():
            setattr(runner, key, value)
        runner.token_expires_at = self.token_expiry(runner)
        return runner

    def reset_token(self, runner: Runner) -> bool:
        """A new token with the expiry the settings give; False (nothing changed) past the rotation deadline."""
        if runner.token_rotation_deadline is not None and self.now() > runner.token_rotation_deadline:
            return False
        runner.token = self.new_runner_token(runner.runner_type, runner.registration_type)
        runner.token_expires_at = self.token_expiry(runner)
        runner.token_rotation_deadline = None
        return True

    def requested_expiry_problem(self, runner: Runner, expires: datetime | None,
                                 deadline: datetime | None) -> str | None:
        """EE's checks of ``token_expires_at`` / ``token_rotation_deadline`` on create; applies them when fine.

        Between 5 minutes and 15 days ahead, within the expiry the instance, group or project settings give,
        and a deadline only with an expiry, no later than it.
        """
        if expires is None:
            return "Token rotation deadline requires token expires at" if deadline is not None else None
        now = self.now()
        if not now + MIN_REQUESTED_EXPIRY <= expires <= now + MAX_REQUESTED_EXPIRY:
            return "Token expires at must be between 5 minutes and 15 days from now"
        if runner.token_expires_at is not None and expires > runner.token_expires_at:
            return "Token expires at cannot be later than the runner token expiration limit"
        if deadline is not None and deadline > expires:
            return "Token rotation deadline must be less than or equal to token expires at"
        runner.token_expires_at = expires
        runner.token_rotation_deadline = deadline
        return None

    def heartbeat(self, runner: Runner, system_id: str | None, info: Mapping[str, Any], ip: str | None) -> None:
        """What an authenticated runner call records: runner and manager contact."""
        now = self.now()
        runner.contacted_at = now
        system_id = system_id or LEGACY_SYSTEM_ID
        manager = runner.managers.get(system_id)
        if manager is None:
            manager = RunnerManager(id=self.next_id("manager"), system_id=system_id, created_at=now)
            runner.managers[system_id] = manager
        manager.contacted_at = now
        manager.ip_address = ip
        for key in ("version", "revision", "platform", "architecture", "executor"):
            if info.get(key) is not None:
                setattr(manager, key, str(info[key]))

    # ------------------------------------------------------------------ jobs

    def queue_job(self, runner: Runner, script: list[str], name: str = "job", timeout: int = 3600) -> Job:
        """A pending job only ``runner`` may take; the runner's queue moves on, as a new build does in GitLab."""
        job = Job(id=self.next_id("job"), runner_id=runner.id, name=name, script=list(script),
                  token="glcbt-" + secrets.token_urlsafe(15), created_at=self.now(), timeout=timeout)
        self.jobs[job.id] = job
        runner.queue_value = secrets.token_hex(16)
        return job

    def take_job(self, runner: Runner, system_id: str | None) -> Job | None:
        """The oldest pending job of ``runner``, now running on the manager ``system_id``; None for a paused
        runner or an empty queue."""
        if not runner.active:
            return None
        job = next((j for j in self.jobs.values() if j.runner_id == runner.id and j.status == "pending"), None)
        if job is not None:
            job.status = "running"
            job.system_id = system_id or LEGACY_SYSTEM_ID
            job.started_at = self.now()
        return job

    def finish_job(self, job: Job, status: str, exit_code: int | None, failure_reason: str | None) -> None:
        job.status = status
        job.exit_code = exit_code
        job.failure_reason = failure_reason
        job.finished_at = self.now()

    def job_heartbeat(self, job: Job) -> None:
        """A job update counts as contact of its runner and the manager running it (no version moves)."""
        now = self.now()
        runner = self.runners.get(job.runner_id)
        if runner is None:
            return
        runner.contacted_at = now
        manager = runner.managers.get(job.system_id or LEGACY_SYSTEM_ID)
        if manager is not None:
            manager.contacted_at = now

    def registration_target(self, token: str) -> tuple[str, Group | Project | None] | None:
        """Who a legacy registration token belongs to: (runner_type, owner), or None."""
        if token == self.settings.registration_token:
            return "instance_type", None
        for project in self.projects.values():
            if token == project.runners_token:
                return "project_type", project
        for group in self.groups.values():
            if token == group.runners_token:
                return "group_type", group
        return None

    def registration_allowed(self, owner: Group | Project | None) -> bool:
        """Instance setting AND the root group's setting, as ``NamespaceSetting`` decides."""
        if not self.settings.allow_runner_registration_token:
            return False
        if owner is None:
            return True
        group = self.groups[owner.group_id] if isinstance(owner, Project) else owner
        return self.self_and_ancestors(group)[-1].allow_runner_registration_token

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Everything, tokens included, for the control API."""
        return {
            "now": format_time(self.now()),
            "clock_offset": self.clock.offset.total_seconds(),
            "settings": self.settings.as_dict(),
            "users": [
                {
                    "id": u.id,
                    "username": u.username,
                    "admin": u.admin,
                    "tokens": [
                        {
                            "id": t.id,
                            "name": t.name,
                            "token": t.token,
                            "scopes": t.scopes,
                            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                            "revoked": t.revoked,
                            "last_used_at": format_time(t.last_used_at),
                        }
                        for t in self.tokens
                        if t.user_id == u.id
                    ],
                }
                for u in self.users.values()
            ],
            "groups": [
                {
                    "id": g.id,
                    "path": g.full_path,
                    "parent_id": g.parent_id,
                    "members": self._member_names(g.members),
                    "runners_token": g.runners_token,
                    "allow_runner_registration_token": g.allow_runner_registration_token,
                    "shared_runners_enabled": g.shared_runners_enabled,
                    "runner_token_expiration_interval": g.runner_token_expiration_interval,
                }
                for g in self.groups.values()
            ],
            "projects": [
                {
                    "id": p.id,
                    "path": p.full_path,
                    "group_id": p.group_id,
                    "members": self._member_names(p.members),
                    "runners_token": p.runners_token,
                    "shared_runners_enabled": p.shared_runners_enabled,
                    "group_runners_enabled": p.group_runners_enabled,
                    "runner_token_expiration_interval": p.runner_token_expiration_interval,
                }
                for p in self.projects.values()
            ],
            "runners": [self._runner_snapshot(r) for r in sorted(self.runners.values(), key=lambda r: r.id)],
            "jobs": [self.job_snapshot(j) for j in self.jobs.values()],
        }

    def job_snapshot(self, job: Job) -> dict[str, Any]:
        return {
            "id": job.id,
            "runner_id": job.runner_id,
            "name": job.name,
            "script": list(job.script),
            "timeout": job.timeout,
            "status": job.status,
            "system_id": job.system_id,
            "created_at": format_time(job.created_at),
            "started_at": format_time(job.started_at),
            "finished_at": format_time(job.finished_at),
            "exit_code": job.exit_code,
            "failure_reason": job.failure_reason,
        }

    def _member_names(self, members: Mapping[int, int]) -> dict[str, str]:
        names = {level: name for name, level in ROLE_LEVELS.items()}
        return {self.users[uid].username: names[level] for uid, level in members.items()}

    def _runner_snapshot(self, r: Runner) -> dict[str, Any]:
        return {
            "id": r.id,
            "description": r.description,
            "name": r.name,
            "runner_type": r.runner_type,
            "group": self.groups[r.group_id].full_path if r.group_id else None,
            "projects": [self.projects[p].full_path for p in r.project_ids],
            "tag_list": list(r.tag_list),
            "run_untagged": r.run_untagged,
            "locked": r.locked,
            "access_level": r.access_level,
            "maximum_timeout": r.maximum_timeout,
            "paused": not r.active,
            "maintenance_note": r.maintenance_note,
            "token": r.token,
            "token_expires_at": format_time(r.token_expires_at),
            "token_rotation_deadline": format_time(r.token_rotation_deadline),
            "registration_type": r.registration_type,
            "creator": self.users[r.creator_id].username if r.creator_id in self.users else None,
            "created_at": format_time(r.created_at),
            "contacted_at": format_time(r.contacted_at),
            "status": self.rest_status(r),
            "managers": [
                {
                    "id": m.id,
                    "system_id": m.system_id,
                    "created_at": format_time(m.created_at),
                    "contacted_at": format_time(m.contacted_at),
                    "version": m.version,
                    "ip_address": m.ip_address,
                    "status": self.status(m.created_at, m.contacted_at),
                }
                for m in r.managers.values()
            ],
        }


# ---------------------------------------------------------------------- seeds


def load_seed_file(path: str | Path) -> dict[str, Any]:
    """YAML or JSON (JSON is YAML, but a .json file is parsed strictly)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'YAML'}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SeedError(f"{path}: the seed must be a mapping with optional sections "
                        "settings, users, groups, projects, runners")
    return data


def _expect_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SeedError(f"{where}: expected true or false, got {value!r}")
    return value


def _expect_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SeedError(f"{where}: expected a string, got {value!r}")
    return value


def _expect_mapping(value: Any, where: str, allowed: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected a mapping, got {value!r}")
    unknown = set(value) - set(allowed)
    if unknown:
        raise SeedError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                        f"allowed: {', '.join(sorted(allowed))}")
    return value


def _expect_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeedError(f"{where}: expected a list, got {value!r}")
    return value


def _optional_interval(value: Any, where: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise SeedError(f"{where}: expected a positive number of seconds or null")
    return value


_SECTIONS = ("settings", "users", "groups", "projects", "runners")
_USER_KEYS = ("username", "name", "email", "admin", "tokens")
_TOKEN_KEYS = ("token", "scopes", "name", "expires_at", "revoked", "description", "created_at", "last_used_at")
_GROUP_KEYS = ("path", "name", "description", "members", "runners_token", "allow_runner_registration_token",
               "shared_runners_enabled", "runner_token_expiration_interval")
_PROJECT_KEYS = ("path", "name", "description", "members", "runners_token", "shared_runners_enabled",
                 "group_runners_enabled", "runner_token_expiration_interval")
_RUNNER_KEYS = ("id", "description", "name", "runner_type", "group", "project", "projects", "tag_list",
                "run_untagged", "locked", "access_level", "maximum_timeout", "paused", "maintenance_note",
                "token", "token_expires_at", "token_rotation_deadline", "managers", "contacted_at", "created_at",
                "creator")
_MANAGER_KEYS = ("system_id", "contacted_at", "created_at", "version", "revision", "platform", "architecture",
                 "executor", "ip_address")


def state_from_seed(seed: Mapping[str, Any]) -> SimState:
    """Build a fresh state from a seed document; SeedError names the offending entry."""
    seed = _expect_mapping(dict(seed), "seed", _SECTIONS)
    state = SimState()
    settings = seed.get("settings") or {}
    if not isinstance(settings, dict):
        raise SeedError(f"settings: expected a mapping, got {settings!r}")
    state.settings.update(settings)
    for i, entry in enumerate(_expect_list(seed.get("users"), "users")):
        _seed_user(state, entry, f"users[{i}]")
    declared: set[str] = set()
    for i, entry in enumerate(_expect_list(seed.get("groups"), "groups")):
        _seed_group(state, entry, f"groups[{i}]", declared)
    for i, entry in enumerate(_expect_list(seed.get("projects"), "projects")):
        _seed_project(state, entry, f"projects[{i}]")
    for i, entry in enumerate(_expect_list(seed.get("runners"), "runners")):
        _seed_runner(state, entry, f"runners[{i}]")
    return state


def _seed_user(state: SimState, entry: Any, where: str) -> None:
    entry = _expect_mapping(entry, where, _USER_KEYS)
    username = _expect_str(entry.get("username"), f"{where}.username")
    if state.user_by_name(username):
        raise SeedError(f"{where}: duplicate username {username!r}")
    user = User(
        id=state.next_id("user"),
        username=username,
        name=_expect_str(entry.get("name", username.capitalize()), f"{where}.name"),
        email=_expect_str(entry.get("email", f"{username}@example.com"), f"{where}.email"),
        admin=_expect_bool(entry.get("admin", False), f"{where}.admin"),
        created_at=state.now(),
    )
    state.users[user.id] = user
    for j, raw in enumerate(_expect_list(entry.get("tokens"), f"{where}.tokens")):
        at = f"{where}.tokens[{j}]"
        raw = _expect_mapping(raw, at, _TOKEN_KEYS)
        token = _expect_str(raw.get("token"), f"{at}.token")
        if state.find_pat(token):
            raise SeedError(f"{at}: duplicate token")
        scopes = _expect_list(raw.get("scopes", ["api"]), f"{at}.scopes")
        state.tokens.append(
            PersonalAccessToken(
                id=state.next_id("token"),
                user_id=user.id,
                token=token,
                name=_expect_str(raw.get("name", f"token-{j + 1}"), f"{at}.name"),
                scopes=[_expect_str(s, f"{at}.scopes") for s in scopes],
                created_at=parse_time(raw.get("created_at"), f"{at}.created_at") or state.now(),
                expires_at=parse_date(raw.get("expires_at"), f"{at}.expires_at"),
                revoked=_expect_bool(raw.get("revoked", False), f"{at}.revoked"),
                description=raw.get("description"),
                last_used_at=parse_time(raw.get("last_used_at"), f"{at}.last_used_at"),
            )
        )


def _members(state: SimState, raw: Any, where: str) -> dict[int, int]:
    if not isinstance(raw or {}, dict):
        raise SeedError(f"{where}: expected a mapping of username to role, got {raw!r}")
    members: dict[int, int] = {}
    for username, role in (raw or {}).items():
        user = state.user_by_name(str(username))
        if user is None:
            raise SeedError(f"{where}: unknown user {username!r} (declare it under users first)")
        if role not in ROLE_LEVELS:
            raise SeedError(f"{where}.{username}: unknown role {role!r}; roles: {', '.join(ROLE_LEVELS)}")
        members[user.id] = ROLE_LEVELS[role]
    return members


def _ensure_group(state: SimState, full_path: str) -> Group:
    """The group at full_path, creating missing ancestors (and itself) on the way."""
    existing = state.group_by_path(full_path)
    if existing:
        return existing
    parent_path, slug = full_path.rpartition("/")[::2]
    parent = _ensure_group(state, parent_path) if parent_path else None
    group = Group(
        id=state.next_id("group"),
        full_path=full_path,
        name=slug,
        parent_id=parent.id if parent else None,
        created_at=state.now(),
    )
    state.groups[group.id] = group
    return group


def _check_path(path: Any, where: str) -> str:
    path = _expect_str(path, where)
    if not path or path.startswith("/") or path.endswith("/") or "//" in path:
        raise SeedError(f"{where}: not a full path like 'platform' or 'platform/ci': {path!r}")
    return path


def _seed_group(state: SimState, entry: Any, where: str, declared: set[str]) -> None:
    entry = _expect_mapping(entry, where, _GROUP_KEYS)
    path = _check_path(entry.get("path"), f"{where}.path")
    if path in declared:
        raise SeedError(f"{where}: group {path!r} declared twice")
    declared.add(path)
    # A group first created as some subgroup's parent takes its attributes here.
    group = _ensure_group(state, path)
    group.name = _expect_str(entry.get("name", group.name), f"{where}.name")
    group.description = _expect_str(entry.get("description", ""), f"{where}.description")
    group.members = _members(state, entry.get("members"), f"{where}.members")
    group.runners_token = entry.get("runners_token")
    group.allow_runner_registration_token = _expect_bool(
        entry.get("allow_runner_registration_token", True), f"{where}.allow_runner_registration_token")
    group.shared_runners_enabled = _expect_bool(
        entry.get("shared_runners_enabled", True), f"{where}.shared_runners_enabled")
    group.runner_token_expiration_interval = _optional_interval(
        entry.get("runner_token_expiration_interval"), f"{where}.runner_token_expiration_interval")


def _seed_project(state: SimState, entry: Any, where: str) -> None:
    entry = _expect_mapping(entry, where, _PROJECT_KEYS)
    path = _check_path(entry.get("path"), f"{where}.path")
    namespace, slug = path.rpartition("/")[::2]
    if not namespace:
        raise SeedError(f"{where}.path: a project lives in a group, e.g. 'platform/{path}'")
    if state.project_by_path(path):
        raise SeedError(f"{where}: project {path!r} declared twice")
    project = Project(
        id=state.next_id("project"),
        full_path=path,
        name=_expect_str(entry.get("name", slug), f"{where}.name"),
        group_id=_ensure_group(state, namespace).id,
        created_at=state.now(),
        description=entry.get("description"),
        members=_members(state, entry.get("members"), f"{where}.members"),
        runners_token=entry.get("runners_token"),
        shared_runners_enabled=_expect_bool(entry.get("shared_runners_enabled", True),
                                            f"{where}.shared_runners_enabled"),
        group_runners_enabled=_expect_bool(entry.get("group_runners_enabled", True),
                                           f"{where}.group_runners_enabled"),
        runner_token_expiration_interval=_optional_interval(
            entry.get("runner_token_expiration_interval"), f"{where}.runner_token_expiration_interval"),
    )
    state.projects[project.id] = project


def _seed_runner(state: SimState, entry: Any, where: str) -> None:
    entry = _expect_mapping(entry, where, _RUNNER_KEYS)
    group = project_ids = None
    if "group" in entry:
        group = state.group_by_path(_expect_str(entry["group"], f"{where}.group"))
        if group is None:
            raise SeedError(f"{where}.group: unknown group {entry['group']!r} (declare it under groups)")
    declared = [entry["project"]] if "project" in entry else []
    paths = declared + _expect_list(entry.get("projects"), f"{where}.projects")
    if paths:
        project_ids = []
        for path in paths:
            project = state.project_by_path(_expect_str(path, f"{where}.project"))
            if project is None:
                raise SeedError(f"{where}: unknown project {path!r} (declare it under projects)")
            project_ids.append(project.id)
    default_type = "group_type" if group else "project_type" if project_ids else "instance_type"
    runner_type = entry.get("runner_type", default_type)
    if runner_type not in RUNNER_TYPES:
        raise SeedError(f"{where}.runner_type: one of {', '.join(RUNNER_TYPES)}, got {runner_type!r}")
    if runner_type == "group_type" and (group is None or project_ids):
        raise SeedError(f"{where}: a group_type runner needs 'group' (and no project)")
    if runner_type == "project_type" and (not project_ids or group):
        raise SeedError(f"{where}: a project_type runner needs 'project' (and no group)")
    if runner_type == "instance_type" and (group or project_ids):
        raise SeedError(f"{where}: an instance_type runner has no group or project")

    runner_id = entry.get("id")
    if runner_id is None:
        runner_id = state.next_id("runner")
    elif isinstance(runner_id, bool) or not isinstance(runner_id, int) or runner_id <= 0:
        raise SeedError(f"{where}.id: expected a positive integer")
    if runner_id in state.runners:
        raise SeedError(f"{where}.id: runner id {runner_id} already used")

    token = entry.get("token")
    registration_type = "authenticated_user"
    if token is not None:
        token = _expect_str(token, f"{where}.token")
        if not token.startswith(CREATED_RUNNER_TOKEN_PREFIX):
            registration_type = "registration_token"
        if any(r.token == token for r in state.runners.values()):
            raise SeedError(f"{where}.token: another runner has this token")
    created_at = parse_time(entry.get("created_at"), f"{where}.created_at") or state.now()
    access_level = entry.get("access_level", "not_protected")
    if access_level not in ACCESS_LEVELS:
        raise SeedError(f"{where}.access_level: one of {', '.join(ACCESS_LEVELS)}, got {access_level!r}")
    maximum_timeout = entry.get("maximum_timeout")
    if maximum_timeout is not None and (isinstance(maximum_timeout, bool) or not isinstance(maximum_timeout, int)):
        raise SeedError(f"{where}.maximum_timeout: expected seconds (an integer) or null")
    creator = None
    if "creator" in entry:
        creator = state.user_by_name(_expect_str(entry["creator"], f"{where}.creator"))
        if creator is None:
            raise SeedError(f"{where}.creator: unknown user {entry['creator']!r}")

    runner = Runner(
        id=runner_id,
        runner_type=runner_type,
        token=token or state.new_runner_token(runner_type, registration_type),
        created_at=created_at,
        updated_at=created_at,
        registration_type=registration_type,
        group_id=group.id if group else None,
        project_ids=project_ids or [],
        description=entry.get("description"),
        name=entry.get("name"),
        tag_list=normalize_tags(_expect_list(entry.get("tag_list"), f"{where}.tag_list")),
        run_untagged=_expect_bool(entry.get("run_untagged", True), f"{where}.run_untagged"),
        locked=_expect_bool(entry.get("locked", False), f"{where}.locked"),
        access_level=access_level,
        maximum_timeout=maximum_timeout,
        active=not _expect_bool(entry.get("paused", False), f"{where}.paused"),
        maintenance_note=entry.get("maintenance_note"),
        creator_id=creator.id if creator else None,
    )
    # An absent key means "as GitLab would compute it now"; an explicit null means never.
    if "token_rotation_deadline" in entry:
        runner.token_rotation_deadline = parse_time(entry["token_rotation_deadline"], f"{where}.token_rotation_deadline")
    if "token_expires_at" in entry:
        runner.token_expires_at = parse_time(entry["token_expires_at"], f"{where}.token_expires_at")
    else:
        runner.token_expires_at = state.token_expiry(runner)

    for j, raw in enumerate(_expect_list(entry.get("managers"), f"{where}.managers")):
        at = f"{where}.managers[{j}]"
        raw = {"system_id": raw} if isinstance(raw, str) else _expect_mapping(raw, at, _MANAGER_KEYS)
        system_id = _expect_str(raw.get("system_id"), f"{at}.system_id")
        if system_id in runner.managers:
            raise SeedError(f"{at}: duplicate system_id {system_id!r}")
        runner.managers[system_id] = RunnerManager(
            id=state.next_id("manager"),
            system_id=system_id,
            created_at=parse_time(raw.get("created_at"), f"{at}.created_at") or created_at,
            contacted_at=parse_time(raw.get("contacted_at"), f"{at}.contacted_at"),
            **{k: raw.get(k) for k in ("version", "revision", "platform", "architecture", "executor", "ip_address")},
        )
    runner.contacted_at = parse_time(entry.get("contacted_at"), f"{where}.contacted_at")
    if runner.contacted_at is None:
        # A runner's last contact is its managers' last contact unless given.
        contacts = [m.contacted_at for m in runner.managers.values() if m.contacted_at]
        runner.contacted_at = max(contacts, default=None)
    state.add_runner(runner)
