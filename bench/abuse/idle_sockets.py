"""Idle sockets against a server whose open-files limits (soft and hard) are both 1,024:
1,100 sockets that never send a byte, then /healthz and /updates must still answer, and a
connection that never finishes its headers must be closed within the header timeout.

Usage: python3 idle_sockets.py PATH/TO/capstan-server   (needs prlimit, from util-linux)
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    binary = sys.argv[1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    header_timeout_s = 5
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, CAPSTAN_DATA_DIR=f"{work}/data", CAPSTAN_LISTEN=f"127.0.0.1:{port}", CAPSTAN_LOG="warn",
                   CAPSTAN_HEADER_TIMEOUT_MS=str(header_timeout_s * 1000))
        log = open(f"{work}/server.log", "w")
        server = subprocess.Popen(["prlimit", "--nofile=1024:1024", binary, "serve"], env=env, stderr=log)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            limit = next(line for line in open(f"/proc/{server.pid}/limits") if line.startswith("Max open files"))
            print("   server:", " ".join(limit.split()))
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1100)]
            print(f"   {len(idle)} idle sockets open; the server holds {len(os.listdir(f'/proc/{server.pid}/fd'))} descriptors")
            time.sleep(1.5)  # older than the busy window: the cap may close them to make room
            started = time.time()
            health = urllib.request.urlopen(base + "/healthz", timeout=10)
            print(f"   /healthz {health.status} in {(time.time() - started) * 1000:.0f} ms")
            info = {"platform": "android", "device_id": "d1", "app_id": "com.none", "version_build": "1.0.0",
                    "version_name": "builtin", "plugin_version": "8.0.0"}
            request = urllib.request.Request(base + "/updates", data=json.dumps(info).encode(),
                                             headers={"Content-Type": "application/json"})
            started = time.time()
            answer = urllib.request.urlopen(request, timeout=10)
            print(f"   /updates {answer.status} in {(time.time() - started) * 1000:.0f} ms (an unknown app: a protocol refusal)")
            slow = socket.create_connection(("127.0.0.1", port))
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.settimeout(60)
            started = time.time()
            try:
                while slow.recv(256):
                    pass
            except OSError:
                pass
            closed_after = time.time() - started
            print(f"   a request head never finished: closed after {closed_after:.1f} s (header timeout {header_timeout_s} s)")
            for s in idle:
                s.close()
            return 0 if closed_after < header_timeout_s + 2 else 1
        finally:
            server.terminate()
            server.wait()
            warnings = [line.strip() for line in open(f"{work}/server.log") if "connection limit" in line]
            if warnings:
                print("   server log:", warnings[0][:200])


if __name__ == "__main__":
    sys.exit(main())
