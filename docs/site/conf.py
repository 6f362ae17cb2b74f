# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Sphinx configuration of the runnerops.gitlab documentation site; docs/site/build.py runs the build."""

from __future__ import annotations

project = "runnerops.gitlab"
copyright = "runnerops.gitlab contributors"  # pylint: disable=redefined-builtin  # Sphinx's name for it
title = "runnerops.gitlab"
html_short_title = "runnerops.gitlab"

extensions = ["sphinx.ext.intersphinx", "sphinx_antsibull_ext"]

pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

# Ansible's own documentation: links go to docs.ansible.com, labels come from the local inventory
# build.py writes next to the RST sources, so the build needs no network.
intersphinx_mapping = {
    "ansible_devel": ("https://docs.ansible.com/projects/ansible/devel/", "../ansible_devel.inv"),
}

default_role = "any"
nitpicky = True
