"""Start-up: ``raise sql -e "SELECT 1"`` in a new process against DataFusion's own Python
``SELECT 1`` (and DuckDB's, for scale), each run as a fresh interpreter, in the same run.

The Raise command runs this checkout (``python -m raise_.cli``) against an empty store in a
temporary directory (``import_raise_s``: a notebook's ``import raise_``); the first run of each
command is untimed (it saves the parser tables a user's cache keeps from then on, see
``grammar.parser_cache``, and the bytecode of this checkout, which an installed package has as
the peers do: it goes to a temporary ``PYTHONPYCACHEPREFIX``, even where
``PYTHONDONTWRITEBYTECODE`` is set). Figures are the median of ``--runs`` (wall-clock seconds);
the last line is ``name=value`` pairs, ratios first.

    python benchmarks/startup.py --quick   # 5 runs each
    python benchmarks/startup.py           # 15 runs each
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = {
    "datafusion": "import datafusion; datafusion.SessionContext().sql('SELECT 1').collect()",
    "duckdb": "import duckdb; duckdb.connect().sql('SELECT 1').fetchall()",
}


def elapsed(command: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run of ``command`` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=env["RAISE_HOME"])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, well under a minute")
    parser.add_argument("--runs", type=int)
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 15)
    with tempfile.TemporaryDirectory(prefix="raise-startup-") as home:
        env = {**os.environ, "RAISE_HOME": home, "PYTHONPATH": str(ROOT),
               "PYTHONPYCACHEPREFIX": os.path.join(home, "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        raise_sql = [sys.executable, "-m", "raise_.cli", "sql", "-e", "SELECT 1"]
        commands = {"raise_sql_s": raise_sql, "import_raise_s": [sys.executable, "-c", "import raise_"],
                    "python_s": [sys.executable, "-c", "pass"],
                    **{f"{name}_s": [sys.executable, "-c", code] for name, code in PEERS.items()}}
        for command in commands.values():  # untimed: fills the parser and bytecode caches
            elapsed(command, env)
        figures: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):  # interleaved, so a busy machine slows every command alike
            for name, command in commands.items():
                figures[name].append(elapsed(command, env))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    ratios = {"raise_sql_vs_datafusion_start": medians["raise_sql_s"] / medians["datafusion_s"],
              "raise_sql_vs_duckdb_start": medians["raise_sql_s"] / medians["duckdb_s"]}
    print(" ".join(f"{k}={v:.3g}" for k, v in {**ratios, **medians}.items()))


if __name__ == "__main__":
    main()
