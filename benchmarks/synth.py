"""Synth time for 7, 70 and 700-node member networks, and how it grows.

Each network has the BaaS topology ratio (3 validators : 2 boots : 2 writers with Tessera) on Kubernetes, keys
derived from a dev seed. The figure is the whole ``lacchain synth``: running the member program under Pulumi's
mock engine and writing plan.json, the tree and every node's artifacts. Targets: 700 nodes under 15 s, and
growth no worse than linear (700/70 ratio close to 10).

    python benchmarks/synth.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.member import member_program  # noqa: E402
from lacchain_cli.synth import run_program, write_output  # noqa: E402


def network(size: int) -> dict[str, Any]:
    pattern = [("validator", "none"), ("validator", "none"), ("validator", "none"), ("boot", "none"),
               ("boot", "none"), ("writer", "tessera"), ("writer", "tessera")]  # fmt: skip
    nodes = []
    for index in range(size):
        role, tm = pattern[index % len(pattern)]
        nodes.append(
            {
                "name": f"{role}-{index}",
                "role": role,
                "platform": "kubernetes",
                "transactionManager": tm,
                "placement": {"namespace": f"ns-{index // 100}"},
            }
        )
    return {
        "member": "bench",
        "devKeySeed": "benchmark",
        "network": {"preset": "custom", "chainId": 1337, "permissioning": {"mode": "local"}},
        "nodes": nodes,
    }


def synth_seconds(size: int) -> tuple[float, int]:
    document = network(size)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_program("bench", document, lambda: member_program(ROOT))
        write_output(result, Path(out), "bench")
        elapsed = time.perf_counter() - start
    return elapsed, len(result.resources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is reported")
    args = parser.parse_args()
    synth_seconds(7)  # warm-up: imports and first-call costs are not part of the figure
    medians: dict[int, float] = {}
    print(f"{'nodes':>6} {'resources':>10} {'median s':>9} {'ms/node':>8}")
    for size in (7, 70, 700):
        runs = [synth_seconds(size) for _ in range(args.repeat if size < 700 else max(1, args.repeat - 1))]
        median = statistics.median(r[0] for r in runs)
        medians[size] = median
        print(f"{size:>6} {runs[0][1]:>10} {median:>9.2f} {1000 * median / size:>8.1f}")
    ratio = medians[700] / medians[70]
    print(f"ratio 700/70: {ratio:.2f} (linear = 10.0)")
    print(f"700 nodes: {medians[700]:.2f} s (target < 15 s): {'met' if medians[700] < 15 else 'NOT met'}")


if __name__ == "__main__":
    main()
