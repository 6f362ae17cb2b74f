# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""config.toml handling on files shaped like the ones gitlab-runner writes, without a network."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import stat
import string
import subprocess
from pathlib import Path
from urllib.error import HTTPError, URLError

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_keys as keys
from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_declared as config_declared
from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_schema as schema
from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_merge as merge
from ansible_collections.runnerops.gitlab.plugins.module_utils import _config_sync as sync
from ansible_collections.runnerops.gitlab.plugins.module_utils import _files as files
from ansible_collections.runnerops.gitlab.plugins.module_utils import _manager_api as manager_api
from ansible_collections.runnerops.gitlab.plugins.module_utils import _system_id as system_id
from ansible_collections.runnerops.gitlab.plugins.module_utils import _times as times
from ansible_collections.runnerops.gitlab.plugins.module_utils import _toml_document as toml_document
from ansible_collections.runnerops.gitlab.plugins.module_utils._errors import RunnerOpsError

FIXTURES = Path(__file__).parent / "fixtures" / "config_toml"
UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
NEW_TOKEN = "glrt-t2_DeclaredNewToken0005"


def fixture_text(name):
    return (FIXTURES / f"{name}.toml").read_text(encoding="utf-8")


def put(tmp_path, name, text=None):
    path = tmp_path / "config.toml"
    path.write_text(fixture_text(name) if text is None else text, encoding="utf-8")
    return path


def desired(**params):
    params.setdefault("validate_keys", "error")
    return config_declared.DeclaredConfig.from_params(params)


def entry(name, **values):
    values["name"] = name
    return values


def plan(path, prune=True, **params):
    return sync.plan_sync(str(path), desired(**params), prune=prune, now=NOW)


def parsed(text):
    return tomlkit.parse(text).unwrap()


def runner_named(data, name):
    matches = [item for item in data.get("runners", []) if item.get("name") == name]
    assert len(matches) == 1, matches
    return matches[0]


