# One command each: `make serve` (set up and run the server with the default model) and
# `make test` (set up everything the tests need and run them).
.PHONY: serve test lint bench

serve:
	scripts/setup.sh serve
	.venv/bin/datashark serve

test:
	scripts/setup.sh test
	.venv/bin/python -m pytest -q

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
