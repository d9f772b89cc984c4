#!/usr/bin/env python3
"""Splits a `perf record --call-graph dwarf` profile of capstan-server into where the time goes.

Usage: profile_split.py PERF_DATA   (as written by `BENCH_PERF_DATA=PERF_DATA bench/updates/run.sh`)

Each sample is put in one category:
- a sample inside the kernel's networking code (TCP, sockets, loopback) is "kernel networking";
- otherwise the category is that of the innermost frame (leaf first) that a rule below matches,
  so a `memcpy` or a hash-map insert counts for the code that called it, and a futex wait or a
  page fault counts for whatever user code was running (a contended lock in the device buffer is
  device-state recording, a park of an idle worker is tokio scheduling);
- allocation (mimalloc, glibc malloc, Rust's alloc shims) is counted wherever it is called from.
Prints a Markdown table: percent of all server samples per category, and the share of each
category's samples that were in the kernel. The rules are plain substrings of symbol names;
read them to know exactly what each row holds.
"""

import collections
import subprocess
import sys

# (category, substrings of a frame's symbol). Order matters only when one frame matches two rules.
RULES = [
    (
        "allocation (mimalloc, malloc, free)",
        [
            "mi_", "mimalloc", "malloc", "_int_free", "cfree", "__libc_free", "realloc", "__rust_alloc",
            "__rust_dealloc", "__rust_realloc", "alloc::raw_vec", "alloc::alloc::", "sqlite3MemSize",
            "sqlite3MemMalloc", "sqlite3MemFree", "sqlite3Malloc", "sqlite3_free", "sqlite3DbFree",
        ],
    ),
    ("logging/tracing", ["tracing::", "tracing_core::", "tracing_subscriber::", "tower_http::trace::"]),
    ("rate limiting", ["capstan_server::ratelimit::", "capstan_server::device::client_ip"]),
    (
        "device-state recording: background flush to SQLite",
        ["sqlx", "sqlite3", "libsqlite3", "capstan_server::store::", "DeviceBuffer::flush"],
    ),
    (
        "device-state recording: buffer in the request",
        ["capstan_server::ingest::", "capstan_server::device::updates::device_record"],
    ),
    (
        "decision (snapshot read + resolve)",
        ["capstan_server::device::resolve::", "capstan_server::cache::", "semver::", "capstan_core::rules",
         "capstan_core::version"],
    ),
    (
        "response writing/serialization",
        ["serde_json::ser", "serde::ser", "serde_core::ser", "as serde_core::ser::Serialize>",
         "as serde::ser::Serialize>", "axum::json::", "axum::response::", "axum_core::response::",
         "role::Server as hyper::proto::h1::Http1Transaction>::encode", "hyper::proto::h1::encode",
         "Conn<I,B,T>::write_head", "Conn<I,B,T>::write_body", "Conn<I,B,T>::end_body", "poll_flush", "WriteBuf",
         "UpdateAnswer"],
    ),
    (
        "body parsing (device info JSON)",
        ["serde_json::", "serde_core::de", "serde::de", "capstan_core::protocol::", "check_required",
         "from_json_slice"],
    ),
    (
        "HTTP parsing (hyper, httparse, body read)",
        ["httparse::", "role::Server as hyper::proto::h1::Http1Transaction>::parse", "poll_read_head",
         "poll_read_from_io", "Buffered<T,B>::parse", "hyper::proto::h1::decode", "hyper::body::",
         "http_body_util::", "axum::body::", "axum_core::body", "BytesRejection", "http::header::",
         "http::uri::", "http::method::", "HeaderMap", "axum::extract::", "axum_core::extract::"],
    ),
    # The handler's own code and what the compiler inlined into it: axum's handler closure
    # carries the inlined `updates` future, which the symbols cannot split further.
    (
        "handler body (inlined, not split further)",
        ["capstan_server::device::updates::updates", "as axum::handler::Handler<"],
    ),
    (
        "HTTP plumbing (hyper dispatch, axum routing, tower)",
        ["hyper::", "hyper_util::", "axum::", "axum_core::", "tower::", "tower_http::", "http::", "matchit::",
         "futures_util::"],
    ),

    (
        "tokio scheduling (tasks, I/O readiness, parking)",
        ["tokio::", "mio::"],
    ),
]

