# The test command CI runs is `make test`; `make venv` prepares everything it needs.
PYTHON_VERSION ?= 3.12
VENV ?= .venv
PY := $(VENV)/bin/python
# Build folders of this checkout: another checkout testing at the same time gets its own.
CHECKOUT_ID := $(shell printf '%s' "$(CURDIR)" | sha256sum | cut -c1-12)
BUILD_ROOT ?= /tmp/runnerops-$(CHECKOUT_ID)
BUILD_DIR ?= $(BUILD_ROOT)/sanity

.PHONY: venv test unit sanity lint changelog molecule clean

$(PY):
	"$$(pyenv root 2>/dev/null)/versions/$$(ls "$$(pyenv root 2>/dev/null)/versions" 2>/dev/null | grep -E '^$(PYTHON_VERSION)(\.|$$)' | sort -V | tail -n 1)/bin/python$(PYTHON_VERSION)" -m venv $(VENV) \
	  || python$(PYTHON_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

venv: $(PY)
	$(PY) -m pip install --quiet -r requirements-test.txt

test: unit sanity lint changelog molecule package docs ee

# One worker per CPU (PYTEST_WORKERS=0 runs everything in one process).
PYTEST_WORKERS ?= auto
unit: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist load

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
	rm -rf $(VENV) $(BUILD_ROOT) tests/output .pytest_cache

.PHONY: bench
# Cost as hosts, runner definitions and the runners GitLab holds grow (benchmarks/README.md). Resumable.
bench: venv
	$(PY) benchmarks/fleet.py

.PHONY: demo
# Three local hosts converge against the GitLab API simulator, then a second run changes nothing.
demo: venv
	$(PY) demo/run_demo.py

# The package as users get it: `ansible-galaxy collection build`, installed offline into a clean
# collections path outside the checkout. `package` runs the demo playbook from that install, so a file
# missing from the tarball fails; `docs` lints the documentation and builds the antsibull-docs site from
# it (any warning fails); `ee` writes the execution environment's build context for the built tarball
# and checks it.
PACKAGE_DIR ?= $(BUILD_ROOT)/package
DOCS_DIR ?= $(BUILD_ROOT)/docs
EE_DIR ?= $(BUILD_ROOT)/ee
# The build context names its file: ansible-builder would otherwise pick it by whichever runtime it finds.
EE_CREATE_OPTIONS := --output-filename Containerfile
COLLECTION_VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := runnerops-gitlab-$(COLLECTION_VERSION).tar.gz

.PHONY: dist package docs ee

dist: venv
	rm -rf $(PACKAGE_DIR)
	ANSIBLE_HOME=$(PACKAGE_DIR)/ansible-home $(VENV)/bin/ansible-galaxy collection build --output-path $(PACKAGE_DIR) .
	ANSIBLE_HOME=$(PACKAGE_DIR)/ansible-home ANSIBLE_COLLECTIONS_PATH=$(PACKAGE_DIR)/collections \
	  $(VENV)/bin/ansible-galaxy collection install --offline -p $(PACKAGE_DIR)/collections $(PACKAGE_DIR)/$(TARBALL)
	@echo "Built $(PACKAGE_DIR)/$(TARBALL), installed in $(PACKAGE_DIR)/collections"

.PHONY: build-dirs
# Where this checkout builds (make -s build-dirs).
build-dirs:
	@echo "$(BUILD_DIR) $(PACKAGE_DIR) $(DOCS_DIR) $(EE_DIR)"

package: dist
	$(PY) demo/run_demo.py --collections-path $(PACKAGE_DIR)/collections

docs: dist
	$(PY) docs/site/build.py --collections-path $(PACKAGE_DIR)/collections --dest $(DOCS_DIR)

ee: dist
	rm -rf $(EE_DIR)
	mkdir -p $(EE_DIR)/dist
	cp execution-environment.yml requirements.txt bindep.txt $(EE_DIR)/
	cp $(PACKAGE_DIR)/$(TARBALL) $(EE_DIR)/dist/
	cd $(EE_DIR) && $(abspath $(VENV))/bin/ansible-builder create $(EE_CREATE_OPTIONS) --file execution-environment.yml --context context
	@echo "Every requirement of requirements.txt in the build context, and the tarball:"
	! grep -v '^ *#' requirements.txt | grep . | grep -vxF -f $(EE_DIR)/context/_build/requirements.txt
	cmp $(PACKAGE_DIR)/$(TARBALL) $(EE_DIR)/context/_build/collections/$(TARBALL)
	@echo "The installed package's requirements, as the image build reads them:"
	$(VENV)/bin/ansible-builder introspect --sanitize $(PACKAGE_DIR)/collections
