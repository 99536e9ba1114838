"""Measure the low-stock alerts endpoint of a running StockFlow: full answers and polls.

    python bench/alerts_load.py --url http://127.0.0.1:8000 --company-id 1 --api-key sf_... \
        [--requests 50 --threads 4 --duration 10 --query 'days=30&page_size=100']

``GET /api/companies/<company_id>/alerts/low-stock`` with the company's key:

(a) full answer: ``--requests`` sequential requests without ``If-None-Match``, so each
    one runs the whole alert query (every status must be 200);
(b) polled 304: ``--requests`` sequential requests with ``If-None-Match`` set to the ETag
    of the first answer, as a dashboard polls (every status must be 304);

then each of the two for ``--duration`` seconds from ``--threads`` threads. Every
client keeps one connection alive. Prints a markdown table (latency p50/p95/min/max,
requests/s) and the size of the answer; exits non-zero if a status was not the
expected one. Stdlib only; loopback targets only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import threading
import time
import urllib.parse


def get(conn: http.client.HTTPConnection, path: str, headers: dict) -> tuple[int, bytes, dict]:
    """One GET on a kept-alive connection: status, body, headers (lower-case names)."""
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, body, {k.lower(): v for k, v in response.getheaders()}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Run:
    """The outcome of one variant: latencies (s), statuses, wall time (s)."""

    def __init__(self, name: str, expected: int):
        self.name, self.expected = name, expected
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.elapsed = 0.0
        self.etags: set[str | None] = set()

    def add(self, latency: float, status: int, etag: str | None) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.etags.add(etag)

    @property
    def ok(self) -> bool:
        return bool(self.latencies) and set(self.statuses) == {self.expected}

    def row(self) -> str:
        if not self.latencies:
            return f"| {self.name} | 0 | - | - | - | - | - | - |"
        ms = [latency * 1000 for latency in self.latencies]
        statuses = ", ".join(f"{code} x{n}" for code, n in sorted(self.statuses.items()))
        return (
            f"| {self.name} | {len(ms)} | {statuses} | {len(ms) / self.elapsed:.1f} | "
            f"{percentile(ms, 50):.1f} | {percentile(ms, 95):.1f} | {min(ms):.1f} | "
            f"{max(ms):.1f} |"
        )


def sequential(host, port, path, headers, n, run: Run) -> Run:
    conn = http.client.HTTPConnection(host, port, timeout=120)
    started = time.perf_counter()
    for _ in range(n):
        start = time.perf_counter()
        status, _, response_headers = get(conn, path, headers)
        run.add(time.perf_counter() - start, status, response_headers.get("etag"))
    run.elapsed = time.perf_counter() - started
    conn.close()
    return run


def concurrent(host, port, path, headers, threads, duration, run: Run) -> Run:
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        mine = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            status, _, response_headers = get(conn, path, headers)
            mine.append((time.perf_counter() - start, status, response_headers.get("etag")))
        conn.close()
        with lock:
            for item in mine:
                run.add(*item)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    run.elapsed = time.perf_counter() - started
    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--company-id", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--requests", type=int, default=50, help="per sequential variant")
    parser.add_argument("--threads", type=int, default=4, help="for the concurrent variants")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per concurrent run")
    parser.add_argument("--query", default="", help="query string, e.g. 'days=30&page_size=1000'")
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("load is only ever sent to loopback")
    host, port = url.hostname, url.port or 80
    path = f"/api/companies/{args.company_id}/alerts/low-stock"
    if args.query:
        path += "?" + args.query.lstrip("?")
    auth = {"Authorization": f"Bearer {args.api_key}"}

    # the first answer: is the endpoint there, how big is it, and its ETag
    conn = http.client.HTTPConnection(host, port, timeout=120)
    start = time.perf_counter()
    status, body, headers = get(conn, path, auth)
    first_ms = (time.perf_counter() - start) * 1000
    conn.close()
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}, expected 200: {body[:500]!r}")
    answer = json.loads(body)
    etag = headers.get("etag")
    if not etag:
        raise SystemExit(f"GET {path} answered without an ETag header")
    print(
        f"GET {path}: first request {first_ms:.0f} ms, {len(answer['alerts'])} alerts in the "
        f"answer, total_alerts={answer.get('total_alerts')}, {len(body):,} bytes, ETag {etag}",
        flush=True,
    )

    polled = {**auth, "If-None-Match": etag}
    runs = [
        sequential(host, port, path, auth, args.requests, Run("full answer, sequential", 200)),
        sequential(host, port, path, polled, args.requests, Run("polled 304, sequential", 304)),
        concurrent(
            host,
            port,
            path,
            auth,
            args.threads,
            args.duration,
            Run(f"full answer, {args.threads} threads x {args.duration:g} s", 200),
        ),
        concurrent(
            host,
            port,
            path,
            polled,
            args.threads,
            args.duration,
            Run(f"polled 304, {args.threads} threads x {args.duration:g} s", 304),
        ),
    ]
    print()
    print("| Variant | Requests | Statuses | Requests/s | p50 ms | p95 ms | min ms | max ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        print(run.row())
    print()
    full_etags = runs[0].etags | runs[2].etags
    if full_etags != {etag}:
        print(f"note: the full answers carried {len(full_etags)} different ETags: {full_etags}")
    failed = [run.name for run in runs if not run.ok]
    if failed:
        raise SystemExit(f"unexpected statuses in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
