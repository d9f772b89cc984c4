#!/usr/bin/env python3
"""Pack benchmark: `capstan bundle pack` against what release managers run today.

Generates two deterministic web-build corpora (about 3,000 files / 60 MB and 20,000 files /
300 MB: minified JS and CSS, source maps, SVG, incompressible images and fonts, an index.html)
and times, in the same run and on the same files:

  - capstan bundle pack DIR
  - zip -r -6 + sha256sum (the hand-rolled script)
  - @capgo/cli bundle zip (when npm could install it)

The 300 MB corpus also holds what real apps ship besides many small files: sixty files of 0.5 to
4 MB (vendor JS chunks with their source maps, a bundled code editor with its workers), which
is where a packer's memory shows.

Each tool runs REPEAT times per corpus; the median wall time is reported with the ratio to
Capstan's, the output size, and the peak memory (max RSS of the process tree). These 2-core
machines are noisy: compare the ratios, not the absolute seconds.

On the 300 MB corpus Capstan also runs with `--threads 16`, what it does on a 16-core machine:
each compressing thread holds the file it works on, so that row gives the peak memory a large
machine sees.

Usage: bench/pack/run.py [--quick] [--repeat N] [--capstan BINARY] [--no-threads-row]
"""

import argparse
import filecmp
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "pack"
CORPUS_VERSION = 3

WORDS = (
    "function return const let var this=>{}();if else for while new class extends import export default "
    "async await null undefined true false Object.assign Array.from document.querySelector window.location "
    "useState useEffect props children className onClick render createElement Promise.resolve JSON.parse "
    "e t n r o i a s c l u d f p h m g"
).split()


