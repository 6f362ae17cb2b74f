# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: what a fleet costs, against the GitLab API simulator (see benchmarks/README.md).

For each point (N hosts, M shared runner definitions, K unrelated runners already in GitLab) it measures,
each from a fresh simulator state, a first run and a rerun of:

- ``role``: playbooks/site.yml on N local hosts (connection local, one config dir each);
- ``template``: the floor Ansible sets, a play writing the same config.toml per host with
  ansible.builtin.template and no API call;
- ``module``: a play ensuring the M runners with runnerops.gitlab.gitlab_runner_create;
- ``peer``: the same play with community.general.gitlab_runner.

Wall time, peak memory of ansible-playbook and API calls per route go to a JSON file after each
measurement, so an interrupted run resumes where it stopped. A table and the ratios follow.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import report  # noqa: E402  (needs the repository on sys.path)
from tests.gitlab_sim.process import SimProcess  # noqa: E402

BENCH = REPO / "benchmarks"
SITE = REPO / "playbooks" / "site.yml"
TOKEN = "glpat-bench-fleet-owner-000"
GROUP = "fleet"
# A no-op rerun and a first converge may each add this many calls to their per-definition budget:
# the preflight (GET /personal_access_tokens/self and GET /version).
CONSTANT_CALLS = 2
PEER_WHEEL = "ansible==14.5.0"
FAMILIES = ("role", "template", "module", "peer")

SIZES = {
    # One axis at a time around the base point; the base belongs to every axis.
    "full": {"base": (10, 5, 0), "N": (10, 50, 200, 500), "M": (1, 5, 20), "K": (0, 2000)},
    "quick": {"base": (2, 2, 0), "N": (2, 4), "M": (1, 2), "K": (0, 250)},
}


# ---------------------------------------------------------------------- the points


def sweep(mode):
    """Points as (N, M, K), each once, the cheapest first so that an interrupted sweep has the most points."""
    sizes = SIZES[mode]
    n0, m0, k0 = sizes["base"]
    points = [(n0, m0, k0)]
    points += [(n, m0, k0) for n in sizes["N"]]
    points += [(n0, m, k0) for m in sizes["M"]]
    points += [(n0, m0, k) for k in sizes["K"]]
    return sorted(dict.fromkeys(points))


def families_at(point, families, mode):
    """The module and the peer run on localhost only, so hosts change nothing for them: the N axis skips them."""
    if mode in SIZES and point[0] != SIZES[mode]["base"][0]:
        return [family for family in families if family not in ("module", "peer")]
    return list(families)


def point_key(point):
    return "N{}-M{}-K{}".format(*point)


def definitions(m):
    """M shared group runners, each with attributes both modules manage the same way."""
    return [{
        "name": f"shared-{index:02d}",
        "runner_type": "group_type",
        "group": GROUP,
        "tags": ["docker", f"pool-{index:02d}"],
        "run_untagged": False,
        "locked": False,
        "maximum_timeout": 3600,
        "paused": False,
        "executor": "docker",
        "settings": {"docker": {"image": "alpine:3.20", "privileged": False}},
    } for index in range(m)]


def seed(k):
    """The fleet's group and its owner's token, plus K unrelated instance runners.

    GitLab shows instance runners in every group's runner list, so they are runners a module finds
    when it lists the group without a type filter.
    """
    return {
        "settings": {"version": "17.11.1-ee"},
        "users": [{"username": "fleet", "tokens": [{"token": TOKEN, "scopes": ["api"], "name": "bench"}]}],
        "groups": [{"path": GROUP, "members": {"fleet": "owner"}}],
        "runners": [{"description": f"unrelated-{index:05d}", "runner_type": "instance_type",
                     "tag_list": ["shared"]} for index in range(k)],
    }


# ---------------------------------------------------------------------- running ansible-playbook


