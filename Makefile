# The test command CI runs is `make test`; `make venv` prepares everything it needs.
PYTHON_VERSION ?= 3.12
VENV ?= .venv
PY := $(VENV)/bin/python
BUILD_DIR ?= /tmp/runnerops-build

.PHONY: venv test unit sanity lint changelog molecule clean

$(PY):
	"$$(pyenv root 2>/dev/null)/versions/$$(ls "$$(pyenv root 2>/dev/null)/versions" 2>/dev/null | grep -E '^$(PYTHON_VERSION)(\.|$$)' | sort -V | tail -n 1)/bin/python$(PYTHON_VERSION)" -m venv $(VENV) \
	  || python$(PYTHON_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

venv: $(PY)
	$(PY) -m pip install --quiet -r requirements-test.txt

test: unit sanity lint changelog molecule

unit: venv
	$(PY) -m pytest

sanity: venv
	PYTHON=$(abspath $(PY)) BUILD_DIR=$(BUILD_DIR) .ci/sanity.sh

lint: venv
	test -d $(BUILD_DIR)/ansible_collections/runnerops/gitlab || $(MAKE) sanity
	PATH=$(abspath $(VENV))/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD_DIR) $(VENV)/bin/ansible-lint

# Role scenarios on podman instances with real systemd; molecule/run.py starts what they need.
molecule: venv
	$(PY) molecule/run.py

changelog: venv
	$(VENV)/bin/antsibull-changelog lint

clean:
	rm -rf $(VENV) $(BUILD_DIR) tests/output .pytest_cache

.PHONY: demo
# Three local hosts converge against the GitLab API simulator, then a second run changes nothing.
demo: venv
	$(PY) demo/run_demo.py