def rfc2104_hmac_sha256(key, message):
    """HMAC written out from RFC 2104, independent of the hmac module the code uses."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Reading


def test_every_fixture_reads_as_toml():
    for path in FIXTURES.glob("*.toml"):
        document = toml_document.parse_document(path.read_bytes(), str(path))
        assert document.unwrap()["runners"], path.name


def test_malformed_toml_names_line_and_column(tmp_path):
    text = fixture_text("register_shell").replace('executor = "shell"', 'executor = = "shell"')
    path = put(tmp_path, None, text)
    with pytest.raises(RunnerOpsError) as raised:
        toml_document.ConfigDocument.load(str(path))
    line = text.splitlines().index('  executor = = "shell"') + 1
    message = raised.value.describe()
    assert f"line {line}, column" in message
    assert str(path) in message
    assert "left as it is" in message


def test_runners_that_is_not_an_array_of_tables_is_refused(tmp_path):
    path = put(tmp_path, None, 'runners = "none"\n')
    with pytest.raises(RunnerOpsError, match=r"array of tables"):
        toml_document.ConfigDocument.load(str(path))


def test_missing_file_is_an_empty_configuration(tmp_path):
    document = toml_document.ConfigDocument.load(str(tmp_path / "config.toml"))
    assert not document.exists
    assert document.plain() == {}


# ---------------------------------------------------------------------------------------------------
# System id


def test_generated_system_id_is_hmac_keyed_with_the_machine_id(tmp_path):
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    expected = "s_" + rfc2104_hmac_sha256(b"3d1219c7c4c5404aaa1f6d2a48adfda4", b"gitlab-runner")[:12]
    assert system_id.generated_system_id([str(machine_id)]) == expected
    assert system_id.SYSTEM_ID_PATTERN.match(expected)


def test_dbus_machine_id_is_read_before_etc(tmp_path):
    dbus, etc = tmp_path / "dbus-machine-id", tmp_path / "etc-machine-id"
    dbus.write_text("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")
    etc.write_text("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n")
    paths = [str(dbus), str(etc)]
    assert system_id.generated_system_id(paths) == system_id.generated_system_id([str(dbus)])
    dbus.unlink()
    assert system_id.generated_system_id(paths) == system_id.generated_system_id([str(etc)])
    assert system_id.generated_system_id([str(dbus)]) is None


def test_system_id_file_wins_and_bad_content_is_named(tmp_path):
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("cccccccccccccccccccccccccccccccc")
    config_path = str(tmp_path / "config.toml")
    generated = system_id.generated_system_id([str(machine_id)])
    assert system_id.system_identity(config_path, [str(machine_id)]) == (generated, "generated")

    (tmp_path / ".runner_system_id").write_text("s_0123456789ab\n")
    assert system_id.system_identity(config_path, [str(machine_id)]) == ("s_0123456789ab", "file")

    (tmp_path / ".runner_system_id").write_text("not-a-system-id")
    with pytest.raises(RunnerOpsError, match="not a runner system id"):
        system_id.system_identity(config_path, [str(machine_id)])
    (tmp_path / ".runner_system_id").unlink()
    assert system_id.system_identity(config_path, [str(tmp_path / "none")]) == (None, None)


def test_random_system_id_has_gitlab_runner_shape():
    ids = {system_id.random_system_id() for _count in range(20)}
    assert all(system_id.SYSTEM_ID_PATTERN.match(value) and value.startswith("r_") for value in ids)
    assert len(ids) == 20


# ---------------------------------------------------------------------------------------------------
# Times and durations


@pytest.mark.parametrize("text", [
    "2026-01-10T09:00:00Z", "2026-01-10T09:00:00.000Z", "2026-01-10T11:00:00+02:00", "2026-01-10 09:00:00",
    "2026-01-10T09:00:00", "2026-01-10T04:00:00-0500",
])
def test_declared_times_in_the_forms_gitlab_and_ansible_give(text):
    assert times.parse_time(text, "token_obtained_at") == datetime.datetime(2026, 1, 10, 9, 0, 0, tzinfo=UTC)


def test_bad_time_names_the_field():
    with pytest.raises(RunnerOpsError, match=r"runners\[a\]\.token_expires_at 'tomorrow'") as raised:
        times.parse_time("tomorrow", "runners[a].token_expires_at")
    assert "2026-01-10T09:00:00Z" in raised.value.fix


def test_zero_time_is_written_as_gitlab_runner_writes_it():
    assert times.format_time(times.ZERO_TIME) == "0001-01-01T00:00:00Z"
    assert times.format_time(datetime.datetime(2026, 4, 10, 9, 0, 0, 123000, tzinfo=UTC)) == "2026-04-10T09:00:00.123Z"


@pytest.mark.parametrize("text, nanoseconds", [
    ("15m", 900 * 10 ** 9), ("15m0s", 900 * 10 ** 9), ("1h30m", 5400 * 10 ** 9), ("1.5h", 5400 * 10 ** 9),
    ("300ms", 300 * 10 ** 6), ("-2s", -2 * 10 ** 9), ("0", 0), (60, 60),
])
def test_go_durations(text, nanoseconds):
    assert times.parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "m", "1h30", True, 1.5])
def test_not_go_durations(text):
    assert times.parse_duration(text) is None


# ---------------------------------------------------------------------------------------------------
# Key checks


def check(data, table="runners", mode="error"):
    checker = schema.KeyCheck(mode)
    result = checker.table(data, table, "runners[a].settings")
    return checker, result


def test_keys_match_regardless_of_case_and_are_written_canonically():
    checker, result = check({"Executor": "shell", "cache": {"type": "s3", "shared": True}})
    assert result == {"executor": "shell", "cache": {"Type": "s3", "Shared": True}}
    assert not checker.errors
    assert any("'type' in [runners.cache] is spelled 'Type'" in warning for warning in checker.warnings)


def test_typo_gets_a_suggestion_and_fails():
    checker, _result = check({"docker": {"imagee": "alpine"}})
    assert checker.errors == ["runners[a].settings.docker: 'imagee' in [runners.docker] is not a key gitlab-runner "
                              f"{keys.RUNNER_VERSION} knows; did you mean 'image'?"]
    with pytest.raises(RunnerOpsError, match="did you mean 'image'") as raised:
        checker.raise_errors()
    assert "validate_keys=warn" in raised.value.fix


def test_removed_key_names_its_replacement():
    checker, _result = check({"pre_clone_script": "echo hi"})
    assert len(checker.errors) == 1
    assert "removed after gitlab-runner 16.11" in checker.errors[0]
    assert "'pre_get_sources_script'" in checker.errors[0]


def test_key_of_another_table_says_where_it_belongs():
    checker, _result = check({"pull_policy": "always"})
    assert "[runners.docker]" in checker.errors[0]


def test_wrong_types_fail_naming_the_key_without_showing_the_value():
    checker, _result = check({"limit": "2", "docker": {"privileged": "yes", "volumes": "/cache"},
                              "cache": {"s3": {"SecretKey": 12345678}}}, mode="warn")
    text = " ".join(checker.errors)
    assert "'limit' in [[runners]] must be an integer, got a string" in text
    assert "'privileged' in [runners.docker] must be true or false" in text
    assert "'volumes' in [runners.docker] must be a list of strings" in text
    assert "'SecretKey' in [runners.cache.s3] must be a string" in text
    assert "12345678" not in text


def test_durations_are_checked_as_gitlab_runner_parses_them():
    checker, _result = check({"connection_max_age": "15 minutes"}, table="")
    assert "must be a Go duration" in checker.errors[0]
    checker, _result = check({"connection_max_age": "15m", "unhealthy_interval": 3600}, table="")
    assert "'unhealthy_interval' in the top level is not a key" in checker.errors[0]


def test_pull_policy_takes_a_string_or_a_list():
    for value in ("always", ["always", "if-not-present"]):
        checker, _result = check({"docker": {"pull_policy": value}})
        assert not checker.errors
    checker, _result = check({"docker": {"pull_policy": 3}})
    assert "a string or a list of strings" in checker.errors[0]


def test_feature_flags_are_checked():
    checker, _result = check({"feature_flags": {"FF_NETWORK_PER_BUILDS": True, "FF_USE_FASTZIP": True,
                                                "FF_SKIP_NOOP_BUILD_STAGES": True, "FF_TEST_FEATURE": False}})
    assert any("did you mean 'FF_NETWORK_PER_BUILD'" in error for error in checker.errors)
    assert any("'FF_SKIP_NOOP_BUILD_STAGES' is not a feature flag" in error and "removed after" in error
               for error in checker.errors)
    assert not any("FF_USE_FASTZIP" in error for error in checker.errors)
    assert any("'FF_TEST_FEATURE' is deprecated" in warning for warning in checker.warnings)


def test_labels_follow_gitlab_runner_rules():
    checker, _result = check({"labels": {"team": "platform", "x": "ok", "env": "has space"}})
    assert len(checker.errors) == 2
    assert any("'x'" in error for error in checker.errors)
    assert any("value of 'env'" in error for error in checker.errors)


def test_warn_mode_warns_and_off_mode_says_nothing():
    checker, result = check({"imagee": "alpine"}, mode="warn")
    assert not checker.errors and "did you mean 'image'" not in " ".join(checker.errors)
    assert any("'imagee'" in warning for warning in checker.warnings)
    checker, result = check({"imagee": "alpine", "limit": "2", "Executor": "shell"}, mode="off")
    assert not checker.errors and not checker.warnings
    assert result == {"imagee": "alpine", "limit": "2", "executor": "shell"}


def test_removing_an_unknown_key_is_not_a_problem():
    checker, result = check({"pre_clone_script": None, "imagee": None})
    assert not checker.errors and not checker.warnings
    assert result == {"pre_clone_script": None, "imagee": None}


def test_every_reference_table_is_reachable_from_the_top_level():
    reachable, todo = set(), [""]
    while todo:
        table = todo.pop()
        reachable.add(table)
        for key, code in keys.TABLES[table].items():
            if code in ("table", "tables"):
                todo.append(f"{table}.{key}" if table else key)
    assert reachable == set(keys.TABLES)


# ---------------------------------------------------------------------------------------------------
# Declared configuration


def test_secret_keys_are_refused_in_settings_without_echoing_them():
    with pytest.raises(RunnerOpsError) as raised:
        desired(runners=[entry("a", settings={"Token": NEW_TOKEN})])
    assert NEW_TOKEN not in raised.value.describe()
    assert "runners[].token" in raised.value.fix


def test_options_and_global_settings_may_not_both_set_a_key():
    with pytest.raises(RunnerOpsError, match="concurrent is given both"):
        desired(concurrent=2, global_settings={"Concurrent": 3})
    with pytest.raises(RunnerOpsError, match="runners option"):
        desired(global_settings={"runners": []})


def test_duplicate_declared_names_fail():
    with pytest.raises(RunnerOpsError, match="'a' twice"):
        desired(runners=[entry("a"), entry("a")])


def test_unknown_executor_warns_with_suggestion():
    result = desired(runners=[entry("a", executor="dokcer")])
    assert any("did you mean 'docker'" in warning for warning in result.warnings)


# ---------------------------------------------------------------------------------------------------
# Comparing and merging


def test_a_file_rewritten_by_gitlab_runner_with_the_same_content_is_not_a_change(tmp_path):
    path = put(tmp_path, "register_docker")
    result = plan(path, concurrent=1, connection_max_age="15m", runners=[entry(
        "docker-01", url="https://gitlab.example.com", token="glrt-t2_FixtureDockerToken002", executor="docker",
        settings={"docker": {"image": "alpine:latest", "privileged": False, "volumes": ["/cache"]}})])
    assert not result.content_changed
    assert result.merged.added == [] and result.merged.updated == [] and result.merged.removed == []


def test_comments_and_unmanaged_keys_survive_a_change(tmp_path):
    path = put(tmp_path, "hand_edited")
    result = plan(path, concurrent=8, prune=False, runners=[entry(
        "docker-01", settings={"limit": 3, "cache": {"shared": False}, "docker": {"image": "alpine:3.21"}})])
    assert result.content_changed
    assert result.merged.updated == ["docker-01"]
    text = result.after_text
    for line in ("# config.toml for the build hosts; ask the platform team before changing it.",
                 "concurrent = 8 # one per core", "# Metrics for Prometheus.", "limit = 3 # memory bound",
                 "    # Shared cache on the object store.", "# Old shell runner, being retired."):
        assert line in text
    data = parsed(text)
    docker = runner_named(data, "docker-01")
    assert docker["cache"]["Shared"] is False and "shared" not in docker["cache"]
    assert docker["cache"]["s3"]["SecretKey"] == "cache-secret-key-1234"
    assert docker["feature_flags"] == {"FF_NETWORK_PER_BUILD": True}
    assert docker["docker"]["volumes"] == ["/cache", "/var/run/docker.sock:/var/run/docker.sock"]
    assert data["listen_address"] == ":9252"


def test_rendered_file_reads_back_as_the_merged_data(tmp_path):
    path = put(tmp_path, "hand_edited")
    result = plan(path, runners=[entry("docker-01", settings={"docker": {"services": [{"name": "postgres:16"}]}}),
                                 entry("new", url="https://gitlab.example.com", token=NEW_TOKEN, executor="shell")])
    data = parsed(result.after_text)
    assert runner_named(data, "docker-01")["docker"]["services"] == [{"name": "postgres:16"}]
    assert [item["name"] for item in data["runners"]] == ["docker-01", "new"]


def test_new_entry_gets_both_token_times(tmp_path):
    path = put(tmp_path, "register_shell")
    result = plan(path, runners=[entry("shell-01"), entry("docker-02", url="https://gitlab.example.com",
                                                          id=44, token=NEW_TOKEN, executor="docker")])
    assert result.merged.added == ["docker-02"]
    new = runner_named(parsed(result.after_text), "docker-02")
    assert new["token_obtained_at"] == NOW
    assert times.is_zero_time(new["token_expires_at"])
    assert (new["id"], new["token"], new["executor"]) == (44, NEW_TOKEN, "docker")


@pytest.mark.parametrize("missing", ["url", "token", "executor"])
def test_new_entry_needs_url_token_and_executor(tmp_path, missing):
    spec = entry("new", url="https://gitlab.example.com", token=NEW_TOKEN, executor="shell")
    del spec[missing]
    with pytest.raises(RunnerOpsError, match=f"no {missing}") as raised:
        plan(tmp_path / "config.toml", runners=[spec])
    assert f"runners[].{missing}" in raised.value.fix


def test_prune_removes_undeclared_entries_and_keeps_their_token_for_unregistering(tmp_path):
    path = put(tmp_path, "hand_edited")
    result = plan(path, runners=[entry("docker-01")])
    assert result.merged.removed == ["shell-legacy"]
    assert [(item.name, item.url, item.token) for item in result.merged.pruned] == [
        ("shell-legacy", "https://gitlab.example.com/", "glrt-t3_FixtureLegacyShell04")]
    assert [item["name"] for item in parsed(result.after_text)["runners"]] == ["docker-01"]
    assert "glrt-t3_FixtureLegacyShell04" not in repr(result.merged.pruned)


def test_without_prune_or_without_runners_entries_stay(tmp_path):
    path = put(tmp_path, "hand_edited")
    assert not plan(path, prune=False, runners=[entry("docker-01")]).content_changed
    assert not plan(path, concurrent=6).content_changed


def test_pruning_every_entry_leaves_no_runners_table(tmp_path):
    path = put(tmp_path, "register_shell")
    result = plan(path, runners=[])
    assert "runners" not in parsed(result.after_text)
    assert result.merged.removed == ["shell-01"]


def test_duplicate_entries_on_disk_fail_naming_their_ids(tmp_path):
    text = fixture_text("register_shell")
    second = text[text.index("[[runners]]"):].replace("id = 42", "id = 99")
    path = put(tmp_path, None, text + "\n" + second)
    with pytest.raises(RunnerOpsError, match=r"2 \[\[runners\]\] entries named 'shell-01' \(runner ids 42, 99\)"):
        plan(path, runners=[entry("shell-01")])


def test_key_spelled_differently_on_disk_is_updated_in_place(tmp_path):
    path = put(tmp_path, None, '[[runners]]\n  name = "a"\n  Executor = "shell"\n  token = "glrt-x-00000000"\n')
    unchanged = plan(path, runners=[entry("a", executor="shell")])
    assert not unchanged.content_changed
    changed = plan(path, runners=[entry("a", executor="docker")])
    entry_data = parsed(changed.after_text)["runners"][0]
    assert entry_data["executor"] == "docker" and "Executor" not in entry_data


def test_new_top_level_tables_go_before_the_runner_entries(tmp_path):
    path = put(tmp_path, "register_docker")
    path.write_text(path.read_text().replace("[session_server]\n  session_timeout = 1800\n\n", ""))
    result = plan(path, session_server={"listen_address": "0.0.0.0:8093"}, global_settings={"labels": {"team": "ci"}})
    text = result.after_text
    assert text.index("[labels]") < text.index("[session_server]") < text.index("[[runners]]")
    assert "\n\n\n" not in text
    assert parsed(text)["session_server"] == {"listen_address": "0.0.0.0:8093"}


def test_null_removes_a_key(tmp_path):
    path = put(tmp_path, "hand_edited")
    result = plan(path, prune=False, global_settings={"listen_address": None},
                  runners=[entry("docker-01", settings={"environment": None})])
    data = parsed(result.after_text)
    assert "listen_address" not in data
    assert "environment" not in runner_named(data, "docker-01")


# ---------------------------------------------------------------------------------------------------
# Runner-owned token state


def settle(name, **declared):
    current = runner_named(parsed(fixture_text(name)), "docker-01")
    runner = config_declared.DeclaredEntry(name="docker-01", **declared)
    return merge.entry_credentials(current, runner, NOW)


def test_newer_token_on_disk_is_kept():
    values, warning = settle("rotated_token", token=NEW_TOKEN,
                             token_obtained_at=datetime.datetime(2026, 2, 1, tzinfo=UTC))
    assert values == {}
    assert "kept the token on disk (obtained 2026-03-01T10:00:00Z)" in warning
    assert NEW_TOKEN not in warning and "glrt-" not in warning


def test_declared_token_without_obtained_time_does_not_replace_a_dated_one():
    values, warning = settle("rotated_token", token=NEW_TOKEN)
    assert values == {}
    assert "later token_obtained_at" in warning


def test_newer_declared_token_replaces_with_both_times():
    obtained = datetime.datetime(2026, 4, 1, tzinfo=UTC)
    expires = datetime.datetime(2026, 7, 1, tzinfo=UTC)
    values, warning = settle("rotated_token", token=NEW_TOKEN, token_obtained_at=obtained, token_expires_at=expires,
                             id=43)
    assert warning is None
    assert values == {"token": NEW_TOKEN, "token_obtained_at": obtained, "token_expires_at": expires, "id": 43}


def test_expired_token_on_disk_is_replaced_even_without_a_time():
    current = runner_named(parsed(fixture_text("rotated_token")), "docker-01")
    later = datetime.datetime(2026, 7, 1, tzinfo=UTC)
    values, warning = merge.entry_credentials(current, config_declared.DeclaredEntry(name="docker-01", token=NEW_TOKEN), later)
    assert warning is None
    assert values["token"] == NEW_TOKEN and values["token_obtained_at"] == later
    assert times.is_zero_time(values["token_expires_at"])


def test_same_token_keeps_its_obtained_time_and_takes_a_new_expiry():
    expires = datetime.datetime(2026, 9, 1, tzinfo=UTC)
    values, warning = settle("rotated_token", token="glrt-t2_RotatedByRunner00003", token_expires_at=expires,
                             token_obtained_at=NOW)
    assert warning is None
    assert values == {"token_expires_at": expires}


def test_expiry_without_obtained_time_on_disk_gets_one():
    current = {"name": "a", "token": "glrt-x-00000000", "token_expires_at": datetime.datetime(2026, 9, 1, tzinfo=UTC)}
    values, _warning = merge.entry_credentials(current, config_declared.DeclaredEntry(name="a"), NOW)
    assert values == {"token_obtained_at": NOW}


def test_token_of_the_rotated_fixture_survives_a_full_sync(tmp_path):
    path = put(tmp_path, "rotated_token")
    result = plan(path, concurrent=4, runners=[entry(
        "docker-01", url="https://gitlab.example.com", token="glrt-t2_FixtureDockerToken002", executor="docker",
        token_obtained_at="2026-01-12T14:03:27Z", settings={"docker": {"image": "alpine:3.20"}})])
    assert not result.content_changed
    assert len(result.warnings) == 1


def test_zero_expiry_stays_zero(tmp_path):
    path = put(tmp_path, "register_shell")
    result = plan(path, runners=[entry("shell-01", token="glrt-t3_FixtureShellToken0001",
                                       token_expires_at="0001-01-01T00:00:00Z", settings={"limit": 1})])
    data = runner_named(parsed(result.after_text), "shell-01")
    assert "token_expires_at = 0001-01-01T00:00:00Z" in result.after_text
    assert data["token_obtained_at"] == datetime.datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------
# Redaction


def test_redaction_removes_tokens_and_cache_secrets_everywhere():
    text = fixture_text("hand_edited") + "# old token was glrt-t2_CommentedOutToken0006\n"
    redacted = toml_document.redact(text)
    assert "glrt-" not in redacted
    assert "cache-secret-key-1234" not in redacted and "cache-access-key" not in redacted
    assert 'token = "<redacted>"' in redacted
    assert "# The shared docker runner of the platform group." in redacted


def test_redaction_hides_known_secrets_in_any_text_and_leaves_short_ones_to_their_keys():
    redacted = toml_document.redact('password = "a"\nnote = "a legacy-token-value"\n', ["legacy-token-value"])
    assert redacted == 'password = "<redacted>"\nnote = "a <redacted>"\n'


def test_secret_keys_come_from_gitlab_runners_own_key_list():
    # Decided once from every string key gitlab-runner 19.3 decodes; paths and ids naming a secret are not secrets.
    assert schema.SECRET_KEYS == {"token", "password", "sentry_dsn", "bearer_token", "secretkey", "accesskey",
                                  "sessiontoken", "accountkey", "privatekey"}
    for not_secret in ("tls-key-file", "key_path", "CredentialsFile", "ServerSideEncryptionKeyID", "cert_file",
                       "token_obtained_at"):
        assert not schema.is_secret_key(not_secret)


def test_redaction_covers_kubernetes_bearer_tokens_and_every_environment_value():
    text = ('[[runners]]\n  name = "k8s"\n  environment = ["DB_PASSWORD=hunter2", "GIT_DEPTH=10", "EMPTY="]\n'
            '  [runners.kubernetes]\n    bearer_token = "eyJhbGciOiJSUzI1NiJ9.k8s"\n'
            '    host = "https://k8s.example.com"\n')
    redacted = toml_document.redact(text)
    assert "hunter2" not in redacted and "eyJhbGci" not in redacted and "GIT_DEPTH=10" not in redacted
    assert 'environment = ["DB_PASSWORD=<redacted>", "GIT_DEPTH=<redacted>", "EMPTY=<redacted>"]' in redacted
    assert 'bearer_token = "<redacted>"' in redacted and 'host = "https://k8s.example.com"' in redacted
    found = toml_document.secrets_in(toml_document.tomlkit.parse(text).unwrap())
    assert found >= {"hunter2", "DB_PASSWORD=hunter2", "eyJhbGciOiJSUzI1NiJ9.k8s"}


@pytest.mark.parametrize("change, restart", [
    ({"listen_address": "127.0.0.1:9252"}, True),
    ({"session_server": {"listen_address": "[::]:8093"}}, True),
    ({"concurrent": 9}, False),
])
def test_a_change_gitlab_runner_reads_only_at_start_asks_for_a_restart(tmp_path, change, restart):
    path = put(tmp_path, "hand_edited")
    assert plan(path, prune=False, **change).restart_required is restart
    assert plan(path, prune=False).restart_required is False


def test_plan_diff_redacts_declared_and_pruned_tokens(tmp_path):
    path = put(tmp_path, "hand_edited")
    result = plan(path, runners=[entry("docker-01", token=NEW_TOKEN, token_obtained_at="2026-04-01T00:00:00Z")])
    diff = result.diff([NEW_TOKEN])
    assert NEW_TOKEN in result.after_text
    for side in ("before", "after"):
        assert "glrt-" not in diff[side] and "cache-secret-key-1234" not in diff[side]
    assert "shell-legacy" in diff["before"] and "shell-legacy" not in diff["after"]


# ---------------------------------------------------------------------------------------------------
# Writing


def test_atomic_write_is_0600_and_complete_before_it_gets_its_name(tmp_path):
    path = put(tmp_path, "register_shell")
    os.chmod(path, 0o644)
    seen = {}

    def prepare(temp_path):
        info = os.stat(temp_path)
        seen["mode"] = stat.S_IMODE(info.st_mode)
        seen["dir"] = os.path.dirname(temp_path)
        seen["content"] = Path(temp_path).read_bytes()
        seen["target"] = path.read_text()

    files.atomic_write(str(path), b"concurrent = 2\n", prepare=prepare)
    assert seen == {"mode": 0o600, "dir": str(tmp_path), "content": b"concurrent = 2\n",
                    "target": fixture_text("register_shell")}
    assert path.read_bytes() == b"concurrent = 2\n"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["config.toml"]


def test_failed_write_leaves_the_file_and_no_temporary_file(tmp_path):
    path = put(tmp_path, "register_shell")

    def prepare(temp_path):
        raise OSError(13, "Permission denied")

    with pytest.raises(RunnerOpsError, match="Permission denied"):
        files.atomic_write(str(path), b"concurrent = 2\n", prepare=prepare)
    assert path.read_text() == fixture_text("register_shell")
    assert sorted(item.name for item in tmp_path.iterdir()) == ["config.toml"]


@pytest.mark.parametrize("token, kind", [
    ("glpat-abcdefghijklmnopqrst", "a personal, group or project access token (glpat-)"),
    ("GR1348941abcdefghijklmnopq", "a runner registration token"),
    ("glrtr-abcdefghijklmnopqrst", "a runner registration token"),
])
def test_a_token_of_another_kind_is_refused_without_showing_it(tmp_path, token, kind):
    with pytest.raises(RunnerOpsError) as raised:
        desired(runners=[entry("a", url="https://gitlab.example.com", token=token, executor="shell")])
    assert f"runners[a].token is {kind}, not the runner's authentication token." in str(raised.value)
    assert token not in str(raised.value)
    assert "glrt-" in raised.value.fix


@pytest.mark.parametrize("token", ["glrt-t1_abcdefghijklmnopq", "abcdefghijklmnopqrst", "$RUNNER_TOKEN"])
def test_runner_legacy_and_referenced_tokens_are_accepted(token):
    declared = desired(runners=[entry("a", url="https://gitlab.example.com", token=token, executor="shell")])
    assert [runner.token for runner in declared.runners] == [token]


def test_write_removes_temporary_files_of_dead_writers_only(tmp_path):
    path = put(tmp_path, "register_shell")
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f".config.toml.{dead.pid}.k3j2h1g0.tmp"
    orphan.write_text("token = 'glrt-left-by-a-killed-write'\n")
    live = tmp_path / f".config.toml.{os.getpid()}.a1b2c3d4.tmp"
    live.write_text("being written\n")
    other = tmp_path / f".runner_system_id.{dead.pid}.a1b2c3d4.tmp"
    other.write_text("s_000000000000")

    files.atomic_write(str(path), b"concurrent = 2\n")
    assert sorted(item.name for item in tmp_path.iterdir()) == sorted(["config.toml", live.name, other.name])
    assert path.read_bytes() == b"concurrent = 2\n"


def test_write_into_a_missing_directory_says_so(tmp_path):
    with pytest.raises(RunnerOpsError, match="cannot create a file in") as raised:
        files.atomic_write(str(tmp_path / "missing" / "config.toml"), b"")
    assert "directory exists" in raised.value.fix


def test_backup_is_0600_and_holds_the_file_as_read(tmp_path):
    path = put(tmp_path, "hand_edited")
    os.chmod(path, 0o644)
    raw = path.read_bytes()
    backup = files.backup(str(path), raw)
    assert backup.startswith(f"{path}.{os.getpid()}.") and backup.endswith("~")
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert Path(backup).read_bytes() == raw


def test_system_id_file_is_written_without_newline_and_0600(tmp_path):
    put(tmp_path, "register_shell")
    system_id.write_system_id(str(tmp_path / "config.toml"), "s_0123456789ab")
    written = tmp_path / ".runner_system_id"
    assert written.read_bytes() == b"s_0123456789ab"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


# ---------------------------------------------------------------------------------------------------
# Unregistering a runner manager


class FakeGitLab:
    """Answers open_url calls with queued statuses and records what was sent."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append({"url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer >= 400:
            body = json.dumps({"message": f"{answer} answer"}).encode()
            headers = {"Retry-After": "0"} if answer == 429 else {}
            raise HTTPError(url, answer, "error", headers, io.BytesIO(body))
        return io.BytesIO(b"")