class Runner:
    """Runs ansible-playbook in a clean environment and measures each run."""

    def __init__(self, work, collections_path, forks):
        self.work = work
        self.forks = forks
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(str(path) for path in collections_path),
            "ANSIBLE_HOME": str(work / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
            "ANSIBLE_FORKS": str(forks),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        })
        self.count = 0

    def run_twice(self, playbook, inventory, sim, env=None):
        """A first run and a rerun that should change nothing."""
        return {"first": self.run(playbook, inventory, sim, env), "rerun": self.run(playbook, inventory, sim, env)}

    def run(self, playbook, inventory, sim, env=None):
        """One ansible-playbook run: wall time, peak RSS, recap and the API calls it made."""
        self.count += 1
        log = self.work / f"run-{self.count:03d}.log"
        run_env = dict(self.env, **(env or {}))
        timings = self.work / f"run-{self.count:03d}.tasks.json"
        run_env.update({"ANSIBLE_CALLBACK_PLUGINS": str(BENCH / "callback_plugins"),
                        "ANSIBLE_CALLBACKS_ENABLED": "task_seconds", "BENCH_TASK_SECONDS": str(timings)})
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
        sim.clear_requests()
        started = time.monotonic()
        with open(log, "w", encoding="utf-8") as output:
            proc = subprocess.Popen(command, cwd=self.work, env=run_env, stdout=output, stderr=subprocess.STDOUT)
            tree = TreeMemory(proc.pid)
            # wait4 reports the peak RSS of ansible-playbook and of the workers it forked, whichever is largest.
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        tree.stop()
        calls = sim.requests()
        text = log.read_text(encoding="utf-8")
        result = {
            "rc": proc.returncode,
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "peak_tree_pss_mb": round(tree.peak_kb / 1024, 1),
            "changed": sum(int(value) for value in re.findall(r"\bchanged=(\d+)", text)),
            "failed": sum(int(value) for value in re.findall(r"\bfailed=(\d+)", text)),
        }
        result.update(count_calls(calls))
        if timings.exists():
            tasks = json.loads(timings.read_text(encoding="utf-8"))
            result["facts_s"] = sum(seconds for seconds, name in tasks if name == "Gathering Facts")
            result["tasks"] = tasks
        if proc.returncode:
            result["log_tail"] = text[-4000:]
        return result


class TreeMemory:
    """The peak of the summed proportional set size (PSS) of a process and its descendants, sampled every second.

    PSS splits the pages forked workers share with ansible-playbook among them, so the sum is the memory the run
    holds, which the largest process alone (``peak_rss_mb``) understates and summed RSS overstates.
    """

    def __init__(self, pid, interval=1.0):
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self):
        self._done.set()
        self._thread.join()

    def _sample(self):
        while not self._done.wait(self.interval):
            self.peak_kb = max(self.peak_kb, sum(pss_kb(pid) for pid in descendants(self.pid)))


