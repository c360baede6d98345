"""FFI overhead, Python side: the calls of mobile-ffi/benches/list.rs through the generated
Python binding, on the store that bench left in LASTMILE_BENCH_FIXTURE (run both with
scripts/bench-ffi)."""

import json
import os
import statistics
import time

import lastmile

fixture = os.environ["LASTMILE_BENCH_FIXTURE"]
with open(os.path.join(fixture, "credentials.json")) as f:
    meta = json.load(f)
runs = meta.pop("runs")
client = lastmile.FieldClient.open(
    lastmile.ClientConfig(database_path=os.path.join(fixture, "orders.db"), server_url="http://127.0.0.1:9"),
    lastmile.DeviceCredentials(**meta),
)
queries = [
    ("all 5,000 by schedule", lastmile.OrderQuery()),
    ("first 50 by priority", lastmile.OrderQuery(sort=lastmile.OrderSort.PRIORITY, limit=50)),
]
for name, q in queries:
    times = []
    rows = 0
    for _ in range(runs):
        t = time.perf_counter()
        rows = len(client.list_orders(q))
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    p95 = times[round((len(times) - 1) * 0.95)]
    print(f"| Python binding `list_orders`, {name} | {rows} | {statistics.median(times):.2f} ms | {p95:.2f} ms |")
