# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``ansible-doc`` on the installed package: every module, the lookup and the role render in full.

The examples are checked against the documented options, so an example that names an option the plugin
does not have (or a value it does not accept) fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.packaging._collection import BIN, run, tool_env

MODULES = sorted(path.stem for path in (REPO_ROOT / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
LOOKUPS = sorted(path.stem for path in (REPO_ROOT / "plugins" / "lookup").glob("*.py") if path.stem != "__init__")
ROLES = sorted(path.name for path in (REPO_ROOT / "roles").iterdir() if (path / "meta" / "argument_specs.yml").is_file())
PLUGINS = [("module", name) for name in MODULES] + [("lookup", name) for name in LOOKUPS]
# Keys of a task that are not the module's name.
TASK_KEYWORDS = {"name", "register", "no_log", "become", "become_user", "delegate_to", "run_once", "check_mode", "diff",
                 "when", "loop", "loop_control", "vars", "tags", "changed_when", "failed_when", "ignore_errors",
                 "environment", "module_defaults", "notify", "until", "retries", "delay", "args"}


def ansible_doc(collections_path, *args):
    return run([BIN / "ansible-doc", *args], env=tool_env(collections_path=collections_path,
                                                          home=Path(collections_path).parent / "ansible-home"))


def flat(text):
    """Text with every run of white space made one space, as a terminal wraps it."""
    return re.sub(r"\s+", " ", text).strip()


def plain(text):
    """Text without the quotes and marks ansible-doc puts around code, values and option names."""
    return flat(re.sub(r"[`'*\[\]]", "", text))


def rendered(text):
    """Documentation markup reduced to its words: O(ns.col.plugin#module:a=b) to a=b, C(x) to x, and so on."""
    return plain(re.sub(r"\b[A-Z]{1,2}\(([^()]*)\)", lambda match: match.group(1).split("#")[-1].split(":", 1)[-1],
                        text))


@pytest.fixture(scope="module")
def docs(collections_path):
    """``ansible-doc --json`` of every plugin and role, as ``{(type, name): doc}``."""
    found = {}
    for plugin_type, names in (("module", MODULES), ("lookup", LOOKUPS), ("role", ROLES)):
        output = ansible_doc(collections_path, "-t", plugin_type, "--json",
                             *(f"runnerops.gitlab.{name}" for name in names)).stdout
        for fqcn, doc in json.loads(output).items():
            found[(plugin_type, fqcn.rsplit(".", 1)[-1])] = doc
    return found


@pytest.fixture(scope="module")
def pages(collections_path):
    """The text ``ansible-doc`` shows for every plugin and role, as ``{(type, name): text}``."""
    found = {}
    for plugin_type, names in (("module", MODULES), ("lookup", LOOKUPS), ("role", ROLES)):
        proc = ansible_doc(collections_path, "-t", plugin_type, *(f"runnerops.gitlab.{name}" for name in names))
        assert "runnerops" not in proc.stderr, proc.stderr
        header = re.compile(rf"^> {plugin_type.upper()}:? \*?runnerops\.gitlab\.(\w+)\*? ", re.MULTILINE)
        starts = list(header.finditer(proc.stdout))
        assert sorted(match.group(1) for match in starts) == names, proc.stdout[:2000]
        for index, match in enumerate(starts):
            end = starts[index + 1].start() if index + 1 < len(starts) else len(proc.stdout)
            found[(plugin_type, match.group(1))] = flat(proc.stdout[match.start():end])
    return found


@pytest.mark.parametrize("plugin_type", ["module", "lookup", "role"])
def test_ansible_doc_lists_everything_the_collection_holds(collections_path, plugin_type):
    output = ansible_doc(collections_path, "-t", plugin_type, "-l", "runnerops.gitlab").stdout
    listed = sorted(re.findall(r"^runnerops\.gitlab\.(\w+)", output, re.MULTILINE))
    expected = {"module": MODULES, "lookup": LOOKUPS, "role": ROLES}[plugin_type]
    assert listed == expected


@pytest.mark.parametrize("plugin_type,name", PLUGINS, ids=[f"{kind}-{name}" for kind, name in PLUGINS])
def test_plugin_page_renders_options_examples_and_returns(docs, pages, plugin_type, name):
    page = pages[(plugin_type, name)]
    doc = docs[(plugin_type, name)]
    description = doc["doc"]["description"]
    assert rendered(description[0] if isinstance(description, list) else description) in plain(page)
    options = doc["doc"].get("options") or {}
    assert options, f"{name} documents no option"
    for option in options:
        assert re.search(rf"(^|\s){re.escape(option)}(\s|$)", page), f"option {option} missing from the page"
    assert "EXAMPLES:" in page
    for task in yaml.safe_load(doc["examples"]):
        assert task["name"] in page
    returns = doc.get("return") or {}
    assert returns, f"{name} documents no return value"
    assert "RETURN VALUES:" in page
    for key in returns:
        assert re.search(rf"(^|\s){re.escape(key)}(\s|$)", page), f"return value {key} missing from the page"


@pytest.mark.parametrize("name", MODULES)
def test_every_returned_token_is_documented_as_a_secret_to_keep_under_no_log(docs, name):
    def tokens(values, prefix=""):
        for key, spec in (values or {}).items():
            if key == "token" or key.endswith("_token"):
                yield prefix + key, spec
            yield from tokens(spec.get("contains"), f"{prefix}{key}.")

    for key, spec in tokens(docs[("module", name)].get("return")):
        description = " ".join(spec["description"] if isinstance(spec["description"], list) else [spec["description"]])
        assert "no_log" in description, f"{name} returns {key} without saying to keep it under no_log"


@pytest.mark.parametrize("name", ROLES)
def test_role_page_renders_every_variable(docs, pages, name):
    page = pages[("role", name)]
    entry = docs[("role", name)]["entry_points"]["main"]
    assert rendered(entry["short_description"]) in plain(page)
    defaults = yaml.safe_load((REPO_ROOT / "roles" / name / "defaults" / "main.yml").read_text(encoding="utf-8"))
    assert sorted(entry["options"]) == sorted(defaults)
    for option in entry["options"]:
        assert re.search(rf"(^|\s){re.escape(option)}(\s|$)", page), f"variable {option} missing from the page"


def check_arguments(where, arguments, options, problems):
    """Record every argument that names no documented option or takes a value outside its choices."""
    if not isinstance(arguments, dict):
        return
    for key, value in arguments.items():
        spec = options.get(key)
        if spec is None:
            aliases = {alias: option for option, item in options.items() for alias in item.get("aliases", [])}
            spec = options.get(aliases.get(key))
        if spec is None:
            problems.append(f"{where}: no option {key!r}")
            continue
        literal = not (isinstance(value, str) and "{{" in value)
        if literal and spec.get("choices") and value is not None:
            for item in value if isinstance(value, list) else [value]:
                if item not in spec["choices"]:
                    problems.append(f"{where}.{key}: {item!r} is not one of {spec['choices']}")
        suboptions = spec.get("suboptions") or spec.get("options")
        if suboptions and literal:
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                check_arguments(f"{where}.{key}[{index}]", item, suboptions, problems)


@pytest.mark.parametrize("plugin_type,name", PLUGINS, ids=[f"{kind}-{name}" for kind, name in PLUGINS])
def test_examples_use_only_documented_options(docs, plugin_type, name):
    examples = yaml.safe_load(docs[(plugin_type, name)]["examples"])
    assert isinstance(examples, list) and examples
    module_options = {module: docs[("module", module)]["doc"]["options"] for module in MODULES}
    role_options = {role: docs[("role", role)]["entry_points"]["main"]["options"] for role in ROLES}
    problems = []
    checked = 0
    for task in examples:
        actions = [key for key in task if key not in TASK_KEYWORDS]
        assert len(actions) == 1, f"{task['name']}: cannot tell the action from {actions}"
        action = actions[0]
        where = f"{name} example {task['name']!r}"
        if action.startswith("runnerops.gitlab."):
            short = action.rsplit(".", 1)[-1]
            assert short in module_options, f"{where}: no module {action}"
            check_arguments(where, task[action] or {}, module_options[short], problems)
            checked += 1
        elif action in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
            role = task[action]["name"]
            assert role.startswith("runnerops.gitlab."), f"{where}: role {role}"
            check_arguments(where, task.get("vars") or {}, role_options[role.rsplit(".", 1)[-1]], problems)
            checked += 1
        else:
            assert action.startswith("ansible.builtin."), f"{where}: {action} is neither this collection's nor builtin"
    assert checked, f"no example of {name} uses the collection"
    assert problems == []