def descendants(root):
    """``root`` and every process below it, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stream:
                    parent = int(stream.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


ROUTE_IDS = re.compile(r"^/(groups|projects|runners)/([^/]+)")


def route(call):
    """``GET /api/v4/groups/fleet`` -> ``GET /groups/:id``; runner ids likewise."""
    path = call["path"].removeprefix("/api/v4")

    def generic(match):
        kind, ref = match.groups()
        if kind == "runners" and not ref.isdigit():
            return match.group(0)  # /runners/all, /runners/verify
        return f"/{kind}/:id"

    return f"{call['method']} {ROUTE_IDS.sub(generic, path)}"


def is_write(call):
    # POST /runners/verify checks a token the way gitlab-runner does; it changes nothing a user manages.
    return call["method"] in ("POST", "PUT", "DELETE") and not call["path"].endswith("/runners/verify")


def count_calls(calls):
    routes = Counter(route(call) for call in calls)
    return {
        "calls": len(calls),
        "writes": sum(1 for call in calls if is_write(call)),
        "routes": dict(sorted(routes.items())),
    }


# ---------------------------------------------------------------------- the four families


def host_names(n):
    return [f"runner-{index:03d}" for index in range(n)]


def write_inventory(work, n, group_vars):
    """N local hosts, each with its own config dir and runner system id."""
    hosts = {}
    for index, host in enumerate(host_names(n)):
        config_dir = work / "hosts" / host
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / ".runner_system_id").write_text(f"s_{index:012x}", encoding="ascii")
        hosts[host] = {"ansible_connection": "local", "gitlab_runner_config_path": str(config_dir / "config.toml")}
    inventory = {"all": {"children": {"gitlab_runners": {"hosts": hosts, "vars": group_vars}}}}
    path = work / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path


def role_vars(m):
    return {"gitlab_runner_install_method": "none", "gitlab_runner_manage_service": False,
            "gitlab_runner_become": False, "gitlab_runner_runners": definitions(m)}


def family_role(runner, sim, point):
    n, m, _k = point
    inventory = write_inventory(runner.work, n, role_vars(m))
    env = {"GITLAB_URL": sim.url, "GITLAB_PRIVATE_TOKEN": TOKEN}
    return runner.run_twice(SITE, inventory, sim, env)


def family_template(runner, sim, point):
    """The same config.toml per host written by ansible.builtin.template: the same play shape, no API."""
    n, m, _k = point
    entries = [{
        "name": definition["name"], "url": sim.url, "id": index + 1,
        "token": f"glrt-t2_bench{index:015d}", "token_obtained_at": "2026-01-01T00:00:00Z",
        "token_expires_at": "0001-01-01T00:00:00Z", "executor": definition["executor"],
        "settings": definition["settings"],
    } for index, definition in enumerate(definitions(m))]
    group_vars = dict(role_vars(m), bench_entries=entries, gitlab_runner_concurrent=1, gitlab_runner_check_interval=3)
    inventory = write_inventory(runner.work, n, group_vars)
    playbook = write_play(runner, "template.yml", {
        "name": "config.toml from a template, no API",
        "hosts": "gitlab_runners",
        "become": "{{ gitlab_runner_become | default(true) }}",
        "tasks": [{"name": "Write config.toml", "ansible.builtin.template": {
            "src": str(BENCH / "templates" / "config.toml.j2"), "dest": "{{ gitlab_runner_config_path }}",
            "mode": "0600"}, "no_log": True}],
    })
    return runner.run_twice(playbook, inventory, sim)


def write_play(runner, name, play):
    """A playbook of one play in the run's work directory."""
    path = runner.work / name
    path.write_text(yaml.safe_dump([play], sort_keys=False), encoding="utf-8")
    return path


def localhost_play(runner, name, title, tasks, **keywords):
    """A play on localhost without facts, and the inventory it runs with."""
    play = dict({"name": title, "hosts": "localhost", "gather_facts": False}, **keywords, tasks=tasks)
    inventory = runner.work / "localhost.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}),
                         encoding="utf-8")
    return write_play(runner, name, play), inventory


def fleet_group_id(sim):
    return next(group["id"] for group in sim.state()["groups"] if group["path"] == GROUP)


def family_module(runner, sim, point):
    """The M runners ensured with gitlab_runner_create, as a play would: scopes checked once, no tokens.

    The group is given by its numeric id, as the peer needs it.
    """
    _n, m, _k = point
    group_id = fleet_group_id(sim)
    playbook, inventory = localhost_play(runner, "module.yml", "Ensure the runners with runnerops.gitlab", [
        {"name": "Check the token's scopes once", "runnerops.gitlab.gitlab_runner_info": {
            "gather_runners": False, "check_scopes": ["read", "create", "manage"]}},
        {"name": "Ensure the runners", "runnerops.gitlab.gitlab_runner_create": {
            "name": "{{ item.name }}", "runner_type": "{{ item.runner_type }}", "group": str(group_id),
            "tags": "{{ item.tags }}", "run_untagged": "{{ item.run_untagged }}", "locked": "{{ item.locked }}",
            "maximum_timeout": "{{ item.maximum_timeout }}", "paused": "{{ item.paused }}", "preflight": False},
         "loop": definitions(m), "loop_control": {"label": "{{ item.name }}"}, "no_log": True},
    ], module_defaults={"group/runnerops.gitlab.gitlab": {"api_url": sim.url, "api_token": TOKEN}})
    return runner.run_twice(playbook, inventory, sim)


