#!/usr/bin/env python3
"""Delta benchmark: what a device on the previous bundle downloads, and what artifacts cost.

On the packing corpus of bench/pack (same generator, same cache), release v2 changes what a
typical release changes: one large JavaScript chunk (rebuilt under a new hashed name), two
small chunks and index.html. In the same run it prints:

  - the bytes a device holding v1 downloads with delta (the changed artifacts' stored sizes,
    counted the way the plugin's delta cache reuses files), against the full zip of v2
    (capstan bundle pack) and against @capgo/cli bundle zip's zip of v2 (when npm installs it);
  - the time to generate artifacts (bytes discarded, into an empty folder store, and into
    the store already holding v1's) against packing the zip alone (capstan bundle pack), wall and CPU (user + system):
    CPU time moves less than wall time when others load the machine;
  - the time capstan-server takes to accept the upload of v2 (a server already holding v1),
    with delta artifacts (the default) against without (`delta_artifacts = false`): the
    upload must not become more than twice as slow.

Goal: delta at most 10 % of the full zip. Times are medians of REPEAT runs; these 2-core
machines are noisy, so compare the ratios.

Usage: bench/delta/run.py [--quick] [--repeat N]
"""

import argparse
import importlib.util
import json
import os
import random
import shutil
import statistics
import hashlib
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "delta"

# The packing corpus and its helpers (generator, timing, @capgo/cli install) come from
# bench/pack, so both benchmarks measure the same files the same way.
_spec = importlib.util.spec_from_file_location("bench_pack", ROOT / "bench" / "pack" / "run.py")
pack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pack)


def release_v2(v1: Path, v2: Path, seed: int) -> dict:
    """Copies v1 to v2 and makes the changes of a typical release. Returns what changed."""
    shutil.rmtree(v2, ignore_errors=True)
    shutil.copytree(v1, v2, ignore=shutil.ignore_patterns(".complete"))
    rng = random.Random(seed)
    scripts = sorted((p for p in v2.rglob("*.js") if p.name != "index.js"), key=lambda p: (p.stat().st_size, str(p)))
    large = scripts[-1]
    small = [p for p in scripts if 2_000 <= p.stat().st_size <= 8_000][:2]
    if len(small) < 2:
        sys.exit("the corpus has fewer than two JavaScript files of 2-8 kB")

    # The large chunk is rebuilt: new contents under a new hashed name, as bundlers emit.
    renamed = large.with_name(large.stem + "-v2" + large.suffix)
    renamed.write_bytes(pack.minified_js(rng, large.stat().st_size))
    large.unlink()
    for path in small:
        path.write_bytes(pack.minified_js(rng, path.stat().st_size))
    index = v2 / "index.html"
    index.write_text(index.read_text().replace("</head>", f'<link rel="modulepreload" href="/{renamed.relative_to(v2)}"></head>'))
    return {
        "large": (renamed.relative_to(v2), renamed.stat().st_size),
        "small": [(p.relative_to(v2), p.stat().st_size) for p in small],
    }


