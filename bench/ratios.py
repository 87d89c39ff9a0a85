"""Prints Tickwire's same-run ratios to nginx and to the FastAPI peer from runs.tsv files."""
import csv
import statistics
import sys

conns, paths = sys.argv[1], sys.argv[2:]
runs = {}
for path in paths:
    with open(path) as f:
        for row in csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"):
            runs.setdefault(row["server"], []).append(row)


def median(server, key):
    values = [float(r[key]) for r in runs.get(server, []) if r[key] not in ("", "-", "?")]
    return statistics.median(values) if values else float("nan")


print(f"\n== {conns} connections: medians of {len(runs.get('nginx', []))} runs")
print(f"{'server':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'x nginx':>9}{'x fastapi':>11}{'errors':>8}  rows/acked")
nginx, fastapi = median("nginx", "rps"), median("fastapi", "rps")
for server in runs:
    rps = median(server, "rps")
    rows = "/".join(runs[server][-1].get(k, "") for k in ("rows", "acked"))
    errors = sum(int(r["errors"] or 0) for r in runs[server])
    print(f"{server:<16}{rps:>10.0f}{median(server, 'p50_us') / 1000:>9.2f}{median(server, 'p99_us') / 1000:>9.2f}"
          f"{rps / nginx:>9.2f}{rps / fastapi:>11.1f}{errors:>8}  {rows}")
