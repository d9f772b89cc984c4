#!/usr/bin/env python3
"""Fills a Capstan server through the device endpoints, then times the console's calls.

    fleet.py fill BASE APP DEVICES EVENTS   POST /updates once per device, then POST /stats
                                            batches of 200 events spread over those devices
    fleet.py time BASE APP TOKEN REPS DEVICES LABEL
                                            each console call REPS times; prints median and max
    fleet.py previous DATABASE APP REPS DEVICES LABEL
                                            the statements these calls ran before migration 0015
                                            (full scans of the devices), timed on the same data:
                                            DATABASE is the SQLite file or a postgres:// URL (psql)

Plain asyncio HTTP/1.1 with keep-alive (no third-party packages): FLEET_CONNECTIONS clients at
once (default 32). Device n has a UUID-like id with scattered leading digits: its custom id is `user-<n>`
for one device in four; one in ten asks for the `beta` channel; it runs one of the published
bundles or the store build. Events name those devices, bundles and a mix of actions
(installs, failures, rollbacks), received over the run (the server stamps them).
"""

import asyncio
import json
import os
import statistics
import sys
import time
import urllib.parse
import http.client

BUNDLES = ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
ACTIONS = ["set", "download_complete", "app_moved_to_foreground", "app_moved_to_background",
           "download_zip_start", "update_fail", "download_fail", "reset", "set", "set"]
BATCH = 200


def device_id(n: int) -> str:
    # Scattered leading digits, as random UUIDs have: a prefix of k hex digits matches about
    # devices / 16^k devices (an odd multiplier modulo 2^32 keeps them distinct).
    return f"{(n * 2654435761) % 4294967296:08x}-f1ee-4000-8000-{n:012x}"


def device_info(app: str, n: int) -> dict:
    info = {
        "platform": "ios" if n % 3 == 0 else "android",
        "device_id": device_id(n),
        "app_id": app,
        "custom_id": f"user-{n}" if n % 4 == 0 else "",
        "version_build": "1.0.0",
        "version_code": "100",
        "version_os": "14",
        "version_name": BUNDLES[n % len(BUNDLES)] if n % 5 else "builtin",
        "plugin_version": "8.51.14",
        "is_emulator": False,
        "is_prod": True,
    }
    if n % 10 == 0:
        info["defaultChannel"] = "beta"
    return info


async def post_all(host: str, port: int, path: str, bodies, connections: int) -> tuple[int, int]:
    """POSTs every body of the iterator over `connections` keep-alive connections; returns
    (answered 200, other)."""
    ok = other = 0
    lock = asyncio.Lock()

    retried = 0

    async def worker():
        nonlocal ok, other, retried
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                async with lock:
                    body = next(bodies, None)
                if body is None:
                    return
                data = body.encode()
                request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
                for attempt in range(3):
                    writer.write(request)
                    status_line = await reader.readline()
                    if status_line:
                        break
                    # The server closed this keep-alive connection: send it again on a new one.
                    retried += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                if status_line.split()[1:2] == [b"200"]:
                    ok += 1
                else:
                    other += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    if retried:
        print(f"   ({retried} requests sent again after the server closed a connection)", flush=True)
    return ok, other