def median_run(repeat, run):
    """Runs `run` REPEAT times; returns the median wall and CPU seconds and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        measured, result = run()
        walls.append(measured.seconds)
        cpus.append(measured.cpu_seconds)
    return (statistics.median(walls), statistics.median(cpus)), result


def artifacts(tool: Path, zip_path: Path, store: Path, previous: Path | None, keep_store: bool):
    """Generates artifacts with the example program; returns (its measure, its JSON)."""
    if not keep_store:
        shutil.rmtree(store, ignore_errors=True)
    command = [tool, zip_path, store] + (["--previous", previous] if previous else [])
    output = OUT / "work" / "artifacts.json"
    with open(output, "w") as out:
        measured = pack.measure(command, stdout=out)
    return measured, json.loads(output.read_text())


class Server:
    """A capstan-server on a free loopback port with its own data directory and admin token."""

    def __init__(self, binary: Path, delta: bool):
        self.data = Path(tempfile.mkdtemp(prefix="capstan-bench-delta-"))
        env = {**os.environ, "CAPSTAN_DATA_DIR": str(self.data), "CAPSTAN_LISTEN": "127.0.0.1:0",
               "CAPSTAN_DELTA_ARTIFACTS": "true" if delta else "false", "CAPSTAN_LOG": "info"}
        self.token = subprocess.run([binary, "token", "create", "--role", "admin", "--name", "bench"], env=env,
                                    check=True, capture_output=True, text=True).stdout.strip()
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            found = re.search(r"ready.*listen=\"?([0-9.:]+)", line)
            if found:
                self.url = f"http://{found.group(1)}"
                break
        else:
            sys.exit("capstan-server did not start")
        # Keep reading its log so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()

    def request(self, *args) -> None:
        subprocess.run(["curl", "-sSf", "-o", "/dev/null", "-H", f"Authorization: Bearer {self.token}", *args],
                       check=True)

    def upload_command(self, zip_path: Path, version: str) -> list:
        sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        return ["curl", "-sSf", "-o", "/dev/null", "-H", f"Authorization: Bearer {self.token}",
                "-H", "Content-Type: application/zip", "--data-binary", f"@{zip_path}",
                f"{self.url}/api/v1/apps/com.example.bench/bundles?version={version}&sha256={sha}"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.data, ignore_errors=True)


def upload_seconds(server_binary: Path, zips: dict, delta: bool, repeat: int):
    """Median wall seconds of uploading v2 to a server already holding v1."""
    server = Server(server_binary, delta)
    try:
        server.request("-H", "Content-Type: application/json", "--data", '{"id": "com.example.bench"}',
                       f"{server.url}/api/v1/apps")
        subprocess.run(server.upload_command(zips["v1"], "1.0.0"), check=True)
        walls = []
        for round_ in range(repeat):
            command = server.upload_command(zips["v2"], f"2.0.{round_}")
            start = time.perf_counter()
            subprocess.run(command, check=True)
            walls.append(time.perf_counter() - start)
        return statistics.median(walls)
    finally:
        server.stop()


def run_corpus(name, v1, tools, repeat):
    capstan, example, capgo, server_binary = tools
    work = OUT / "work"
    v2 = OUT / f"corpus-{name}-v2"
    changed = release_v2(v1, v2, seed=12)
    print(f"\n== {name}: v2 rebuilds {changed['large'][0]} ({changed['large'][1] / 1e3:.0f} kB) and changes "
          + ", ".join(f"{p} ({s / 1e3:.1f} kB)" for p, s in changed["small"]) + " and index.html ==", flush=True)

    zips = {version: work / f"{name}-{version}.zip" for version in ("v1", "v2")}

    def pack_zip(folder, zip_path):
        return lambda: (pack.measure([capstan, "bundle", "pack", folder, "--out", zip_path, "--json"]), None)

    pack.timed([capstan, "bundle", "pack", v1, "--out", zips["v1"], "--json"])
    pack_seconds, _ = median_run(repeat, pack_zip(v2, zips["v2"]))

    store = work / f"{name}-store"
    manifest_v1 = work / f"{name}-v1-artifacts.json"
    _, v1_output = artifacts(example, zips["v1"], store, None, keep_store=False)
    manifest_v1.write_text(json.dumps(v1_output))
    discard_seconds, _ = median_run(repeat, lambda: artifacts(example, zips["v2"], "-", None, True))
    cold_seconds, _ = median_run(repeat, lambda: artifacts(example, zips["v2"], work / f"{name}-cold", None, False))

    def warm():
        # A store holding v1 only, then v2's artifacts added: the upload of a release.
        shutil.rmtree(work / f"{name}-warm", ignore_errors=True)
        shutil.copytree(store, work / f"{name}-warm")
        return artifacts(example, zips["v2"], work / f"{name}-warm", manifest_v1, keep_store=True)

    warm_seconds, v2_output = median_run(repeat, warm)

    capgo_size = None
    if capgo:
        capgo_zip = work / f"{name}-v2-capgo"  # capgo writes the name as given
        project = Path(capgo).parents[2]
        (project / "capacitor.config.json").write_text(
            '{"appId": "com.example.bench", "appName": "bench", "webDir": "%s"}' % v2
        )
        (project / "package.json").write_text(
            '{"name": "bench", "version": "1.0.0", "dependencies": {"@capgo/capacitor-updater": "^8.0.0"}}'
        )
        pack.timed([capgo, "bundle", "zip", "com.example.bench", "--path", v2, "--bundle", "2.0.0",
                    "--name", capgo_zip, "--json"], cwd=project)
        capgo_size = capgo_zip.stat().st_size

    full = zips["v2"].stat().st_size
    delta = v2_output["delta_bytes"]
    no_cache = v2_output["delta_bytes_without_cache"]
    print(f"{'download for a device on v1':<46}{'MB':>10}{'% of zip':>10}")
    rows = [
        ("delta (changed artifacts)", delta),
        ("delta, device without delta cache*", no_cache),
        ("full zip (capstan bundle pack)", full),
    ]
    if capgo_size is not None:
        rows.append(("@capgo/cli bundle zip", capgo_size))
    for label, size in rows:
        print(f"  {label:<44}{size / 1e6:>10.3f}{100 * size / full:>9.1f}%")
    print("  * installed v1 from the zip: no <sha256>_<name> files cached, only store-build files reused")
    print(f"{'time (median of %d)' % repeat:<46}{'wall s':>10}{'x pack':>10}{'CPU s':>10}{'x pack':>10}")
    for label, (wall, cpu) in [
        ("capstan bundle pack (zip alone)", pack_seconds),
        ("artifacts, bytes discarded (generation only)", discard_seconds),
        ("artifacts into an empty store (1 file each)", cold_seconds),
        ("artifacts into a store holding v1", warm_seconds),
    ]:
        print(f"  {label:<44}{wall:>10.2f}{wall / pack_seconds[0]:>10.2f}{cpu:>10.2f}{cpu / pack_seconds[1]:>10.2f}")
    print(f"  (v2: {len(v2_output['files'])} files, {v2_output['new_artifacts']} new artifacts, "
          f"{v2_output['new_bytes'] / 1e6:.3f} MB stored)")
    without = upload_seconds(server_binary, zips, False, repeat)
    with_artifacts = upload_seconds(server_binary, zips, True, repeat)
    print(f"{'upload of v2 to capstan-server holding v1':<46}{'wall s':>10}{'x zip only':>12}")
    print(f"  {'zip only (delta_artifacts = false)':<44}{without:>10.2f}{1:>12.2f}")
    print(f"  {'zip and artifacts (the default)':<44}{with_artifacts:>10.2f}{with_artifacts / without:>12.2f}")
    upload_verdict = "met" if with_artifacts <= 2 * without else "NOT met"
    print(f"goal: upload with artifacts at most twice as slow: {upload_verdict}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    verdict = "met" if delta <= 0.10 * full else "NOT met"
    print(f"goal: delta at most 10 % of the full zip: {verdict} ({100 * delta / full:.2f} %)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 60 MB corpus, one round")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print("building capstan and the artifact generator (release) ...", flush=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "capstan-cli", "-p", "capstan-server"], cwd=ROOT,
                   check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "capstan-core", "--example", "bundle_artifacts"],
                   cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    tools = (target / "release" / "capstan", target / "release" / "examples" / "bundle_artifacts")
    server_binary = target / "release" / "capstan-server"
    if not shutil.which("/usr/bin/time"):
        sys.exit("/usr/bin/time is missing: run `make bench-deps` first")

    shutil.rmtree(OUT / "work", ignore_errors=True)
    (OUT / "work").mkdir(parents=True)
    # The corpora of bench/pack: (name, total bytes, files, seed, with its large files).
    corpora = [("60MB", 60_000_000, 3_000, 60, False)]
    if not args.quick:
        corpora.append(("300MB", 300_000_000, 20_000, 300, True))
    print("generating corpora (cached under bench/out/pack) ...", flush=True)
    for name, total, files, seed, large_files in corpora:
        pack.generate(pack.OUT / f"corpus-{name}", total, files, seed, large_files)
    capgo = pack.capgo_command()
    repeat = 1 if args.quick else args.repeat
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {repeat} round(s) per timing")
    for name, _, _, _, _ in corpora:
        run_corpus(name, pack.OUT / f"corpus-{name}", (*tools, capgo, server_binary), repeat)


if __name__ == "__main__":
    main()