def unregister(fake, url="https://gitlab.example.com/ci/"):
    sleeps = []
    client = manager_api.ManagerUnregister(timeout=7, validate_certs=False, ca_path="/etc/ca.pem", opener=fake,
                                           sleep=sleeps.append)
    return client.unregister("old", url, NEW_TOKEN, "s_0123456789ab"), sleeps


def test_unregister_sends_token_and_system_id_in_the_body():
    fake = FakeGitLab(204)
    outcome, _sleeps = unregister(fake)
    assert outcome == "removed"
    call = fake.calls[0]
    assert call["url"] == "https://gitlab.example.com/api/v4/runners/managers"
    assert call["method"] == "DELETE"
    assert json.loads(call["data"]) == {"token": NEW_TOKEN, "system_id": "s_0123456789ab"}
    assert (call["timeout"], call["validate_certs"], call["ca_path"]) == (7, False, "/etc/ca.pem")


@pytest.mark.parametrize("status, outcome", [(404, "gone"), (403, "forbidden")])
def test_unregister_outcomes(status, outcome):
    assert unregister(FakeGitLab(status))[0] == outcome


def test_unregister_retries_transient_answers():
    fake = FakeGitLab(503, 429, 204)
    outcome, sleeps = unregister(fake)
    assert outcome == "removed" and len(fake.calls) == 3 and sleeps == [1.0, 0.0]


