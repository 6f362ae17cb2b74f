# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Build the collection's documentation site with antsibull-docs and Sphinx, with no network access.

    python docs/site/build.py --collections-path DIR [--dest DIR]

DIR holds ``ansible_collections/runnerops/gitlab``, for example the built tarball installed with
``ansible-galaxy collection install --offline -p DIR``, so the site shows what the package holds. Steps:

1. ``antsibull-docs lint-collection-docs --plugin-docs``: the extra docs (docs/docsite) and every plugin's
   and role's documentation, references included;
2. ``antsibull-docs collection``: the RST pages of every module, the lookup, the role and the extra docs;
3. ``sphinx-build -W --keep-going -n``: the HTML site; any warning fails the build.

References to Ansible's own documentation resolve through a local inventory written from ANSIBLE_LABELS
below (each label with its page on docs.ansible.com), instead of downloading Ansible's inventory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTION = "runnerops.gitlab"

# Labels of Ansible's documentation the pages refer to: label -> (page#anchor on docs.ansible.com, title).
ANSIBLE_LABELS = {
    "ansible_configuration_settings": ("reference_appendices/config.html#ansible-configuration-settings",
                                       "Ansible Configuration Settings"),
    "common_return_values": ("reference_appendices/common_return_values.html#common-return-values",
                             "Return Values"),
    "ansible_collections.ansible.builtin.file_module__parameter-mode": (
        "collections/ansible/builtin/file_module.html#parameter-mode", "mode"),
    "module_defaults_groups": ("playbook_guide/playbooks_module_defaults.html#module-defaults-groups",
                               "Module defaults groups"),
    "check_mode_dry": ("playbook_guide/playbooks_checkmode.html#check-mode-dry",
                       "Validating tasks: check mode and diff mode"),
    "collections_installing": ("collections_guide/collections_installing.html#installing-collections",
                               "Installing collections"),
    "action_plugins": ("plugins/action.html#action-plugins", "Action plugins"),
}


def write_inventory(path):
    """A Sphinx object inventory (version 2) of ANSIBLE_LABELS."""
    lines = "".join(f"{label} std:label -1 {uri} {title}\n" for label, (uri, title) in sorted(ANSIBLE_LABELS.items()))
    header = "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n" \
             "# The remainder of this file is compressed using zlib.\n"
    path.write_bytes(header.encode("utf-8") + zlib.compress(lines.encode("utf-8")))


def run(command, env):
    print("+", " ".join(str(part) for part in command), flush=True)
    proc = subprocess.run([str(part) for part in command], env=env, check=False)
    if proc.returncode:
        sys.exit(f"{Path(str(command[0])).name} failed with exit code {proc.returncode}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections-path", required=True, type=Path,
                        help="a directory holding ansible_collections/runnerops/gitlab")
    parser.add_argument("--dest", type=Path, required=True,
                        help="where the RST and HTML go (emptied first)")
    args = parser.parse_args()

    collections = args.collections_path.resolve()
    collection_dir = collections / "ansible_collections" / "runnerops" / "gitlab"
    if not collection_dir.is_dir():
        sys.exit(f"{collections} holds no {COLLECTION} collection")
    dest = args.dest.resolve()
    shutil.rmtree(dest, ignore_errors=True)
    rst = dest / "rst"
    rst.mkdir(parents=True)
    rst.chmod(0o755)  # antsibull-docs refuses a destination others may write to

    tools = Path(sys.executable).parent
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({"PATH": f"{tools}{os.pathsep}{env.get('PATH', '')}", "ANSIBLE_COLLECTIONS_PATH": str(collections),
                "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false", "ANSIBLE_HOME": str(dest / "ansible-home"),
                "ANSIBLE_NOCOLOR": "1"})

    run([tools / "antsibull-docs", "lint-collection-docs", "--plugin-docs", "--check-extra-docs-refs",
         "--validate-collection-refs", "all", "--disallow-unknown-collection-refs", collection_dir], env)
    run([tools / "antsibull-docs", "--config-file", HERE / "antsibull-docs.cfg", "collection", "--use-current",
         "--fail-on-error", "--cleanup", "everything", "--dest-dir", rst, COLLECTION], env)
    shutil.copy2(HERE / "index.rst", rst / "index.rst")
    write_inventory(dest / "ansible_devel.inv")
    run([tools / "sphinx-build", "-M", "html", rst, dest / "build", "-c", HERE, "-W", "--keep-going", "-n", "-q"], env)
    print(f"Documentation site: {dest / 'build' / 'html' / 'index.html'}")


if __name__ == "__main__":
    main()
