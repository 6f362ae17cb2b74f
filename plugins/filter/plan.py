# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Plan, then act, as filters: what the role checks before its first change, and which hosts stop.

Each filter is documented in the YAML file of its name beside this one.
"""

from __future__ import annotations

import functools
import pathlib

import yaml
from ansible.utils.display import Display

from ansible_collections.runnerops.gitlab.plugins.module_utils import _fleet
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError
from ansible_collections.runnerops.gitlab.plugins.plugin_utils import _plan
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._filters import failing_clearly
from ansible_collections.runnerops.gitlab.plugins.plugin_utils._hostvars import host_var, plain

ARGUMENT_SPECS = pathlib.Path(__file__).resolve().parents[2] / "roles" / "gitlab_runner" / "meta" / "argument_specs.yml"
display = Display()


@functools.lru_cache(maxsize=1)
def role_variables():
    """The role's public variables, as its argument specs name them."""
    with open(ARGUMENT_SPECS, encoding="utf-8") as stream:
        return tuple(yaml.safe_load(stream)["argument_specs"]["main"]["options"])


def fleet_declared(declared, folder=None, settings=None, variables=None):
    """``{definitions, problems, warnings, ...}``: a host's runner definitions with defaults filled, and what is
    wrong with them and with the role's variables (``settings``); ``variables``, the names of the host's variables,
    for the ones that look like the role's but are not.

    Problems are returned, not raised, so the task storing the definitions can stay ``no_log`` (settings may hold
    secrets) while ``fleet_preflight_stops`` reports them in the clear.
    """
    return _plan.declared(plain(declared), plain(folder), plain(settings), plain(variables) or (), role_variables())


def _declared(hostvars, host, variable):
    value = host_var(hostvars, host, variable, {})
    return value if isinstance(value, dict) else {}


def _shared_by_all(lines_by_host, hosts):
    """Split problems into those every host has (said once, for the run) and each host's own."""
    counts = {}
    for lines in lines_by_host.values():
        for line in dict.fromkeys(lines):
            counts[line] = counts.get(line, 0) + 1
    everyone = [line for line, count in counts.items() if count == len(hosts) > 0]
    own = {host: [line for line in lines if line not in everyone] for host, lines in lines_by_host.items()}
    return everyone, own


def fleet_preflight_stops(play_hosts, hostvars, variable="__gitlab_runner_declared"):
    """``{host: message}`` of the hosts whose definitions or role variables are wrong (read from what
    ``fleet_declared`` stored under ``variable``); warns once of what is allowed but most likely not meant."""
    hosts = [str(host) for host in play_hosts or ()]
    problems, warnings = {}, {}
    for host in hosts:
        declared = _declared(hostvars, host, variable)
        problems[host] = list(declared.get("problems") or ())
        for warning in declared.get("warnings") or ():
            warnings.setdefault(warning, []).append(host)
    for warning, warned in warnings.items():
        display.warning(warning if len(warned) == len(hosts) else f"{warning} (hosts: {', '.join(warned)})")
    everyone, own = _shared_by_all(problems, hosts)
    return _plan.stops(hosts, own, everyone)


def fleet_read_stops(play_hosts, hostvars, variable="__gitlab_runner_gathered", declared="__gitlab_runner_declared"):
    """``{host: message}`` of the hosts whose config.toml or system id could not be read (registered under
    ``variable`` with ``failed_when: false``), of the hosts that share a runner with one of them (their definitions
    stored under ``declared``), and of every host when two report one runner system id."""
    hosts = [str(host) for host in play_hosts or ()]
    broken = {}
    for host in hosts:
        problem = _plan.read_problem(host_var(hostvars, host, variable))
        if problem:
            broken[host] = f"{host}: {problem}"
    readable = {host: host_var(hostvars, host, variable) for host in hosts if host not in broken}
    readable = {host: gathered for host, gathered in readable.items() if isinstance(gathered, dict)}
    definitions = {host: _declared(hostvars, host, declared).get("definitions") or [] for host in hosts}
    own = {host: [line] for host, line in broken.items()}
    for host, line in _plan.blocked_by(broken, definitions).items():
        own.setdefault(host, []).append(line)
    run_problems = []
    try:
        _fleet.check_system_ids(_fleet.host_reports(readable))
    except RunnerOpsError as error:
        run_problems.append(error.describe())
    return _plan.stops(hosts, own, run_problems)


def fleet_connection_problems(api_url, api_token):
    """What is wrong with the role's GitLab connection (never the token itself); empty when it is complete."""
    return _plan.connection_problems(api_url, api_token)


def fleet_stops(play_hosts, problems):
    """``{host: message}`` stopping every host of the play for ``problems`` of the whole run, said once."""
    return _plan.stops(play_hosts, {}, problems or ())


def fleet_owners(plan):
    """``{api_url: [{group: path} or {project: path}]}``: what to look up before anything is created; ``""`` is the
    role's GitLab."""
    return _plan.owners_to_resolve(plan or {})


def fleet_owned_plan(plan, owner_results):
    """The plan with each owner looked up (``gitlab_runner_info`` results of ``owners``) as its numeric id."""
    return _plan.owned_plan(plan or {}, owner_results)


@failing_clearly
def fleet_plan_stops(play_hosts, hostvars, failures=(), variable="__gitlab_runner_gathered",
                     declared="__gitlab_runner_declared"):
    """``{host: message}``: every host for ``failures`` (lines of ``fleet_failures``: the checks of other instances'
    tokens, the groups and projects not found), and each host that would lose every entry of its config.toml while
    declaring no runner."""
    hosts = [str(host) for host in play_hosts or ()]
    own = {}
    for host in hosts:
        noted = _declared(hostvars, host, declared)
        problem = _plan.empty_config_problem(
            host, _fleet.host_report(host, host_var(hostvars, host, variable, {})), noted.get("definitions") or [],
            noted.get("allow_empty_config"), noted.get("prune", True))
        if problem:
            own[host] = [problem]
    return _plan.stops(hosts, own, failures or ())


class FilterModule:
    def filters(self):
        return {
            "fleet_connection_problems": fleet_connection_problems,
            "fleet_declared": fleet_declared,
            "fleet_owned_plan": fleet_owned_plan,
            "fleet_owners": fleet_owners,
            "fleet_plan_stops": fleet_plan_stops,
            "fleet_preflight_stops": fleet_preflight_stops,
            "fleet_read_stops": fleet_read_stops,
            "fleet_stops": fleet_stops,
        }
