# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test runs it as ``get_pip_<version>.py [pip options] pip==X ...`` inside a fresh venv.
Here pip comes from the interpreter's own ``ensurepip`` wheel instead of the network, and the
requested packages are then installed by that pip from the configured package index.
"""

import ensurepip
import os
import runpy
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}

saved_environ = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null, which would drop the machine's pip settings.
os.environ.clear()
os.environ.update(saved_environ)

sys.argv = ["pip", "install"] + [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