def test_unregister_failure_names_status_and_hides_the_token():
    fake = FakeGitLab(500, 500, 500)
    with pytest.raises(RunnerOpsError) as raised:
        unregister(fake)
    assert raised.value.status == 500
    assert "GitLab answered 500" in raised.value.describe()
    assert NEW_TOKEN not in raised.value.describe()
    assert "left as it was" in raised.value.fix


def test_unregister_connection_failure_after_retries():
    fake = FakeGitLab(URLError("refused"), URLError("refused"), URLError("refused"))
    with pytest.raises(RunnerOpsError, match=r"connection failed \(refused\) after 3 attempts"):
        unregister(fake)


# ---------------------------------------------------------------------------------------------------
# runner_config_info's view


def test_describe_config_returns_entries_and_settings(tmp_path):
    path = put(tmp_path, "hand_edited")
    described = sync.describe_config(str(path), [str(tmp_path / "no-machine-id")])
    assert described["exists"] is True
    assert described["global_settings"]["concurrent"] == 6
    first = described["runners"][0]
    assert first["token"] == "glrt-t2_FixtureDockerToken002"
    assert first["token_obtained_at"] == "2026-01-12T14:03:27Z"
    assert first["token_expires_at"] == "0001-01-01T00:00:00Z"
    assert first["settings"]["cache"]["Type"] == "s3"
    assert "token" not in first["settings"]
    json.dumps(described)