def family_peer(runner, sim, point):
    """The same M runners with community.general.gitlab_runner (its group option takes the numeric id)."""
    _n, m, _k = point
    group_id = fleet_group_id(sim)
    playbook, inventory = localhost_play(runner, "peer.yml", "Ensure the runners with community.general", [
        {"name": "Ensure the runners", "community.general.gitlab_runner": {
            "api_url": sim.url, "api_token": TOKEN, "description": "{{ item.name }}", "group": str(group_id),
            "tag_list": "{{ item.tags }}", "run_untagged": "{{ item.run_untagged }}",
            "locked": "{{ item.locked }}", "maximum_timeout": "{{ item.maximum_timeout }}",
            "paused": "{{ item.paused }}", "state": "present"},
         "loop": definitions(m), "loop_control": {"label": "{{ item.name }}"}, "no_log": True},
    ])
    return runner.run_twice(playbook, inventory, sim)


FAMILY_RUNS = {"role": family_role, "template": family_template, "module": family_module, "peer": family_peer}


# ---------------------------------------------------------------------- the peer collection


def peer_collections(cache):
    """A path holding ansible_collections/community/general, taken from the PyPI ``ansible`` wheel."""
    root = cache / PEER_WHEEL.replace("==", "-")
    if (root / "ansible_collections" / "community" / "general" / "MANIFEST.json").exists():
        return root
    download = cache / "download"
    download.mkdir(parents=True, exist_ok=True)
    print(f"Fetching community.general from the PyPI wheel {PEER_WHEEL} into {root}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PEER_WHEEL, "-d", str(download)],
                   check=True)
    wheel = next(download.glob("ansible-*.whl"))
    prefix = "ansible_collections/community/general/"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(root, [name for name in archive.namelist() if name.startswith(prefix)])
    wheel.unlink()
    return root


def collection_version(root):
    manifest = root / "ansible_collections" / "community" / "general" / "MANIFEST.json"
    return json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]


# ---------------------------------------------------------------------- results


def load(path, mode, fresh):
    if path.exists() and not fresh:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("mode") == mode:
            return data
    return {"mode": mode, "points": {}}


def save(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    temp.replace(path)


def ratio(numerator, denominator):
    return round(numerator / denominator, 2) if numerator is not None and denominator else None


def measured(point_data, family, run, field):
    return point_data.get(family, {}).get(run, {}).get(field)


def summarize(point, point_data):
    """Ratios (ours / baseline, ours / peer) and the API-call targets of one point, all from this run."""
    _n, m, _k = point

    def get(family, run, field):
        return measured(point_data, family, run, field)

    summary = {
        "rerun_wall_vs_template": ratio(get("role", "rerun", "wall_s"), get("template", "rerun", "wall_s")),
        "first_wall_vs_template": ratio(get("role", "first", "wall_s"), get("template", "first", "wall_s")),
        "rerun_rss_vs_template": ratio(get("role", "rerun", "peak_rss_mb"), get("template", "rerun", "peak_rss_mb")),
    }
    if get("role", "rerun", "facts_s") is not None and get("template", "rerun", "facts_s") is not None:
        # Both plays gather facts as playbooks/site.yml does; this is what the role adds over the template alone.
        summary["rerun_wall_vs_template_without_facts"] = ratio(
            get("role", "rerun", "wall_s") - get("role", "rerun", "facts_s"),
            get("template", "rerun", "wall_s") - get("template", "rerun", "facts_s"))
    for run in ("first", "rerun"):
        summary[f"module_calls_vs_peer_{run}"] = ratio(get("module", run, "calls"), get("peer", run, "calls"))
        summary[f"module_wall_vs_peer_{run}"] = ratio(get("module", run, "wall_s"), get("peer", run, "wall_s"))
        summary[f"role_calls_vs_peer_{run}"] = ratio(get("role", run, "calls"), get("peer", run, "calls"))
    if get("module", "first", "calls") and get("peer", "first", "calls"):
        # The peer's calls for each of ours: the target asks for at least 10 at K=2000.
        summary["peer_calls_per_module_call"] = {
            run: ratio(get("peer", run, "calls"), get("module", run, "calls")) for run in ("first", "rerun")}
    if "role" in point_data:
        # Every host holds the same token of each shared runner: M distinct tokens, M definitions. A first converge
        # pays per definition: owner lookup, listing, create, one check of the new token that makes GitLab list a
        # manager at once, and a second listing that settles a race with another run creating the same runner.
        summary["targets"] = {
            "rerun_no_write": get("role", "rerun", "writes") == 0,
            "rerun_calls_budget": 2 * m + CONSTANT_CALLS,
            "rerun_within_budget": get("role", "rerun", "calls") <= 2 * m + CONSTANT_CALLS,
            "first_calls_budget": 5 * m + CONSTANT_CALLS,
            "first_within_budget": get("role", "first", "calls") <= 5 * m + CONSTANT_CALLS,
        }
    return summary


# ---------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    parser.add_argument("--results", type=Path,
                        help="JSON results file (default benchmarks/results/full.json or quick.json)")
    parser.add_argument("--fresh", action="store_true", help="measure every point again instead of resuming")
    parser.add_argument("--forks", type=int, default=int(os.environ.get("ANSIBLE_FORKS", "10")),
                        help="ansible forks (default: ANSIBLE_FORKS or 10)")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"what to measure, comma-separated from {', '.join(FAMILIES)} (default: all)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "runnerops-bench",
                        help="where the community.general collection for the peer is kept")
    parser.add_argument("--point", action="append", default=[], metavar="N,M,K",
                        help="measure this point instead of the sweep (repeatable)")
    args = parser.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    try:
        args.points = [tuple(int(part) for part in point.split(",")) for point in args.point]
    except ValueError:
        parser.error("--point takes N,M,K, for example 50,5,0")
    if any(len(point) != 3 or min(point) < 0 or min(point[:2]) < 1 for point in args.points):
        parser.error("--point takes N,M,K with N and M at least 1, for example 50,5,0")
    if args.points:
        args.mode = "custom"
    args.results = args.results or BENCH / "results" / f"{args.mode}.json"
    args.families = [family.strip() for family in args.families.split(",") if family.strip()]
    unknown = sorted(set(args.families) - set(FAMILIES))
    if unknown:
        parser.error(f"unknown families {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    return args


def environment(args, peer_root):
    import ansible
    import gitlab

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ansible_core": ansible.__version__,
        "python_gitlab": gitlab.__version__,
        "community_general": collection_version(peer_root) if peer_root else None,
        "forks": args.forks,
        "machine": platform.machine(),
    }


