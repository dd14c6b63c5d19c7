"""Benchmark: import 1M endpoints from CSV and from NDJSON, next to a bare pyarrow read of the
same file in the same run (each figure the best of 3 runs; 2 with --quick).

    .venv/bin/python benchmarks/bench_endpoints_import.py            # 1M endpoints
    .venv/bin/python benchmarks/bench_endpoints_import.py --quick    # 100k endpoints

The input files are generated once (``engagekit.sample.write_sample``, seed 1) under
``benchmarks/out/``. Each measurement runs in its own process, so its peak RSS (``VmHWM``,
interpreter and imports included) is that measurement's alone. The import is the whole thing:
read, validate (email-validator, phonenumbers, ISO/IANA checks), apply Pinpoint's semantics,
write the Parquet snapshot. Target: within 4x of the bare read, peak RSS under 3 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _child(kind: str, path: str) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    if kind == "bare-csv":
        import pyarrow.csv as pacsv

        started, cpu = time.perf_counter(), time.process_time()
        rows = pacsv.read_csv(path).num_rows
    elif kind == "bare-ndjson":
        import pyarrow.json as pajson

        started, cpu = time.perf_counter(), time.process_time()
        rows = pajson.read_json(path).num_rows
    else:
        from engagekit.endpoints import import_endpoints
        from engagekit.project import Project

        with tempfile.TemporaryDirectory() as tmp:
            project = Project.create(Path(tmp) / "bench")
            started, cpu = time.perf_counter(), time.process_time()
            report = import_endpoints(project, path, progress=False)
            assert report.rejected == 0, report
            rows = report.imported
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu  # all threads: robust to other load on the machine
    return {"seconds": seconds, "cpu": cpu_seconds, "rows": rows, "peak_rss": peak_rss()}


def peak_rss() -> float:
    """This process's peak resident set size in bytes (VmHWM: reset by exec, unlike
    ``ru_maxrss`` which a child inherits from the process that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def measure(kind: str, path: Path, repeat: int) -> dict[str, float]:
    """The best of ``repeat`` runs, each in a new process."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(f"{kind} of {path} failed:\n{done.stderr}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def inputs(rows: int) -> dict[str, Path]:
    from engagekit.sample import write_sample

    files = {}
    for fmt in ("csv", "ndjson"):
        path = OUT / f"endpoints-{rows}.{fmt}"
        if not path.exists():
            started = time.perf_counter()
            write_sample(path, rows, seed=1, progress=True)
            print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
        files[fmt] = path
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k endpoints")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None, help="best of N runs (default 3)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (2 if args.quick else 3)
    files = inputs(rows)
    print(
        f"{'format':7} {'rows':>10} {'MB':>5} {'bare s':>7} {'cpu':>6} {'import s':>9} "
        f"{'cpu':>6} {'rows/s':>9} {'ratio':>6} {'cpu ratio':>9} {'bare RSS':>9} {'import RSS':>10}"
    )
    worst = 0.0
    for fmt, path in files.items():
        bare = measure(f"bare-{fmt}", path, repeat)
        imp = measure("import", path, repeat)
        ratio = imp["seconds"] / bare["seconds"]
        worst = max(worst, ratio)
        print(
            f"{fmt:7} {imp['rows']:>10,} {path.stat().st_size / 1e6:>5.0f} "
            f"{bare['seconds']:>7.2f} {bare['cpu']:>6.2f} "
            f"{imp['seconds']:>9.2f} {imp['cpu']:>6.2f} "
            f"{imp['rows'] / imp['seconds']:>9,.0f} {ratio:>5.1f}x "
            f"{imp['cpu'] / bare['cpu']:>8.1f}x "
            f"{bare['peak_rss'] / 1e9:>7.2f}GB {imp['peak_rss'] / 1e9:>8.2f}GB",
            flush=True,
        )
    print(f"target: import within 4x of the bare read (worst here {worst:.1f}x), RSS < 3 GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
