# The two set-up commands of the README:
#   make deploy   deploy the example cluster to the lab (builds/boots it first)
#   make test     the whole test suite (unit tests and end-to-end tests on the lab, side by side)
# Everything either needs is installed from the project's own files: Python
# packages from setup.cfg into .venv, host tools (qemu, debootstrap) by lab/lab.sh.

PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: deploy test unit lab-up lab-down lab-reset status clean

$(STAMP): setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# Guests that a lab test left (a test's cluster, not the example) are reset
# to bare Debian first; a lab of your own is deployed as it is.
deploy: $(STAMP)
	@$(VENV)/bin/python -m twonode.lab || { [ $$? -eq 3 ] && lab/lab.sh reset; }
	lab/lab.sh up
	$(VENV)/bin/pyinfra -y lab/inventory.py deploy.py

# Unit tests and the lab modules in three labs, all at once (lab/suite.py);
# `.venv/bin/python -m pytest` runs the same tests one after the other.
test: $(STAMP)
	$(VENV)/bin/python lab/suite.py

unit: $(STAMP)
	$(VENV)/bin/python -m pytest -m 'not lab'

status: $(STAMP)
	$(VENV)/bin/pyinfra -y lab/inventory.py tasks/status.py

lab-up:
	lab/lab.sh up
lab-down:
	lab/lab.sh down
lab-reset: $(STAMP)
	lab/lab.sh reset
	@$(VENV)/bin/python -c 'from twonode.lab import forget_tests; forget_tests()'

clean:
	rm -rf $(VENV) *.egg-info
