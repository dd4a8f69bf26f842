"""Result streaming throughput: ADBC through ``raise serve`` vs raw Arrow Flight vs Parquet.

The same table (an ``id`` key and float64 features, ~1.1 GB at full size) is read three ways:

- ``adbc``: a feature group in a Raise store, ``SELECT id, f0, …`` through ``raise serve`` with
  ADBC's Flight SQL driver (``adbc_driver_flightsql.dbapi``), timed from execute to the last
  batch (the server plans the query at GetFlightInfo and computes it while DoGet streams it);
  ``adbc_fetch`` is the DoGet part alone;
- ``raw_flight``: a plain ``pyarrow.flight`` server holding the table in memory, read with
  ``FlightClient.do_get`` (no SQL, no storage: the transport's ceiling);
- ``parquet``: ``pyarrow.parquet.read_table`` of the same data from a local file.

Both servers run in their own processes on 127.0.0.1; the Raise server gets a table cache big
enough for the data (``raise serve --cache``), as a server sized for its working set would.
Each path reads in its own long-lived process; the reads are interleaved round by round (so a
slow spell on the machine hits every path alike). Ratios are given two ways: of each path's
best round, and the median over rounds of the round's own ratio; on a shared machine the
second moves less from run to run.

ADBC's driver is a Go library, and Go's garbage collector is tuned only through the client
process's environment at start-up. With Go's default (``GOGC=100``) it collects every few
dozen MB received, and each collection empties gRPC's buffer pools, so ADBC is measured twice:
with Go's defaults (``adbc``) and with ``GOGC=400`` (``adbc_gogc400``, the setting the README
recommends for bulk reads). The last line is ``name=value`` pairs, ratios first.

    python benchmarks/flight_throughput.py            # full size, ~1.1 GB
    python benchmarks/flight_throughput.py --quick    # ~100 MB, under a minute
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FEATURES = 15
BYTES_PER_ROW = 8 * (FEATURES + 1)
USER, PASSWORD = "bench", "bench-password"
READY = re.compile(r"(?:Serving Raise Flight SQL|Serving raw Flight) at (\S+)")


def make_table(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    for i in range(FEATURES):
        columns[f"f{i}"] = pa.array(rng.random(rows))
    return pa.table(columns)


PROJECT = ("bench", "perf", "flight")
COLUMNS = ["id"] + [f"f{i}" for i in range(FEATURES)]


def setup_script() -> str:
    """Raise SQL creating ``bench/perf/flight/wide``: key ``id`` and float64 features."""
    from grammar import ast, render_script

    group = ast.GroupRef(name="wide")
    statements = [ast.CreateNamespace(kind=kind, path=PROJECT[: depth + 1])
                  for depth, kind in enumerate(("organization", "domain", "project"))]
    statements += [ast.Use(path=PROJECT),
                   ast.CreateFeatureGroup(group=group, keys=(ast.ColumnDef(name="id", dtype="int64"),))]
    statements += [ast.CreateFeature(feature=ast.FeatureRef(group=group, name=name), dtype="float64")
                   for name in COLUMNS[1:]]
    return render_script(statements)


def select_all() -> str:
    """``SELECT id, f0, … FROM wide``: the stored columns, not the ``name@v1`` aliases."""
    import sqlglot

    return sqlglot.select(*COLUMNS).from_("wide").sql(dialect="postgres")


def load_store(home: Path, table: pa.Table) -> None:
    """A Raise store with feature group ``bench/perf/flight/wide`` holding ``table``."""
    from flight_server.users import UserStore
    from raise_.engine import Engine

    engine = Engine(home)
    UserStore(engine.catalog).add(USER, PASSWORD)
    session = engine.session(principal=USER)
    session.execute(setup_script())
    session.ingest("wide", table, "overwrite")


def start(command: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sink, text=True)
    for line in process.stdout:
        match = READY.search(line)
        if match:
            return process, match.group(1)
    raise RuntimeError(f"server failed to start:\n{log.read_text()}")


def serve_raw(parquet: str) -> None:
    """``--raw-server``: serve one in-memory table over plain Arrow Flight."""

    class Raw(flight.FlightServerBase):
        def __init__(self, table: pa.Table) -> None:
            super().__init__("grpc://127.0.0.1:0")
            self.table = table

        def do_get(self, context, ticket):
            return flight.RecordBatchStream(self.table)

    table = pq.read_table(parquet)
    rows = max(1, table.num_rows * (4 << 20) // max(table.nbytes, 1))
    server = Raw(pa.Table.from_batches(table.to_batches(max_chunksize=rows)))
    print(f"Serving raw Flight at grpc://127.0.0.1:{server.port}", flush=True)
    server.serve()


def read_adbc(url: str) -> dict[str, float]:
    import adbc_driver_flightsql.dbapi

    with adbc_driver_flightsql.dbapi.connect(
        url, db_kwargs={"username": USER, "password": PASSWORD}, autocommit=True
    ) as conn, conn.cursor() as cursor:
        conn.adbc_connection.set_options(**{"adbc.connection.catalog": PROJECT[0],
                                            "adbc.connection.db_schema": "/".join(PROJECT[1:])})
        started = time.perf_counter()
        cursor.execute(select_all())
        executed = time.perf_counter()
        size = sum(batch.nbytes for batch in cursor.fetch_record_batch())
        done = time.perf_counter()
    return {"total": done - started, "fetch": done - executed, "bytes": size}


def read_raw(url: str) -> dict[str, float]:
    client = flight.connect(url)
    try:
        started = time.perf_counter()
        size = sum(chunk.data.nbytes for chunk in client.do_get(flight.Ticket(b"table")))
        return {"total": time.perf_counter() - started, "bytes": size}
    finally:
        client.close()


def read_parquet(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    size = pq.read_table(path).nbytes
    return {"total": time.perf_counter() - started, "bytes": size}


GO_SETTINGS = ("GOGC", "GOMEMLIMIT")
#: One reader process per path: (how it reads, extra environment). ADBC runs twice, with Go's
#: default GC and with the setting the README recommends for bulk reads.
READERS = {
    "adbc": ("adbc", {}),
    "adbc_gogc400": ("adbc", {"GOGC": "400"}),
    "raw_flight": ("raw", {}),
    "parquet": ("parquet", {}),
}


def worker(kind: str, source: str) -> None:
    """``--worker``: one read of ``source`` per ``go`` line on stdin, its timings as JSON."""
    read = {"adbc": read_adbc, "raw": read_raw, "parquet": lambda path: read_parquet(Path(path))}[kind]
    for _ in sys.stdin:
        print(json.dumps(read(source)), flush=True)


def measure(sources: dict[str, str], rounds: int) -> list[dict[str, dict[str, float]]]:
    """Each round's timings per reader (phase -> seconds, plus bytes read).

    Each reader is its own long-lived process (Go's and Arrow's allocators do not share a
    heap, and the Go runtime reads its settings only at start-up); a round asks each in turn
    for one read, so a slow spell on the machine hits every path alike."""
    workers = {}
    for name, (kind, settings) in READERS.items():
        env = {k: v for k, v in os.environ.items() if k not in GO_SETTINGS} | settings
        workers[name] = subprocess.Popen([sys.executable, __file__, "--worker", kind, sources[kind]], env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    results = []
    try:
        for _ in range(rounds):
            timings = {}
            for name, process in workers.items():
                process.stdin.write("go\n")
                process.stdin.flush()
                line = process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the {name} reader stopped (exit {process.wait()})")
                timings[name] = json.loads(line)
            results.append(timings)
    finally:
        for process in workers.values():
            try:
                process.stdin.close()
                process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):  # it died or hangs: keep the first error
                process.kill()
    return results


def report(rows: int, results: list[dict[str, dict[str, float]]]) -> None:
    """Print GB/s per path (best round) and the ``name=value`` line, ratios first: of the best
    rounds, and the median over rounds of each round's own ratio (robust to a noisy machine)."""
    def rate(timing: dict[str, float], phase: str = "total") -> float:
        return timing["bytes"] / timing[phase] / 1e9

    gbps = {name: max(rate(r[name]) for r in results) for name in READERS}
    for name in ("adbc", "adbc_gogc400"):
        gbps[f"{name}_fetch"] = max(rate(r[name], "fetch") for r in results)
    size = results[0]["adbc"]["bytes"] / 1e9
    print(f"rows={rows}: {size:.2f} GB per read; {len(results)} interleaved rounds")
    for name, value in gbps.items():
        rounds = " ".join(f"{rate(r[name.removesuffix('_fetch')], 'fetch' if name.endswith('_fetch') else 'total'):.2f}"
                          for r in results)
        print(f"  {name:<19} best {value:5.2f} GB/s   rounds: {rounds}")
    ratios = {}
    for name in ("adbc", "adbc_gogc400"):
        ratios[f"{name}_vs_raw_flight"] = gbps[name] / gbps["raw_flight"]
        ratios[f"{name}_vs_raw_flight_median"] = statistics.median(
            rate(r[name]) / rate(r["raw_flight"]) for r in results)
        ratios[f"{name}_fetch_vs_raw_flight"] = gbps[f"{name}_fetch"] / gbps["raw_flight"]
        ratios[f"{name}_vs_parquet"] = gbps[name] / gbps["parquet"]
    figures = {**ratios, **{f"{name}_gbps": value for name, value in gbps.items()}, "gb": size}
    print(" ".join(f"{name}={value:.2f}" for name, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~100 MB instead of ~1.1 GB")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--raw-server", metavar="PARQUET", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "SOURCE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server:
        serve_raw(args.raw_server)
        return
    if args.worker:
        worker(*args.worker)
        return
    rows = (100 << 20) // BYTES_PER_ROW if args.quick else (1100 << 20) // BYTES_PER_ROW
    with tempfile.TemporaryDirectory(prefix="raise-flight-bench-") as tmp:
        work = Path(tmp)
        table = make_table(rows)
        parquet = work / "data.parquet"
        pq.write_table(table, parquet)
        load_store(work / "store", table)
        del table
        raise_server, raise_url = start(
            [sys.executable, "-m", "flight_server", "serve", "--home", str(work / "store"), "--port", "0",
             "--cache", str(2 * rows * BYTES_PER_ROW), "--log-level", "WARNING"], work / "raise.log")
        raw_server, raw_url = start([sys.executable, __file__, "--raw-server", str(parquet)], work / "raw.log")
        try:
            results = measure({"adbc": raise_url, "raw": raw_url, "parquet": str(parquet)}, args.rounds)
        finally:
            for process in (raise_server, raw_server):
                process.terminate()
                process.wait(timeout=60)
    report(rows, results)


if __name__ == "__main__":
    main()