# ---------------------------------------------------------------------------------------------------
# Property tests

SAFE_KEYS = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12).map(lambda key: "x_" + key)
SCALARS = st.one_of(
    st.text(alphabet=string.printable, max_size=20), st.integers(-10 ** 12, 10 ** 12), st.booleans(),
    st.lists(st.text(alphabet=string.ascii_letters + "/:=-", max_size=10), max_size=3),
)
SETTINGS = st.recursive(
    st.dictionaries(SAFE_KEYS, SCALARS, max_size=4),
    lambda children: st.dictionaries(SAFE_KEYS, st.one_of(SCALARS, children), max_size=3),
    max_leaves=8,
)


def contains(data, expected):
    """Every key of ``expected`` is in ``data`` with that value (nested dicts compared the same way)."""
    for key, value in expected.items():
        if isinstance(value, dict):
            if not contains(data[key], value):
                return False
        elif data[key] != value:
            return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=SETTINGS, fixture=st.sampled_from(["register_shell", "register_docker", "hand_edited"]))
def test_declared_settings_round_trip_and_keep_everything_else(tmp_path, extra, fixture):
    path = put(tmp_path, fixture)
    original = parsed(fixture_text(fixture))
    name = original["runners"][0]["name"]
    params = {"validate_keys": "off", "prune": False, "global_settings": extra,
              "runners": [entry(name, settings=extra)]}
    result = plan(path, **params)
    after = parsed(result.after_text)
    assert contains(after, extra)
    assert contains(runner_named(after, name), extra)
    # Nothing that was there and not declared went missing.
    for key, value in original.items():
        if key not in extra and key != "runners":
            assert after[key] == value
    for key, value in runner_named(original, name).items():
        if key not in extra:
            assert runner_named(after, name)[key] == value
    # Applying the result again changes nothing.
    path.write_text(result.after_text, encoding="utf-8")
    assert not plan(path, **params).content_changed


