# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reliability scenarios: a fleet of local hosts, the GitLab simulator's faults, hostile input.

Every scenario ends by measuring the fleet the same way (``Fleet.audit``); the figures are summed
over the session and printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.reliability.figures import FIGURES_PROPERTY

SITE = REPO_ROOT / "playbooks" / "site.yml"
PAT = "glpat-reliability-owner-000000"
CREATE_ONLY = "glpat-reliability-create-00000"
EXPIRED = "glpat-reliability-expired-0000"
SPARE = "glpat-reliability-spare-000000"
LEGACY = "legacyTOKENabcdefghij01"
HOSTS = ("host-a", "host-b", "host-c")
SECRET_PATTERNS = (re.compile(r"glrt-[A-Za-z0-9_.-]+"), re.compile(re.escape(PAT)), re.compile(re.escape(SPARE)),
                   re.compile(re.escape(LEGACY)))

SEED = {
    "settings": {"version": "17.11.1-ee"},
    "users": [{"username": "owner", "tokens": [
        {"token": PAT, "scopes": ["api"], "name": "fleet"},
        {"token": CREATE_ONLY, "scopes": ["create_runner"], "name": "create-only"},
        {"token": EXPIRED, "scopes": ["api"], "name": "old", "expires_at": "2020-01-01"},
        {"token": SPARE, "scopes": ["api"], "name": "spare"},
    ]}],
    "groups": [{"path": "platform", "members": {"owner": "owner"}}],
    "projects": [{"path": "platform/app"}],
    "runners": [{"description": "legacy-one", "group": "platform", "token": LEGACY}],
}

DEFINITIONS = [
    {"name": "shared", "runner_type": "group_type", "group": "platform", "tags": ["docker"], "executor": "docker",
     "settings": {"docker": {"image": "alpine:3.20"}}},
    {"name": "own", "runner_type": "project_type", "project": "platform/app", "tags": ["build"], "per_host": True},
]


class Fleet:
    """Three local hosts running playbooks/site.yml against one simulator."""

    def __init__(self, sim, ansible_playbook, tmp_path):
        self.sim = sim
        self.ansible_playbook = ansible_playbook
        self.tmp_path = tmp_path
        self.outputs = []
        self.figures = Counter()
        for index, host in enumerate(HOSTS):
            directory = tmp_path / host
            directory.mkdir()
            (directory / ".runner_system_id").write_text(f"s_reliabilit{index:02d}", encoding="ascii")

    def config_path(self, host):
        return self.tmp_path / host / "config.toml"

    def run(self, definitions=None, token=PAT, **kwargs):
        extra = kwargs.pop("extra", {})
        host_vars = kwargs.pop("host_vars", {})
        hosts = {host: dict({"ansible_connection": "local", "gitlab_runner_config_path": str(self.config_path(host))},
                            **host_vars.get(host, {}))
                 for host in HOSTS}
        group_vars = {"gitlab_runner_install_method": "none", "gitlab_runner_manage_service": False,
                      "gitlab_runner_become": False, "gitlab_runner_config_backup": True,
                      "gitlab_runner_api_timeout": 5,
                      "gitlab_runner_runners": DEFINITIONS if definitions is None else definitions}
        group_vars.update(extra)
        inventory = {"all": {"children": {"gitlab_runners": {"hosts": hosts, "vars": group_vars}}}}
        env = dict({"GITLAB_URL": self.sim.url, "GITLAB_PRIVATE_TOKEN": token}, **kwargs.pop("env", {}))
        if kwargs.get("tags"):
            env["ANSIBLE_RUN_TAGS"] = kwargs.pop("tags")
        kwargs.setdefault("verbosity", 3)
        kwargs.setdefault("diff", True)
        result = self.ansible_playbook(SITE, inventory=inventory, env=env, **kwargs)
        self.outputs.append(result.output + "\n".join(str(record) for record in result.records))
        return result

    def entries(self, host):
        path = self.config_path(host)
        if not path.is_file():
            return {}
        return {entry["name"]: entry for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("runners", [])}

    def scan_secrets(self):
        """Every run's output and recorded results, searched once for a token (after the scenario)."""
        found = [match.group(0)[:12] for text in self.outputs for pattern in SECRET_PATTERNS
                 for match in pattern.finditer(text)]
        if found:
            print(f"secrets in output: {found[:5]}")
        self.figures["secrets found in output"] += len(found)
        self.figures["runs scanned for secrets"] += len(self.outputs)

    def audit(self, definitions=None, healed=True):
        """Count what the figures count; with ``healed`` the fleet is expected converged."""
        definitions = DEFINITIONS if definitions is None else definitions
        self.figures["fleet audits"] += 1
        runners = self.sim.state()["runners"]
        owners = Counter((runner.get("group") or tuple(runner.get("projects") or ()), runner["description"])
                         for runner in runners)
        self.figures["duplicate runners created"] += sum(count - 1 for count in owners.values() if count > 1)
        by_name = {runner["description"]: runner for runner in runners}
        lost = orphaned = 0
        if healed:
            for definition in definitions:
                if definition.get("state") == "absent":
                    continue
                names = ([f"{definition['name']}-{host}" for host in HOSTS] if definition.get("per_host")
                         else [definition["name"]])
                for name in names:
                    runner = by_name.get(name)
                    holders = [host for host in HOSTS if self.entries(host).get(name, {}).get("token")]
                    if runner is None:
                        continue
                    valid = [host for host in holders if self.entries(host)[name]["token"] == runner["token"]]
                    lost += len(holders) - len(valid)
                    orphaned += 0 if valid else 1
        self.figures["runner tokens lost"] += lost
        self.figures["runners left without a recoverable token"] += orphaned
        half_written = 0
        for host in HOSTS:
            directory = self.tmp_path / host
            if not directory.is_dir():
                continue
            for path in directory.iterdir():
                if path.name.startswith("config.toml") and path.is_file():
                    half_written += 0 if _parses(path) else 1
                    if stat.S_IMODE(path.stat().st_mode) != 0o600:
                        self.figures["secret files not 0600"] += 1
                elif path.name.startswith(".") and path.name.endswith(".tmp") or path.name.startswith(".config.toml"):
                    half_written += 1
        self.figures["files left half-written"] += half_written
        return {"lost": lost, "orphaned": orphaned, "half_written": half_written}


def _parses(path):
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
        return True
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        # Files a scenario broke on purpose are not counted; the scenario checks them itself.
        return path.read_bytes().startswith(b"# broken on purpose")


@pytest.fixture
def fleet(make_sim, ansible_playbook, tmp_path, request):
    fleet = Fleet(make_sim(SEED), ansible_playbook, tmp_path)
    yield fleet
    fleet.scan_secrets()
    request.node.user_properties.append((FIGURES_PROPERTY, dict(fleet.figures)))
    assert fleet.figures["secrets found in output"] == 0, "a token appeared in the output of this scenario"


def write_config(path: Path, text: str):
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
