"""Benchmarks against peers: `pipeline run` beside Bespoke Curator, a LiteLLM Router driver and a plain loop.

Every tool runs as a subprocess against its own emulator process, with the same rows, limits, concurrency,
attempts, timeout and log level; the emulator's ledger is the ground truth. `benchmarks/run_peers.py` is the one
command; `docs/benchmarks.md` is what it writes.

Modules: `scenarios` (what is run, at which scale), `data` (rows and images), `envs` (the peers' virtual
environments), `tools` (how each tool is started and where its outcomes are read), `emulator` (the emulator
process and its ledger), `monitor` (one tool run: process, samplers, kill -9), `metrics` (figures from the ledger
and the outcomes), `suite` (runs the scenarios), `report` and `plots` (the doc and its PNGs).
"""
