# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""GitLab URLs as gitlab-runner writes them. Kept apart from the HTTP code: filters import it in every worker."""

from __future__ import annotations


def api_base(url):
    """The instance URL as gitlab-runner uses it: no trailing slash, no legacy ``/ci`` suffix."""
    url = (url or "").strip().rstrip("/")
    if url.endswith("/ci"):
        url = url[:-3]
    return url