@settings(max_examples=60, deadline=None)
@given(moment=st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2200, 1, 1),
                           timezones=st.just(UTC)))
def test_times_round_trip_through_toml(moment):
    text = times.format_time(moment)
    assert times.parse_time(text, "t") == moment
    assert tomlkit.parse(f"t = {text}\n")["t"] == moment


@settings(max_examples=60, deadline=None)
@given(hours=st.integers(0, 500), minutes=st.integers(0, 59), seconds=st.integers(0, 59),
       millis=st.integers(0, 999))
def test_go_durations_written_either_way_compare_equal(hours, minutes, seconds, millis):
    short = "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms"))
                    if value) or "0s"
    expected = ((hours * 60 + minutes) * 60 + seconds) * 10 ** 9 + millis * 10 ** 6
    assert times.parse_duration(short) == expected
    assert schema.same_config({"connection_max_age": short}, {"connection_max_age": expected})


@settings(max_examples=40, deadline=None)
@given(token=st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=8, max_size=30),
       comment=st.booleans())
def test_no_token_survives_redaction(token, comment):
    token = "glrt-" + token
    text = f'[[runners]]\n  name = "a"\n  token = "{token}"\n'
    if comment:
        text += f"# previous: {token}\n"
    assert token not in toml_document.redact(text)