def fill(base: str, app: str, devices: int, events: int) -> None:
    url = urllib.parse.urlsplit(base)
    connections = int(os.environ.get("FLEET_CONNECTIONS", "32"))
    started = time.monotonic()
    bodies = (json.dumps(device_info(app, n)) for n in range(devices))
    ok, other = asyncio.run(post_all(url.hostname, url.port, "/updates", bodies, connections))
    took = time.monotonic() - started
    print(f"   /updates: {ok:,} answered 200, {other:,} other, in {took:.0f} s ({ok / took:,.0f} req/s)", flush=True)
    if other:
        sys.exit("fill: /updates answered other than 200")

    def batches():
        sent = 0
        n = 0
        while sent < events:
            size = min(BATCH, events - sent)
            batch = []
            for _ in range(size):
                # A stride coprime with the fleet size visits every device, in a scattered order.
                d = (n * 7919) % devices
                info = device_info(app, d)
                info["action"] = ACTIONS[n % len(ACTIONS)]
                info["version_name"] = BUNDLES[(d + n // devices) % len(BUNDLES)]
                info["old_version_name"] = "builtin"
                batch.append(info)
                n += 1
            sent += size
            yield json.dumps(batch)

    started = time.monotonic()
    ok, other = asyncio.run(post_all(url.hostname, url.port, "/stats", batches(), connections))
    took = time.monotonic() - started
    print(f"   /stats: {ok:,} batches answered 200, {other:,} other, in {took:.0f} s "
          f"({min(events, ok * BATCH) / took:,.0f} events/s)", flush=True)
    if other:
        sys.exit("fill: /stats answered other than 200")


def calls(app: str, devices: int):
    """(name, path) of every call the console's screens make."""
    a = urllib.parse.quote(app, safe="")
    known = device_id(devices // 2)
    return [
        ("bundle health", f"/api/v1/apps/{a}/stats/bundles"),
        ("channel adoption", f"/api/v1/apps/{a}/stats/channels"),
        ("timeline, 7 days by hour", f"/api/v1/apps/{a}/stats/timeline?bucket=hour&days=7"),
        ("timeline, 90 days by day, one bundle", f"/api/v1/apps/{a}/stats/timeline?bucket=day&days=90&version=1.0.2"),
        ("devices: most recent (screen opens)", f"/api/v1/apps/{a}/devices"),
        ("devices: whole id", f"/api/v1/apps/{a}/devices?q={known}"),
        ("devices: id prefix (8 chars)", f"/api/v1/apps/{a}/devices?q={known[:8]}"),
        ("devices: id prefix (4 chars)", f"/api/v1/apps/{a}/devices?q={known[:4]}"),
        ("devices: id prefix (2 chars)", f"/api/v1/apps/{a}/devices?q={known[:2]}"),
        ("devices: id prefix (1 char)", f"/api/v1/apps/{a}/devices?q={known[:1]}"),
        ("devices: custom id", f"/api/v1/apps/{a}/devices?q=user-{(devices // 4) * 2}"),
        ("devices: unknown custom id", f"/api/v1/apps/{a}/devices?q=nobody-at-all"),
        ("devices: channel production", f"/api/v1/apps/{a}/devices?channel=production"),
        ("devices: bundle 1.0.2", f"/api/v1/apps/{a}/devices?bundle=1.0.2"),
        ("device detail", f"/api/v1/apps/{a}/devices/{known}"),
        ("signing key coverage", f"/api/v1/apps/{a}/signing/coverage"),
        ("audit, all apps", "/api/v1/audit?limit=100"),
        ("audit, this app", f"/api/v1/audit?app={a}&limit=100"),
    ]


# What the server ran before migration 0015 for the calls it changed (store/sql.rs at b8a0f27).
PREVIOUS_DEVICE_COUNTS = ("SELECT channel, bundle_version, COUNT(*) FROM devices WHERE app_id = {app} "
                          "AND last_seen_ms >= {since} GROUP BY channel, bundle_version "
                          "ORDER BY channel NULLS FIRST, bundle_version")
PREVIOUS_SEARCH = ("SELECT * FROM devices WHERE app_id = {app} AND ({q} IS NULL OR lower(device_id) LIKE {prefix} "
                   "ESCAPE '\\' OR (custom_id = {q} AND custom_id <> '')) ORDER BY last_seen_ms DESC LIMIT 100")


def previous_statements(app: str, devices: int):
    """(name, SQL) of the previous statements behind the calls 0015 changed, values inlined."""
    def lit(text):
        return "'" + text.replace("'", "''") + "'"
    since = int(time.time() * 1000) - 30 * 24 * 3600 * 1000
    known = device_id(devices // 2)
    def search(q):
        prefix = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return PREVIOUS_SEARCH.format(app=lit(app), q=lit(q), prefix=lit(prefix))
    counts = PREVIOUS_DEVICE_COUNTS.format(app=lit(app), since=since)
    return [
        ("active devices (bundle health, adoption)", counts),
        ("devices: whole id", search(known)),
        ("devices: id prefix (8 chars)", search(known[:8])),
        ("devices: id prefix (2 chars)", search(known[:2])),
        ("devices: custom id", search(f"user-{(devices // 4) * 2}")),
        ("devices: unknown custom id", search("nobody-at-all")),
    ]


def time_previous(database: str, app: str, reps: int, devices: int, label: str) -> None:
    rows = []
    for name, sql in previous_statements(app, devices):
        times = []
        if database.startswith("postgres"):
            import subprocess
            for _ in range(reps):
                out = subprocess.run(["psql", "-X", "-q", "-t", "-A", database, "-c",
                                      "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) " + sql],
                                     check=True, capture_output=True, text=True).stdout
                total = sum(float(line.split(":")[1].split()[0]) for line in out.splitlines()
                            if line.startswith(("Planning Time:", "Execution Time:")))
                times.append(total)
        else:
            import sqlite3
            conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            for _ in range(reps):
                started = time.perf_counter()
                conn.execute(sql).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            conn.close()
        rows.append((name, statistics.median(times), max(times)))
    print(f"\n{label}")
    print(f"{'previous statement':40} {'median ms':>10} {'max ms':>10}")
    for name, median, worst in rows:
        print(f"{name:40} {median:10.1f} {worst:10.1f}")
    sys.stdout.flush()


def time_calls(base: str, app: str, token: str, reps: int, devices: int, label: str) -> None:
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"Authorization": f"Bearer {token}"}
    rows = []
    for name, path in calls(app, devices):
        times = []
        size = 0
        for _ in range(reps):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                sys.exit(f"time: {path} answered {response.status}: {body[:200]!r}")
            size = len(body)
        rows.append((name, statistics.median(times), max(times), size))
    print(f"\n{label}")
    print(f"{'call':40} {'median ms':>10} {'max ms':>10} {'bytes':>9}  (goal: under 100 ms)")
    for name, median, worst, size in rows:
        flag = "" if worst < 100 else "  OVER"
        print(f"{name:40} {median:10.1f} {worst:10.1f} {size:9,}{flag}")
    sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1] == "fill":
        fill(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "previous":
        time_previous(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif sys.argv[1] == "time":
        time_calls(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
    else:
        sys.exit(__doc__)
