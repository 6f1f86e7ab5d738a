# Training Deep Neural Networks: the two commands are `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LANGS := sk sr ru
PORT ?= 8888
# Parallel workers for pytest-xdist: every core by default.
WORKERS ?= auto

.PHONY: venv lab lab-student test test-full test-unit bench bench-notebooks gpu-wheels gpu-venv lint spell sync student slides execute coverage clean-venv help

help:
	@echo "make lab        create .venv if needed, open JupyterLab on notebooks/"
	@echo "make test       create .venv if needed, run unit, claim and notebook tests (quick profile)"
	@echo "make test-full  the notebooks in the full profile (GPU, real sizes and epochs)"
	@echo "make bench      benchmarks: ratios against PyTorch measured in the same run"
	@echo "make bench-notebooks  seconds per notebook and in total of the last make test"
	@echo "make gpu-wheels download the py3.12 wheels for an offline GPU machine (wheels/py312)"
	@echo "make gpu-venv   on the GPU machine: .venv from wheels/py312 on top of its own torch"
	@echo "make lint       ruff over course_lib, tests, tools and bench"
	@echo "make spell      hunspell over the markdown of every notebook and README"
	@echo "make sync       copy code cells from notebooks/sk to sr and ru (SRC=sr to start elsewhere)"
	@echo "make lab-student  student versions (exercises blank) in student/, JupyterLab on them"
	@echo "make student    (re)write every student version under student/ (overwrites them)"
	@echo "make slides     reveal.js slides of every notebook under build/slides/ (work offline)"
	@echo "make execute    re-run every notebook in place (quick profile) before committing it"

venv: $(STAMP)

# The venv is (re)built when it is missing or older than requirements.txt or pyproject.toml.
$(STAMP): requirements.txt pyproject.toml tools/jupyterlab_overrides.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@# jupyterlab-rise pulls jupyterlab-mathjax3, which clashes with JupyterLab 4's own MathJax.
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyterlab/mathjax3-extension
	@# nbclassic is there for its static files (offline slides), not as a second notebook UI.
	$(BIN)/jupyter server extension disable --sys-prefix nbclassic
	@# Offline classrooms: JupyterLab must not ask the internet for news or updates.
	install -D -m 644 tools/jupyterlab_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) --no-browser \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

test: $(STAMP)
	COURSE_PROFILE=$${COURSE_PROFILE:-quick} $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile \
		--nbval-lax --nbval-current-env --cov=course_lib --cov-report=term \
		--junitxml=build/test-report.xml tests notebooks

test-unit: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile tests/unit tests/claims

# The full profile is meant for CUDA: the script refuses to start without it (on the CPU its
# sizes and epochs would take hours), picks the workers from the GPUs and cores (WORKERS_FULL=n
# overrides; rule in tools/full_profile.py) and prints the seconds of every notebook.
# FULL_TIMEOUT=S stops it after S seconds and still prints the table of what ran.
test-full: $(STAMP)
	$(BIN)/python tools/full_profile.py $(if $(FULL_TIMEOUT),--timeout $(FULL_TIMEOUT))

coverage: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --cov=course_lib --cov-report=term \
		tests/unit tests/claims

bench: $(STAMP)
	$(BIN)/python -m bench

bench-notebooks: $(STAMP)
	$(BIN)/python -m bench notebooks

gpu-wheels: $(STAMP)
	tools/gpu_wheels.sh download

# No $(STAMP) prerequisite: this builds .venv offline, on the GPU machine's own torch.
gpu-venv:
	tools/gpu_wheels.sh install --python $(PYTHON)

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests tools bench
	$(BIN)/python tools/sync_code.py --check

spell: $(STAMP)
	$(BIN)/python tools/spell.py

sync: $(STAMP)
	$(BIN)/python tools/sync_code.py --source $${SRC:-sk}

# Students: the notebooks with every exercise blank. Student notebooks already there (work in
# progress) are kept; delete one to get it afresh.
lab-student: $(STAMP)
	$(BIN)/python tools/make_student.py --out student --keep-existing
	$(BIN)/jupyter lab --notebook-dir=student --ip=127.0.0.1 --port=$(PORT) --no-browser \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

student: $(STAMP)
	$(BIN)/python tools/make_student.py --out student

# reveal.js, MathJax, jQuery and require.js are copied to build/slides/assets/: no CDN needed.
slides: $(STAMP)
	$(BIN)/python tools/make_slides.py --out build/slides

execute: $(STAMP)
	COURSE_PROFILE=quick $(BIN)/python tools/execute_notebooks.py

clean-venv:
	rm -rf $(VENV)
