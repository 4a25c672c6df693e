"""``python -m bench [name ...]``: run the named benchmarks (default: all) and print one table.

To add a benchmark, write ``bench/<name>.py`` with a ``run() -> list[Row]`` function and add one
line to ``BENCHMARKS``. Modules are imported only when their benchmark runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from bench import Row, format_table


def _lazy(module: str, function: str = "run") -> Callable[[], list[Row]]:
    def run() -> list[Row]:
        result: list[Row] = getattr(importlib.import_module(module), function)()
        return result

    return run


#: Benchmark name to the callable that runs it and returns its rows.
BENCHMARKS: dict[str, Callable[[], list[Row]]] = {
    "workers": _lazy("bench.workers"),
    "fanout": _lazy("bench.fanout"),
    "scaleout": _lazy("bench.scaleout"),
    "ingest": _lazy("bench.ingest_bench"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(BENCHMARKS))
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    rows: list[Row] = []
    for name in args.names or list(BENCHMARKS):
        print(f"bench: running {name}", file=sys.stderr, flush=True)
        rows.extend({"benchmark": name, **row} for row in BENCHMARKS[name]())
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
