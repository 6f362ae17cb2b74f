"""A stateful GitLab REST API simulator for the runner-fleet workflow (see README.md)."""

from .process import SimError, SimProcess

__all__ = ["SimError", "SimProcess"]
