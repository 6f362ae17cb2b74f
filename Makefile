# The test command CI runs is `make test`; `make venv` prepares everything it needs.
PYTHON_VERSION ?= 3.12
VENV ?= .venv
PY := $(VENV)/bin/python
BUILD_DIR ?= /tmp/runnerops-build

.PHONY: venv test unit sanity lint changelog clean

$(PY):
	"$$(pyenv root 2>/dev/null)/versions/$$(ls "$$(pyenv root 2>/dev/null)/versions" 2>/dev/null | grep -E '^$(PYTHON_VERSION)(\.|$$)' | sort -V | tail -n 1)/bin/python$(PYTHON_VERSION)" -m venv $(VENV) \
	  || python$(PYTHON_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

venv: $(PY)
	$(PY) -m pip install --quiet -r requirements-test.txt

test: unit sanity lint changelog

unit: venv
	$(PY) -m pytest

sanity: venv
	PYTHON=$(abspath $(PY)) BUILD_DIR=$(BUILD_DIR) .ci/sanity.sh

lint: venv
	test -d $(BUILD_DIR)/ansible_collections/runnerops/gitlab || $(MAKE) sanity
	PATH=$(abspath $(VENV))/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD_DIR) $(VENV)/bin/ansible-lint

changelog: venv
	$(VENV)/bin/antsibull-changelog lint

clean:
	rm -rf $(VENV) $(BUILD_DIR) tests/output .pytest_cache