def minified_js(rng: random.Random, size: int) -> bytes:
    tokens = rng.choices(WORDS, k=size // 5)
    text = "".join(t + rng.choice(";,.(){}[]=+ ") for t in tokens)
    return text.encode()[:size]


def css(rng: random.Random, size: int) -> bytes:
    props = ["color:#%06x" % rng.randrange(1 << 24) for _ in range(64)] + [
        "display:flex", "margin:0 auto", "padding:4px 8px", "font-weight:600", "border-radius:6px",
    ]
    parts = []
    total = 0
    while total < size:
        rule = ".c%x{%s}" % (rng.randrange(1 << 20), ";".join(rng.choices(props, k=4)))
        parts.append(rule)
        total += len(rule)
    return "".join(parts).encode()[:size]


def source_map(rng: random.Random, size: int) -> bytes:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    segments = ",".join("".join(rng.choices(alphabet, k=rng.randint(4, 8))) for _ in range(size // 7))
    return ('{"version":3,"sources":["src/app.ts"],"mappings":"%s"}' % segments).encode()[:size]


def svg(rng: random.Random, size: int) -> bytes:
    points = " ".join("L%d %d" % (rng.randrange(1000), rng.randrange(1000)) for _ in range(size // 9))
    return ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 %s"/></svg>' % points).encode()[:size]


def source_map_with_sources(rng: random.Random, size: int) -> bytes:
    """A bundler's source map: the original sources (most of the bytes), then the mappings."""
    lines = []
    total = 0
    while total < size * 0.7:
        indent = "  " * rng.randrange(4)
        lines.append(indent + " ".join(rng.choices(WORDS, k=rng.randint(3, 12))) + rng.choice([";", " {", "", ","]))
        total += len(lines[-1]) + 2
    # WORDS hold no quote or backslash: the lines need no JSON escaping besides the newlines.
    head = '{"version":3,"sources":["src/vendor.ts"],"sourcesContent":["%s"],"mappings":"' % "\\n".join(lines)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    segments = []
    total = len(head) + 2
    while total < size:
        segments.append("".join(rng.choices(alphabet, k=rng.randint(4, 8))))
        total += len(segments[-1]) + 1
    return (head + ",".join(segments) + '"}').encode()


# The large files of a real app: (path, generator, size in MB between 0.5 and 4 picked per file).
LARGE_FILES = (
    [("assets/vendor/vendor-%02d.js" % i, minified_js) for i in range(24)]
    + [("assets/vendor/vendor-%02d.js.map" % i, source_map_with_sources) for i in range(24)]
    + [
        ("assets/monaco/editor.main.js", minified_js),
        ("assets/monaco/editor.main.js.map", source_map_with_sources),
        ("assets/monaco/editor.main.css", css),
        ("assets/monaco/editor.worker.js", minified_js),
        ("assets/monaco/ts.worker.js", minified_js),
        ("assets/monaco/ts.worker.js.map", source_map_with_sources),
        ("assets/monaco/json.worker.js", minified_js),
        ("assets/monaco/css.worker.js", minified_js),
        ("assets/monaco/html.worker.js", minified_js),
        ("assets/monaco/html.worker.js.map", source_map_with_sources),
        ("assets/monaco/languages.js", minified_js),
        ("assets/monaco/codicon.ttf", None),
    ]
)

KINDS = [
    # (extension, generator or None for incompressible bytes, share of files, typical file size);
    # sizes are scaled in generate() so the corpus lands near its target total.
    ("js", minified_js, 0.38, 40_000),
    ("css", css, 0.07, 12_000),
    ("js.map", source_map, 0.15, 60_000),
    ("svg", svg, 0.05, 6_000),
    ("png", None, 0.20, 30_000),
    ("woff2", None, 0.05, 50_000),
    ("jpg", None, 0.10, 80_000),
]


def generate(folder: Path, total_bytes: int, files: int, seed: int, large_files: bool) -> None:
    """Writes the corpus; with `large_files`, LARGE_FILES are part of its file count and size."""
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == str(CORPUS_VERSION):
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(seed)
    (folder).mkdir(parents=True)
    if large_files:
        for path, make in LARGE_FILES:
            size = int(rng.uniform(0.5, 4.0) * 1_000_000)
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(make(rng, size) if make else rng.randbytes(size))
            total_bytes -= size
        files -= len(LARGE_FILES)
    (folder / "index.html").write_text(
        '<!doctype html><html><head><script type="module" src="/assets/index.js"></script></head>'
        '<body><div id="app"></div></body></html>'
    )
    (folder / "assets").mkdir(exist_ok=True)
    (folder / "assets" / "index.js").write_text("import{CapacitorUpdater}from'x';CapacitorUpdater.notifyAppReady();")
    weights = [share for _, _, share, _ in KINDS]
    for index in range(files - 2):
        ext, make, _, typical = rng.choices(KINDS, weights=weights)[0]
        size = max(200, int(rng.lognormvariate(0, 0.8) * typical * total_bytes / (files * 57_600)))
        data = make(rng, size) if make else rng.randbytes(size)
        sub = folder / "assets" / ("chunk%02d" % (index % 40))
        sub.mkdir(exist_ok=True)
        (sub / ("f%05d.%s" % (index, ext))).write_bytes(data)
    marker.write_text(str(CORPUS_VERSION))


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != ".complete")


def timed(command, cwd=None):
    """Runs a command; returns (seconds, peak RSS in MB)."""
    measured = measure(command, cwd=cwd)
    return measured.seconds, measured.rss_mb


class Measured:
    """Wall time, CPU time (user + system, every thread) and peak memory of one command."""

    def __init__(self, seconds, cpu_seconds, rss_mb):
        self.seconds, self.cpu_seconds, self.rss_mb = seconds, cpu_seconds, rss_mb


def measure(command, cwd=None, stdout=subprocess.DEVNULL):
    """Runs a command (its output to `stdout`, discarded by default) and measures it.

    CPU time and peak memory come from GNU time, which forks the command from its own small
    process: rusage read from this Python process would count the Python interpreter's pages
    that the child inherits before exec. CPU time varies less than wall time when others load
    the machine.
    """
    with tempfile.NamedTemporaryFile("r") as usage_file:
        start = time.perf_counter()
        result = subprocess.run(
            ["/usr/bin/time", "-f", "%M %U %S", "-o", usage_file.name, *map(str, command)],
            cwd=cwd, stdout=stdout, stderr=subprocess.PIPE,
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{command} failed: {result.stderr.decode(errors='replace')}")
        rss_kb, user, system = usage_file.read().strip().splitlines()[-1].split()
        return Measured(elapsed, float(user) + float(system), int(rss_kb) / 1024)


def capgo_command():
    binary = ROOT / "bench" / "out" / "capgo" / "node_modules" / ".bin" / "capgo"
    if binary.exists():
        return binary
    print("  installing @capgo/cli with npm (once) ...", flush=True)
    folder = binary.parents[2]
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        # The capgo CLI also insists on the plugin being installed in the project it runs in.
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), "@capgo/cli",
         "@capgo/capacitor-updater"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    if result.returncode != 0 or not binary.exists():
        print("  @capgo/cli could not be installed; skipping it", flush=True)
        return None
    return binary


def run_corpus(name, folder, capstan, capgo, repeat, work, many_threads):
    size = folder_size(folder)
    count = sum(1 for p in folder.rglob("*") if p.is_file()) - 1
    print(f"\n== {name}: {count} files, {size / 1e6:.0f} MB ==", flush=True)
    tools = {}

    capstan_zip = work / f"{name}-capstan.zip"
    tools["capstan bundle pack"] = (
        lambda: timed([str(capstan), "bundle", "pack", str(folder), "--out", str(capstan_zip), "--json"]),
        capstan_zip,
    )
    if many_threads:
        # What a 16-core machine runs (one compressing thread per core, at most 16): each thread
        # holds the file it compresses, so this is the figure for peak memory. Its time on a
        # machine with fewer cores says nothing.
        threads_zip = work / f"{name}-capstan-16.zip"
        tools["capstan --threads 16"] = (
            lambda: timed([str(capstan), "bundle", "pack", str(folder), "--out", str(threads_zip), "--json",
                           "--threads", "16"]),
            threads_zip,
        )
    info_zip = work / f"{name}-info.zip"

    def zip_and_hash():
        if info_zip.exists():
            info_zip.unlink()
        t1, m1 = timed(["zip", "-q", "-r", "-6", str(info_zip), ".", "-x", ".complete"], cwd=folder)
        t2, m2 = timed(["sha256sum", str(info_zip)])
        return t1 + t2, max(m1, m2)

    tools["zip -r -6 + sha256sum"] = (zip_and_hash, info_zip)
    if capgo:
        capgo_zip = work / f"{name}-capgo"  # capgo writes the name as given

        # The capgo CLI refuses to run outside a Capacitor project: make its install folder one.
        project = Path(capgo).parents[2]
        (project / "capacitor.config.json").write_text(
            '{"appId": "com.example.bench", "appName": "bench", "webDir": "%s"}' % folder
        )
        (project / "package.json").write_text(
            '{"name": "bench", "version": "1.0.0", "dependencies": {"@capgo/capacitor-updater": "^8.0.0"}}'
        )

        def capgo_zip_run():
            for old in work.glob(f"{name}-capgo*"):
                old.unlink()
            return timed(
                [str(capgo), "bundle", "zip", "com.example.bench", "--path", str(folder),
                 "--bundle", "1.0.0", "--name", str(capgo_zip), "--json"],
                cwd=project,
            )

        tools["@capgo/cli bundle zip"] = (capgo_zip_run, capgo_zip)

    results = {}
    for round_index in range(repeat):
        # Interleave the tools each round so drifting machine load hits all of them alike.
        for tool, (run, _) in tools.items():
            seconds, rss = run()
            results.setdefault(tool, []).append((seconds, rss))
    if many_threads and not filecmp.cmp(capstan_zip, threads_zip, shallow=False):
        raise RuntimeError("capstan wrote different zips with 16 threads and with the default")
    base = statistics.median(s for s, _ in results["capstan bundle pack"])
    print(f"{'tool':<24}{'median s':>10}{'x capstan':>11}{'output MB':>11}{'peak RSS MB':>13}")
    for tool, (_, output) in tools.items():
        times = [s for s, _ in results[tool]]
        rss = max(m for _, m in results[tool])
        median = statistics.median(times)
        out_mb = output.stat().st_size / 1e6 if output.exists() else float("nan")
        print(f"{tool:<24}{median:>10.2f}{median / base:>11.2f}{out_mb:>11.2f}{rss:>13.0f}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 60 MB corpus, one round")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--capstan", metavar="BINARY", help="time this capstan binary instead of building one "
                        "(e.g. an earlier build, for a before/after comparison)")
    parser.add_argument("--no-threads-row", action="store_true",
                        help="skip the `--threads 16` run (binaries older than that option lack it)")
    args = parser.parse_args()

    if args.capstan:
        capstan = Path(args.capstan).resolve()
    else:
        print("building capstan (release) ...", flush=True)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "capstan-cli"], cwd=ROOT, check=True)
        capstan = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "capstan"
    for tool in ("zip", "sha256sum", "/usr/bin/time"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run `make deps` first")

    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    # (name, total bytes, files, seed, with LARGE_FILES among them)
    corpora = [("60MB", 60_000_000, 3_000, 60, False)]
    if not args.quick:
        corpora.append(("300MB", 300_000_000, 20_000, 300, True))
    print("generating corpora (cached under bench/out/pack) ...", flush=True)
    for name, total, files, seed, large_files in corpora:
        generate(OUT / f"corpus-{name}", total, files, seed, large_files)
    capgo = capgo_command()
    print(f"machine: {os.cpu_count()} cores; {args.repeat if not args.quick else 1} round(s) per tool")
    for name, _, _, _, large_files in corpora:
        many_threads = large_files and not args.no_threads_row
        run_corpus(name, OUT / f"corpus-{name}", capstan, capgo, 1 if args.quick else args.repeat, work, many_threads)


if __name__ == "__main__":
    main()