# ---------------------------------------------------------------------------------------------------
# gitlab-runner's zero time, as its own documentation's examples write it
#
# fixtures/config_toml/docs_kubernetes.toml is the config.toml of gitlab-runner's Kubernetes executor page
# (overwriting the node selector), with a name and a token filled in: its times are quoted zero times.

K8S = "kubernetes-01"
K8S_TOKEN = "glrt-t3_KubernetesDocsToken01"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00", "0001-01-01 00:00:00",
                                   datetime.datetime(1, 1, 1, tzinfo=UTC), datetime.datetime(1, 1, 1), None, ""])
def test_zero_time_in_every_form_is_unknown(value):
    assert times.read_time(value) is None
    assert times.known_time(value) is None
    assert times.same_time(value, times.ZERO_TIME)


def test_a_quoted_time_and_a_toml_datetime_of_one_instant_are_the_same():
    quoted = parsed('token_obtained_at = "2026-01-10T09:00:00Z"\n')
    native = parsed("token_obtained_at = 2026-01-10T10:00:00+01:00\n")
    assert schema.same_config({"runners": [quoted]}, {"runners": [native]})
    assert times.same_time(quoted["token_obtained_at"], native["token_obtained_at"])
    later = parsed('token_obtained_at = "2026-01-10T09:00:01Z"\n')
    assert not schema.same_config({"runners": [later]}, {"runners": [native]})