def main(argv=None):
    args = parse_args(argv)
    data = load(args.results, args.mode, args.fresh)
    peer_root = peer_collections(args.cache) if "peer" in args.families else None
    data["environment"] = environment(args, peer_root)
    data["constant_calls"] = CONSTANT_CALLS

    with tempfile.TemporaryDirectory(prefix="runnerops-bench-") as tmp:
        own = Path(tmp) / "collections"
        (own / "ansible_collections" / "runnerops").mkdir(parents=True)
        (own / "ansible_collections" / "runnerops" / "gitlab").symlink_to(REPO, target_is_directory=True)
        collections_path = [own] + ([peer_root] if peer_root else [])
        for point in args.points or sweep(args.mode):
            key = point_key(point)
            point_data = data["points"].setdefault(key, {})
            todo = [family for family in families_at(point, args.families, args.mode) if family not in point_data]
            if not todo:
                continue
            with SimProcess(seed(point[2])) as sim:
                for family in todo:
                    print(f"{key}: {family} ...", end=" ", flush=True)
                    work = Path(tmp) / key / family
                    work.mkdir(parents=True)
                    sim.reset()
                    runner = Runner(work, collections_path, args.forks)
                    runs = FAMILY_RUNS[family](runner, sim, point)
                    print(", ".join(f"{name} {run['wall_s']} s, {run['calls']} calls, rc {run['rc']}"
                                    for name, run in runs.items()), flush=True)
                    point_data[family] = runs
                    point_data["summary"] = summarize(point, point_data)
                    save(args.results, data)
                    shutil.rmtree(work, ignore_errors=True)
    print()
    table_text = report.table(data)
    print(table_text)
    print(f"\nResults: {args.results}")
    if args.mode == "full":
        # Only the full sweep speaks for the targets: it rewrites the README's tables and the picture.
        done, drawn = report.conclude(args.results, table_text)
        print("\n" + report.targets_markdown(done) + f"\n\nPicture: {drawn}; tables in {report.README}")
    failed = [f"{key} {family} {name}" for key, point_data in data["points"].items()
              for family, runs in point_data.items() if family in FAMILIES
              for name, run in runs.items() if run["rc"]]
    if failed:
        print("Runs that failed (see log_tail in the results): " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