# Kernel code that is networking: the socket calls and the loopback TCP path under them.
KERNEL_NET = ["tcp_", "sock_", "sk_", "inet_", "__sys_recv", "__sys_send", "skb", "ip_", "net_rx", "netif",
              "loopback", "__dev_queue", "sock_write_iter", "sock_read_iter", "do_writev", "dst_", "nf_"]

OTHER = "other"


def samples(perf_data):
    """Yields (thread name, [(symbol, dso), ...] leaf first) for each sample."""
    text = subprocess.run(
        ["perf", "script", "-i", perf_data, "-F", "comm,tid,ip,sym,dso"],
        check=True, capture_output=True, text=True,
    ).stdout
    comm, frames = None, []
    for line in text.splitlines() + [""]:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line.startswith("\t"):
            comm, frames = line.split()[0], []
        else:
            _address, _, rest = line.strip().partition(" ")
            symbol, _, dso = rest.rpartition(" (")
            frames.append((symbol, dso.rstrip(")")))


ALLOCATION = RULES[0][0]


def categories(symbols):
    """The category of each user frame some rule matches, innermost first."""
    for symbol in symbols:
        for category, markers in RULES:
            if any(marker in symbol for marker in markers):
                yield category
                break


def classify(frames):
    """Returns (category, whether the sample was in the kernel, who allocates if it is allocation)."""
    in_kernel = bool(frames) and "kernel" in frames[0][1]
    kernel = [symbol for symbol, dso in frames if "kernel" in dso]
    user = [symbol for symbol, dso in frames if "kernel" not in dso]
    if in_kernel and any(any(marker in symbol for marker in KERNEL_NET) for symbol in kernel):
        return "kernel networking (TCP, sockets)", True, None
    found = categories(user)
    category = next(found, OTHER)
    caller = next((c for c in found if c != ALLOCATION), OTHER) if category == ALLOCATION else None
    return category, in_kernel, caller


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    counts = collections.Counter()
    kernel_counts = collections.Counter()
    threads = collections.Counter()
    unclassified = collections.Counter()
    allocating = collections.Counter()
    total = 0
    for comm, frames in samples(sys.argv[1]):
        category, in_kernel, caller = classify(frames)
        if caller:
            allocating[caller] += 1
        total += 1
        counts[category] += 1
        kernel_counts[category] += in_kernel
        threads[comm] += 1
        if category == OTHER:
            user = [symbol for symbol, dso in frames if "kernel" not in dso]
            unclassified[user[0] if user else frames[0][0] if frames else "?"] += 1
    if not total:
        sys.exit("no samples")
    order = ["kernel networking (TCP, sockets)"] + [category for category, _ in RULES] + [OTHER]
    print(f"{total} samples; by thread: " + ", ".join(f"{name} {n / total:.0%}" for name, n in threads.most_common()))
    print()
    print("| where | % of server CPU samples | of which in the kernel |")
    print("|---|---:|---:|")
    for category in order:
        n = counts[category]
        print(f"| {category} | {100 * n / total:.1f} | {100 * kernel_counts[category] / n if n else 0:.0f}% |")
    print()
    print("Allocation by the code that allocates (% of all samples): " + ", ".join(
        f"{caller} {100 * n / total:.1f}" for caller, n in allocating.most_common()))
    print()
    print("Most frequent innermost user frames left in 'other':")
    for symbol, n in unclassified.most_common(8):
        print(f"- {100 * n / total:.1f}% {symbol[:120]}")


if __name__ == "__main__":
    main()