def test_quoted_zero_and_toml_zero_are_the_same_configuration():
    quoted = parsed(fixture_text("docs_kubernetes"))
    native = parsed(fixture_text("docs_kubernetes").replace('"0001-01-01T00:00:00Z"', "0001-01-01T00:00:00Z"))
    assert schema.same_config(quoted, native)


def test_a_new_limit_leaves_the_zero_times_as_they_are(tmp_path):
    path = put(tmp_path, "docs_kubernetes")
    result = plan(path, prune=False, runners=[entry(K8S, settings={"limit": 4})])
    assert result.content_changed and result.merged.updated == [K8S]
    after = result.after_text
    assert '  token_obtained_at = "0001-01-01T00:00:00Z"\n' in after
    assert '  token_expires_at = "0001-01-01T00:00:00Z"\n' in after
    written = runner_named(parsed(after), K8S)
    assert written.pop("limit") == 4
    assert written == runner_named(parsed(fixture_text("docs_kubernetes")), K8S)


def test_the_entry_declared_exactly_as_it_is_is_no_change(tmp_path):
    path = put(tmp_path, "docs_kubernetes")
    result = plan(path, prune=False, runners=[entry(K8S, url="https://gitlab.com/", id=0, token=K8S_TOKEN,
                                                    token_obtained_at="0001-01-01T00:00:00Z",
                                                    token_expires_at="0001-01-01T00:00:00Z", executor="kubernetes",
                                                    settings={"shell": "bash", "kubernetes": {"image": "alpine"}})])
    assert not result.content_changed
    assert result.after_text == fixture_text("docs_kubernetes")


def test_a_token_rotated_an_hour_ago_replaces_one_of_unknown_age(tmp_path):
    path = put(tmp_path, "docs_kubernetes")
    path.write_text(plan(path, prune=False, runners=[entry(K8S, settings={"limit": 4})]).after_text, encoding="utf-8")
    rotated = NOW - datetime.timedelta(hours=1)
    result = plan(path, prune=False, runners=[entry(K8S, token=NEW_TOKEN, token_obtained_at=times.format_time(rotated))])
    assert result.warnings == []
    written = runner_named(parsed(result.after_text), K8S)
    assert written["token"] == NEW_TOKEN
    assert times.same_time(written["token_obtained_at"], rotated)
    assert times.read_time(written["token_expires_at"]) is None


@pytest.mark.parametrize("expires, obtained", [
    ("0001-01-01T00:00:00Z", None),      # no expiry: the unknown obtained time stays unknown
    ("2026-08-01T00:00:00Z", NOW),       # a real expiry: gitlab-runner would rotate at once without a time
])
def test_an_obtained_time_is_filled_in_only_when_a_real_expiry_needs_it(expires, obtained):
    current = runner_named(parsed(fixture_text("docs_kubernetes")), K8S)
    runner = config_declared.DeclaredEntry(name=K8S, token=K8S_TOKEN, token_expires_at=times.parse_time(expires, "x"))
    values, warning = merge.entry_credentials(current, runner, NOW)
    assert warning is None
    assert values.get("token_obtained_at") == obtained


def test_a_declared_zero_time_proves_nothing_against_a_dated_token_on_disk():
    values, warning = settle("rotated_token", token=NEW_TOKEN, token_obtained_at=times.ZERO_TIME)
    assert values == {} and "token_obtained_at not given" in warning


# ---------------------------------------------------------------------------------------------------
# Every tomlkit error, with its place


DOUBLE_DOCKER = """concurrent = 1

[[runners]]
  name = "docker-01"
  executor = "docker"
  [runners.docker]
    image = "alpine"
  [runners.docker]
    privileged = true
"""


@pytest.mark.parametrize("text, line, column, message", [
    (DOUBLE_DOCKER, 8, 12, 'Key "docker" already exists'),
    ('[session_server]\n  session_timeout = 1800\n[session_server]\n  listen_address = "x"\n', 3, 2,
     'Key "session_server" already exists'),
    ('concurrent = 1\nlimits = {a = 1, a = 2}\n', 2, 18, 'Key "a" already exists'),
    ('concurrent = \n', 1, 14, "Unexpected character"),
])
def test_every_tomlkit_error_names_file_line_and_column(tmp_path, text, line, column, message):
    path = put(tmp_path, None, text)
    with pytest.raises(RunnerOpsError) as raised:
        toml_document.ConfigDocument.load(str(path))
    described = raised.value.describe()
    assert described.startswith(f"Reading {path} failed: it is not valid TOML: line {line}, column {column}: {message}")
    assert "left as it is" in described
    assert path.read_text(encoding="utf-8") == text


def test_redaction_of_a_file_tomlkit_cannot_read_still_hides_tokens():
    text = DOUBLE_DOCKER.replace('executor = "docker"', f'token = "{NEW_TOKEN}"')
    assert NEW_TOKEN not in toml_document.redact(text)


# ---------------------------------------------------------------------------------------------------
# A config.toml that is a symbolic link


def test_a_symlinked_config_toml_is_written_through_to_its_target(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    target = volume / "config.toml"
    target.write_text(fixture_text("docs_kubernetes"), encoding="utf-8")
    link = tmp_path / "etc" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(target)
    outcome = sync.run_sync(str(link), desired(runners=[entry(K8S, settings={"limit": 4})]), prune=False, now=NOW)
    assert outcome.result["changed"]
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert "limit = 4" in target.read_text(encoding="utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(item.name for item in volume.iterdir()) == ["config.toml"]
    assert sorted(item.name for item in link.parent.iterdir()) == ["config.toml"]
    again = sync.run_sync(str(link), desired(runners=[entry(K8S, settings={"limit": 4})]), prune=False, now=NOW)
    assert not again.result["changed"]
