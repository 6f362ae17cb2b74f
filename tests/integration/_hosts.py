# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Local runner hosts for the playbook tests: a directory each, and the inventory that points at them."""

from __future__ import annotations


def lay_out_hosts(tmp_path, configs, system_ids, url):
    """A directory per host holding its ``.runner_system_id`` and ``config.toml`` (``{url}`` filled in).

    Local hosts share this machine's id; each gets the manager identity GitLab knows it by.
    """
    for host, text in configs.items():
        directory = tmp_path / host
        directory.mkdir()
        (directory / ".runner_system_id").write_text(system_ids[host], encoding="ascii")
        (directory / "config.toml").write_text(text.format(url=url), encoding="utf-8")


def local_inventory(tmp_path, hosts, **host_vars):
    """``hosts`` in the group gitlab_runners, connection local, each with the config.toml in its directory."""
    inventory_hosts = {host: dict({"ansible_connection": "local",
                                   "gitlab_runner_config_path": str(tmp_path / host / "config.toml")},
                                  **host_vars.get(host, {}))
                       for host in hosts}
    return {"all": {"children": {"gitlab_runners": {"hosts": inventory_hosts,
                                                    "vars": {"gitlab_runner_become": False}}}}}


def entries_text(entries, head="concurrent = 2\n"):
    """config.toml as gitlab-runner writes it, with one shell entry per ``(name, runner id, token)``; ``{url}`` is
    left for ``lay_out_hosts`` to fill in."""
    return head + "".join(f"""
[[runners]]
  name = "{name}"
  url = "{{url}}"
  id = {runner_id}
  token = "{token}"
  token_obtained_at = 2026-01-10T09:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "shell"
""" for name, runner_id, token in entries)


def changing_calls(sim):
    """The calls that could change GitLab, sorted: everything but reads."""
    return sorted((item["method"], item["path"]) for item in sim.requests() if item["method"] != "GET")
