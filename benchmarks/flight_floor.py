"""The floor under an online lookup over Flight SQL: a bare pyarrow.flight server that answers
ADBC's prepared-statement calls (CreatePreparedStatement, DoPut of the parameters,
GetFlightInfo, DoGet) with a constant one-row result and does nothing else, timed with the
same ADBC client Raise's SDK uses. What a Raise lookup costs over this is Raise's own work
per call (authentication, session, lookup, audit); the floor itself is gRPC, the ADBC driver
and pyarrow.flight's Python dispatch.

    python benchmarks/flight_floor.py            # 2,000 calls
    python benchmarks/flight_floor.py --quick    # 300 calls

Last line: ``floor_1key_p50_ms`` and p99, and the same with a 100-row parameter batch.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flight_server import flight_sql_pb2 as pb  # noqa: E402
from flight_server.protocol import pack, parameter_schema, schema_bytes, unpack  # noqa: E402
from flight_server.sql_info import SQL_INFO_SCHEMA, sql_info_table  # noqa: E402

RESULT = pa.table({"user_id": [1], **{f"f{i}": [0.5] for i in range(5)}})
HANDLE = b"floor"


class FloorServer(flight.FlightServerBase):
    """Answers a prepared query and nothing more."""

    def do_action(self, context, action):
        if action.type == "CreatePreparedStatement":
            return [flight.Result(pa.py_buffer(pack(pb.ActionCreatePreparedStatementResult(
                prepared_statement_handle=HANDLE, dataset_schema=schema_bytes(RESULT.schema),
                parameter_schema=schema_bytes(parameter_schema(1))))))]
        return []

    def do_put(self, context, descriptor, reader, writer):
        reader.read_all()

    def get_flight_info(self, context, descriptor):
        if isinstance(unpack(descriptor.command), pb.CommandGetSqlInfo):  # what ADBC asks on connect
            return flight.FlightInfo(SQL_INFO_SCHEMA, descriptor, [flight.FlightEndpoint(b"info", [])], -1, -1)
        return flight.FlightInfo(RESULT.schema, descriptor, [flight.FlightEndpoint(b"t", [])], 1, -1)

    def do_get(self, context, ticket):
        return flight.RecordBatchStream(sql_info_table() if ticket.ticket == b"info" else RESULT)


def percentiles(fn, calls: int) -> tuple[float, float]:
    for _ in range(min(50, calls)):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def measure(calls: int) -> dict[str, float]:
    """Start the floor server in a child process and time ADBC prepared executions against it."""
    import adbc_driver_flightsql
    import adbc_driver_manager

    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        database = adbc_driver_flightsql.connect(f"grpc://127.0.0.1:{port}")
        connection = adbc_driver_manager.AdbcConnection(database)
        statement = adbc_driver_manager.AdbcStatement(connection)
        statement.set_sql_query("LOOKUP ?")
        statement.prepare()
        out = {}
        for size in (1, 100):
            batch = pa.record_batch([pa.array(np.arange(size, dtype=np.int64))], names=["1"])

            def one():
                statement.bind(batch)
                stream, _ = statement.execute_query()
                pa.RecordBatchReader.from_stream(stream).read_all()

            out[f"floor_{size}key_p50_ms"], out[f"floor_{size}key_p99_ms"] = percentiles(one, calls)
        for handle in (statement, connection, database):
            handle.close()
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 calls")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        server = FloorServer("grpc://127.0.0.1:0")
        print(server.port, flush=True)
        server.serve()
        return
    figures = measure(300 if args.quick else 2_000)
    print(" ".join(f"{k}={v:.3f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
