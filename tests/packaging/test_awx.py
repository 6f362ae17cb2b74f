# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The AWX credential type hands the connection to the modules and the role, and the documented job
templates run playbooks the collection ships with the variables those playbooks read."""

from __future__ import annotations

import re

import jinja2
import pytest
import yaml

from ansible_collections.runnerops.gitlab.plugins.module_utils._module import GITLAB_CONNECTION_ARGSPEC
from tests.conftest import REPO_ROOT

AWX = REPO_ROOT / "awx"
CREDENTIAL_TYPE = yaml.safe_load((AWX / "credential_type.yml").read_text(encoding="utf-8"))
TEMPLATES = yaml.safe_load((AWX / "job_templates.yml").read_text(encoding="utf-8"))
FIELDS = {field["id"]: field for field in CREDENTIAL_TYPE["inputs"]["fields"]}
# Survey question types the controller accepts.
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
ENV_LOOKUP = re.compile(r"""lookup\(\s*['"](?:ansible\.builtin\.)?env['"]\s*,\s*['"](\w+)['"]""")


def fallback_env(option):
    fallback = GITLAB_CONNECTION_ARGSPEC[option]["fallback"]
    return fallback[1]


def injected_env(inputs):
    """The environment the controller gives a job for these credential inputs."""
    return {name: jinja2.Template(template, undefined=jinja2.StrictUndefined).render(**inputs)
            for name, template in CREDENTIAL_TYPE["injectors"]["env"].items()}


def test_credential_type_has_only_keys_the_controller_accepts():
    assert set(CREDENTIAL_TYPE) <= {"name", "description", "kind", "inputs", "injectors"}
    assert CREDENTIAL_TYPE["kind"] == "cloud"
    assert set(CREDENTIAL_TYPE["injectors"]) == {"env"}
    assert set(CREDENTIAL_TYPE["inputs"]["required"]) == set(FIELDS)
    for field in FIELDS.values():
        assert field["type"] == "string" and field["label"] and field["help_text"]


def test_the_token_is_a_secret_input_and_the_url_is_not():
    secrets = sorted(name for name, field in FIELDS.items() if field.get("secret"))
    assert secrets == ["gitlab_token"]


def test_injectors_set_exactly_the_variables_the_modules_fall_back_to():
    injected = injected_env({"gitlab_url": "https://gitlab.example.com", "gitlab_token": "glpat-example"})
    assert sorted(injected) == sorted(fallback_env("api_url") + fallback_env("api_token"))
    assert [injected[name] for name in fallback_env("api_url")] == ["https://gitlab.example.com"]
    assert [injected[name] for name in fallback_env("api_token")] == ["glpat-example"]


def test_the_role_and_playbooks_read_the_connection_from_the_injected_variables():
    injected = set(CREDENTIAL_TYPE["injectors"]["env"])
    files = [REPO_ROOT / "roles" / "gitlab_runner" / "defaults" / "main.yml", *sorted((REPO_ROOT / "playbooks").glob("*.yml"))]
    read = {name for path in files for name in ENV_LOOKUP.findall(path.read_text(encoding="utf-8"))}
    assert {"GITLAB_URL", "GITLAB_PRIVATE_TOKEN"} <= read
    assert sorted(name for name in read if name.startswith("GITLAB_") and name not in injected) == []


def test_credentials_are_of_our_type_and_fill_its_inputs():
    for credential in TEMPLATES["credentials"]:
        assert credential["credential_type"] == CREDENTIAL_TYPE["name"]
        assert sorted(credential["inputs"]) == sorted(FIELDS)


@pytest.mark.parametrize("template", TEMPLATES["job_templates"], ids=lambda template: template["name"])
def test_job_template_runs_a_shipped_playbook_with_our_credential_and_environment(template):
    playbook = REPO_ROOT / template["playbook"]
    assert playbook.is_file(), f"{template['playbook']} is not in the collection"
    gitlab_credentials = {credential["name"] for credential in TEMPLATES["credentials"]}
    assert gitlab_credentials & set(template["credentials"])
    assert template["execution_environment"] == TEMPLATES["execution_environment"]["name"]
    assert template["job_type"] in ("run", "check")


@pytest.mark.parametrize("template", TEMPLATES["job_templates"], ids=lambda template: template["name"])
def test_every_survey_variable_is_one_the_playbook_reads(template):
    assert template["survey_enabled"] is True
    questions = template["survey_spec"]["spec"]
    assert questions
    text = (REPO_ROOT / template["playbook"]).read_text(encoding="utf-8")
    hosts = [play["hosts"] for play in yaml.safe_load(text) if "hosts" in play]
    for question in questions:
        assert question["type"] in SURVEY_TYPES
        assert question["question_name"] and isinstance(question["required"], bool)
        variable = question["variable"]
        assert re.search(rf"\b{variable}\b", text), f"{template['playbook']} never reads {variable}"
        if variable == "target":
            assert any(re.search(r"\{\{\s*target\b", pattern) for pattern in hosts), hosts
        if question["type"] == "text" and question.get("default"):
            assert question["min"] <= len(question["default"]) <= question["max"]
        if question["type"] == "integer":
            assert question["min"] <= question["default"] <= question["max"]
        if question["type"] in ("multiplechoice", "multiselect"):
            assert question["default"] in question["choices"]


def test_there_is_a_check_mode_template_with_diff_for_the_converge_playbook():
    converge = [template for template in TEMPLATES["job_templates"] if template["playbook"] == "playbooks/site.yml"]
    checks = [template for template in converge if template["job_type"] == "check"]
    assert len(checks) == 1 and checks[0]["diff_mode"] is True
    assert any(template["job_type"] == "run" and template.get("job_slice_count", 1) == 1 for template in converge)


def test_only_the_per_host_converge_template_is_sliced():
    sliced = [template for template in TEMPLATES["job_templates"] if template.get("job_slice_count", 1) > 1]
    assert [template["playbook"] for template in sliced] == ["playbooks/site.yml"]
    assert "per-host" in sliced[0]["name"]


def test_decommissioning_asks_for_hosts_and_offers_none_by_default():
    decommission = [template for template in TEMPLATES["job_templates"]
                    if template["playbook"] == "playbooks/decommission.yml"]
    assert len(decommission) == 1
    question = decommission[0]["survey_spec"]["spec"][0]
    assert question["variable"] == "target" and question["required"] is True and not question["default"]


def test_schedules_launch_a_documented_template_with_its_survey_variables():
    by_name = {template["name"]: template for template in TEMPLATES["job_templates"]}
    for schedule in TEMPLATES["schedules"]:
        template = by_name[schedule["unified_job_template"]]
        questions = {question["variable"]: question for question in template["survey_spec"]["spec"]}
        assert set(schedule.get("extra_data", {})) <= set(questions)
        for variable, value in schedule.get("extra_data", {}).items():
            if questions[variable]["type"] == "integer":
                assert questions[variable]["min"] <= value <= questions[variable]["max"]
        assert re.fullmatch(r"DTSTART:\d{8}T\d{6}Z RRULE:FREQ=\w+(;[A-Z]+=[\w,]+)*", schedule["rrule"])


def test_scheduled_rotation_resets_tokens_before_the_next_run_could_miss_them():
    by_name = {template["name"]: template for template in TEMPLATES["job_templates"]}
    interval = {"HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400}
    rotations = [schedule for schedule in TEMPLATES["schedules"]
                 if by_name[schedule["unified_job_template"]]["playbook"] == "playbooks/rotate_tokens.yml"]
    assert rotations
    for schedule in rotations:
        rule = dict(part.split("=", 1) for part in schedule["rrule"].split("RRULE:", 1)[1].split(";"))
        every = interval[rule["FREQ"]] * int(rule.get("INTERVAL", 1))
        assert schedule["extra_data"]["rotate_expiring_within"] > every
