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
The reads run in a client process, interleaved round by round (so a slow spell on the machine
hits every path alike), and each path keeps its best round.

ADBC's driver is a Go library, and Go's garbage collector is tuned only through the client
process's environment at start-up. With Go's default (``GOGC=100``) it collects every few
dozen MB received, and each collection empties gRPC's buffer pools, so the client process is
run twice: with Go's defaults (``adbc``) and with ``GOGC=400`` (``adbc_gogc400``, the setting
the README recommends for bulk reads); raw Flight and Parquet are measured in both and the
ratios pair each ADBC figure with the raw figure of its own run. The last line is ``name=value``
pairs, ratios first.

    python benchmarks/flight_throughput.py            # full size, ~1.1 GB
    python benchmarks/flight_throughput.py --quick    # ~100 MB, under a minute
"""
from __future__ import annotations

import argparse
import json
import os
import re
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


#: Client process environments: Go's defaults, and the GC setting recommended for bulk reads.
CLIENTS = {"": {}, "_gogc400": {"GOGC": "400"}}
GO_SETTINGS = ("GOGC", "GOMEMLIMIT")


def run_client(raise_url: str, raw_url: str, parquet: Path, rounds: int) -> dict[str, dict[str, float]]:
    """``--client``: ``rounds`` rounds of ADBC, raw Flight and Parquet reads, interleaved;
    per path and phase the best seconds, plus bytes read."""
    reads = {"adbc": lambda: read_adbc(raise_url), "raw": lambda: read_raw(raw_url),
             "parquet": lambda: read_parquet(parquet)}
    fastest: dict[str, dict[str, float]] = {name: {} for name in reads}
    for _ in range(rounds):
        for name, read in reads.items():
            for phase, value in read().items():
                best = fastest[name]
                best[phase] = value if phase == "bytes" else min(value, best.get(phase, value))
    return fastest


def measure(raise_url: str, raw_url: str, parquet: Path, rounds: int) -> dict[str, float]:
    """GB/s per path, from one client process per entry of ``CLIENTS``."""
    gbps: dict[str, float] = {}
    for suffix, settings in CLIENTS.items():
        env = {k: v for k, v in os.environ.items() if k not in GO_SETTINGS} | settings
        out = subprocess.run([sys.executable, __file__, "--client", raise_url, raw_url, str(parquet),
                              str(rounds)], env=env, capture_output=True, text=True, check=True)
        best = json.loads(out.stdout.strip().splitlines()[-1])
        adbc, raw, local = best["adbc"], best["raw"], best["parquet"]
        gbps[f"adbc{suffix}"] = adbc["bytes"] / adbc["total"] / 1e9
        gbps[f"adbc{suffix}_fetch"] = adbc["bytes"] / adbc["fetch"] / 1e9
        gbps[f"raw_flight{suffix}"] = raw["bytes"] / raw["total"] / 1e9
        gbps[f"parquet{suffix}"] = local["bytes"] / local["total"] / 1e9
        gbps[f"gb{suffix}"] = adbc["bytes"] / 1e9
    return gbps


def report(rows: int, rounds: int, gbps: dict[str, float]) -> None:
    """Print GB/s per path and the ``name=value`` line, ratios first."""
    print(f"rows={rows}: {gbps['gb']:.2f} GB per read; best of {rounds} interleaved rounds per client process")
    for name, value in gbps.items():
        if not name.startswith("gb"):
            print(f"  {name:<20} {value:6.2f} GB/s")
    ratios = {}
    for suffix in CLIENTS:
        ratios[f"adbc{suffix}_vs_raw_flight"] = gbps[f"adbc{suffix}"] / gbps[f"raw_flight{suffix}"]
        ratios[f"adbc{suffix}_fetch_vs_raw_flight"] = gbps[f"adbc{suffix}_fetch"] / gbps[f"raw_flight{suffix}"]
        ratios[f"adbc{suffix}_vs_parquet"] = gbps[f"adbc{suffix}"] / gbps[f"parquet{suffix}"]
    figures = {**ratios, **{f"{k}_gbps" if not k.startswith("gb") else k: v for k, v in gbps.items()}}
    print(" ".join(f"{name}={value:.2f}" for name, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~100 MB instead of ~1.1 GB")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per client process")
    parser.add_argument("--raw-server", metavar="PARQUET", help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=4, metavar=("RAISE", "RAW", "PARQUET", "ROUNDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server:
        serve_raw(args.raw_server)
        return
    if args.client:
        raise_url, raw_url, parquet, rounds = args.client
        print(json.dumps(run_client(raise_url, raw_url, Path(parquet), int(rounds))))
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
            gbps = measure(raise_url, raw_url, parquet, args.rounds)
        finally:
            for process in (raise_server, raw_server):
                process.terminate()
                process.wait(timeout=60)
    report(rows, args.rounds, gbps)


if __name__ == "__main__":
    main()
