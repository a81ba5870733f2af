"""Benchmarks against peers: one command runs every scenario and writes docs/benchmarks.md and its plots.

    python benchmarks/run_peers.py                 # the full suite, about 25 minutes on 2 cores
    python benchmarks/run_peers.py --quick         # a smoke run of a few minutes (figures not representative)
    python benchmarks/run_peers.py --only steady,faults --tools ours-openai,curator
    python benchmarks/run_peers.py --render-only   # rewrite the doc and plots from docs/benchmarks/results.json
    python benchmarks/run_peers.py --audit-network # check under strace that the peers connect to 127.0.0.1 only

The peers are installed on first use into benchmarks/.venv-curator and benchmarks/.venv-litellm (git-ignored).
Scratch files go to benchmarks/out/peers (git-ignored). See benchmarks/peers/__init__.py for the layout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import envs, plots, report
from peers.audit import audit_network
from peers.scenarios import FULL, QUICK, TOOLS, scenarios
from peers.suite import ScenarioResult, run_scenario

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
ASSETS = ROOT / "docs" / "benchmarks"
WORK = ROOT / "benchmarks" / "out" / "peers"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: small rows, short windows"
    )
    parser.add_argument("--only", help="comma-separated scenario names (default: all)")
    parser.add_argument(
        "--tools", help=f"comma-separated tools (default: {','.join(TOOLS)})"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="do not create the peers' environments",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the doc from the saved results",
    )
    parser.add_argument(
        "--audit-network", action="store_true", help="strace the peers' connect() calls"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the saved results of the scenarios not run now (with --only: rerun some, keep the rest)",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=DOC,
        help="where the doc goes (default: docs/benchmarks.md)",
    )
    parser.add_argument(
        "--assets", type=Path, default=ASSETS, help="where results.json and the PNGs go"
    )
    args = parser.parse_args()
    results_path = args.assets / "results.json"

    if args.render_only:
        saved = json.loads(results_path.read_text(encoding="utf-8"))
        results = [ScenarioResult.from_json(r) for r in saved["scenarios"]]
        return render(saved["meta"], results, args.doc, args.assets)

    tools = args.tools.split(",") if args.tools else list(TOOLS)
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    unavailable: dict[str, str] = {}
    versions = envs.own_versions()
    for peer in ("curator", "litellm"):
        if peer not in tools:
            continue
        env = envs.ensure(peer, install=not args.no_install)
        if env.usable:
            versions[envs.PACKAGES[peer]] = env.version or "?"
        else:
            unavailable[peer] = env.problem or "unusable"
            print(f"{peer}: left out: {env.problem}", flush=True)

    if args.audit_network:
        return audit_network(
            [
                t
                for t in ("curator", "litellm", "plain")
                if t in tools and t not in unavailable
            ]
        )

    scale = QUICK if args.quick else FULL
    chosen = scenarios(scale)
    if args.only:
        names = set(args.only.split(","))
        missing = names - {s.name for s in chosen}
        if missing:
            parser.error(
                f"unknown scenarios {sorted(missing)}; choose from {', '.join(s.name for s in chosen)}"
            )
        chosen = [s for s in chosen if s.name in names]

    started = time.monotonic()
    results: list[ScenarioResult] = []
    for scenario in chosen:
        print(f"{scenario.name}: {scenario.title}", flush=True)
        results.append(
            run_scenario(
                scenario,
                scale,
                WORK,
                tools,
                unavailable,
                say=lambda s: print(s, flush=True),
            )
        )
    command = " ".join(["python", "benchmarks/run_peers.py", *sys.argv[1:]])
    meta = {
        "command": command,
        "quick": args.quick,
        "scale": {k: getattr(scale, k) for k in scale.__dataclass_fields__},
        "versions": versions,
        "unavailable": unavailable,
        "suite_wall_s": round(time.monotonic() - started, 1),
        "date": time.strftime("%Y-%m-%d"),
        "cores": envs.cpu_description(),
    }
    args.assets.mkdir(parents=True, exist_ok=True)
    if args.merge and results_path.exists():
        saved = json.loads(results_path.read_text(encoding="utf-8"))
        fresh = {r.scenario: r for r in results}
        order = [s.name for s in scenarios(scale)]
        kept = [
            ScenarioResult.from_json(r)
            for r in saved["scenarios"]
            if r["scenario"] not in fresh
        ]
        results = sorted(
            [*kept, *fresh.values()],
            key=lambda r: order.index(r.scenario) if r.scenario in order else 99,
        )
        meta["command"] = saved["meta"].get("command", command)
        meta["suite_wall_s"] = saved["meta"].get("suite_wall_s", meta["suite_wall_s"])
        meta["merged"] = (
            f"{', '.join(sorted(fresh))} rerun on {meta['date']} with `{command}`"
        )
    payload = {"meta": meta, "scenarios": [r.to_json() for r in results]}
    results_path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    print(f"suite: {meta['suite_wall_s']:.0f} s; results in {results_path}", flush=True)
    return render(meta, results, args.doc, args.assets)


def render(
    meta: dict[str, object], results: list[ScenarioResult], doc: Path, assets: Path
) -> int:
    images = plots.draw(results, assets)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(report.render(meta, results, images, doc.parent), encoding="utf-8")
    print(f"wrote {doc} and {', '.join(str(p) for p in images.values())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
