"""Verify round trip of `edgesig serve` over loopback: request sent to response read.

Starts `edgesig serve` in its own process (memory store), opens the pen page for its
session cookie and CSRF token, enrols one synthetic writer from 5 references of about
1,000 points each, then times verify requests of fresh genuine signatures of the same
length over one keep-alive connection. Bodies are encoded before the clock starts: the
figure is the server's share (HTTP, JSON, reader, verification), not the browser's.

    PYTHONPATH=. python benchmarks/serve_roundtrip.py --requests 200
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np

from edgesig.capture import pointer_events
from edgesig.synth import make_population

TARGET_POINTS = 1000
REFERENCES = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def writer_of_length(points: int, seed: int):
    """A synthetic writer whose signatures have about ``points`` samples (rate scaled to fit)."""
    probe = make_population(1, seed)[0]
    n = np.median([len(probe.genuine(np.random.default_rng(i))) for i in range(5)])
    rate = float(np.clip(probe.sample_rate_hz * points / n, 20, 1000))
    return make_population(1, seed, sample_rate_hz=rate)[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), load-independent unlike wall time."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edgesig.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("edgesig serve did not start within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    writer = writer_of_length(TARGET_POINTS, args.seed)
    rng = np.random.default_rng(args.seed)
    pens = [writer.genuine(rng) for _ in range(REFERENCES + args.requests + 5)]
    recordings = [json.loads(pointer_events.write(p)) for p in pens]
    port = free_port()
    proc = start_server(port)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/pen")
        page = conn.getresponse()
        cookie = page.getheader("set-cookie").split(";")[0]
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.read().decode()).group(1)
        headers = {"content-type": "application/json", "x-csrf-token": token, "cookie": cookie}

        def post(path: str, body: bytes) -> tuple[int, dict, float]:
            start = time.perf_counter()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data), (time.perf_counter() - start) * 1e3

        status, report, _ = post("/api/pen/enroll", json.dumps(
            {"user": "bench", "signatures": recordings[:REFERENCES]}).encode())
        assert status == 200, report
        bodies = [json.dumps({"user": "bench", "signature": r}).encode() for r in recordings[REFERENCES:]]
        for body in bodies[:5]:  # warm-up: numba caches, first requests
            post("/api/pen/verify", body)
        times, statuses, accepted, engine_ms = [], [], 0, []
        server_cpu, client_cpu = cpu_seconds(proc.pid), time.process_time()
        for body in bodies[5:]:
            status, result, ms = post("/api/pen/verify", body)
            times.append(ms)
            statuses.append(status)
            if status == 200:
                accepted += result["accepted"]
                engine_ms.append(result["latency_ms"])
        server_cpu, client_cpu = cpu_seconds(proc.pid) - server_cpu, time.process_time() - client_cpu
    finally:
        proc.terminate()
        proc.wait(10)
    points = [len(p) for p in pens]
    t = np.array(times)
    print(f"signatures: {int(np.median(points))} points median ({min(points)}-{max(points)}), "
          f"{writer.sample_rate_hz:.0f} Hz, {REFERENCES} references; body {np.median([len(b) for b in bodies]) / 1e3:.0f} kB")
    print(f"verify round trip over loopback, {len(t)} requests: p50 {np.percentile(t, 50):.2f} ms, "
          f"p90 {np.percentile(t, 90):.2f} ms, p99 {np.percentile(t, 99):.2f} ms, min {t.min():.2f} ms")
    print(f"CPU per request: server {server_cpu / len(t) * 1e3:.2f} ms, client {client_cpu / len(t) * 1e3:.2f} ms "
          f"(wall time includes waiting for a core; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  of which verify_stroke: p50 {np.median(engine_ms):.2f} ms; statuses {sorted(set(statuses))}, "
          f"accepted {accepted}/{len(engine_ms)}")


if __name__ == "__main__":
    main()
