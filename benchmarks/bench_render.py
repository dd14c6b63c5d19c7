"""Render personalized emails from an endpoint frame: engagekit's render_batch vs plain pybars3.

The email: a subject and ~2 KB of HTML plus a text part, 6 variables, 2 helpers and an ``each``
over 3 recommendations per endpoint. engagekit renders in chunks (as delivery does) on 1 and on 2
processes; the reference is plain pybars3 rendering the same template row by row (context built
per row), measured in the same run on a sample.

    python benchmarks/bench_render.py            # 1,000,000 endpoints
    python benchmarks/bench_render.py --quick    # 50,000 endpoints, < 30 s
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pybars

from engagekit.sample import generate_endpoints
from engagekit.templates import (
    CatalogRecommendationProvider,
    EmailTemplate,
    RecommenderConfig,
    render_batch,
)
from engagekit.templates._context import endpoint_context
from engagekit.templates._render import pinned_now, with_recommendations
from engagekit.templates.helpers import PINPOINT_HELPERS

PARAGRAPH = (
    '<tr><td style="padding:12px 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;'
    'line-height:22px;color:#333333">Our spring collection is here, with lighter fabrics, '
    "brighter colours and the same fit you know. Members get free returns for 60 days and early "
    "access to every drop.</td></tr>\n"
)
HTML = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Picks</title></head>'
    '<body style="margin:0;background:#f4f4f4"><table role="presentation" width="600" '
    'align="center" style="background:#ffffff">\n'
    "<tr><td><h1>Hello {{capitalize User.UserAttributes.FirstName.[0]}} "
    "{{User.UserAttributes.LastName.[0]}}</h1></td></tr>\n"
    + PARAGRAPH
    * 4
    + "<tr><td><p>Your {{Attributes.plan.[0]}} plan in {{upper Location.City}} includes:</p>"
    "<ul>{{#each Recommendations.Title}}<li>{{@index}}. {{this}}</li>{{/each}}</ul></td></tr>\n"
    + PARAGRAPH
    * 3
    + '<tr><td style="font-size:11px;color:#999">You receive this email as a '
    '{{Attributes.plan.[0]}} member. <a href="https://example.com/unsubscribe?e={{Id}}">'
    "Unsubscribe</a></td></tr></table></body></html>"
)
TEXT = (
    "Hello {{capitalize User.UserAttributes.FirstName.[0]}},\n\nYour {{Attributes.plan.[0]}} "
    "picks:\n{{#each Recommendations.Title}}- {{this}}\n{{/each}}\nUnsubscribe: "
    "https://example.com/unsubscribe?e={{Id}}\n"
)
SUBJECT = "{{capitalize User.UserAttributes.FirstName.[0]}}, your {{Attributes.plan.[0]}} picks"
TEMPLATE = EmailTemplate(Subject=SUBJECT, HtmlPart=HTML, TextPart=TEXT)
WORDS = ["Trail", "Runner", "Jacket", "Pack"]
CONFIG = RecommenderConfig(RecommendationsPerMessage=3, Attributes={"Recommendations.Title": "T"})


def make_provider(n_items: int = 300, seed: int = 3) -> CatalogRecommendationProvider:
    rng = np.random.default_rng(seed)
    catalog = pd.DataFrame(
        {
            "Title": [
                f"Item {i} {['Trail', 'Runner', 'Jacket', 'Pack'][i % 4]}" for i in range(n_items)
            ]
        },
        index=[str(i) for i in range(n_items)],
    )

    # per-endpoint picks, drawn lazily for whatever ids are asked
    def picks(ids, n):
        draws = rng.integers(0, n_items, size=(len(ids), n))
        return {i: [str(x) for x in row] for i, row in zip(ids, draws, strict=True)}

    return CatalogRecommendationProvider(catalog, picks, config=CONFIG)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render_chunks(frame: pd.DataFrame, chunk: int) -> tuple[int, int, str]:
    """Render a frame chunk by chunk; returns (messages, bytes, digest)."""
    count = size = 0
    digest = hashlib.sha256()
    for start in range(0, len(frame), chunk):
        out = render_batch(None, TEMPLATE, frame.iloc[start : start + chunk])
        assert out["render_error"].isna().all(), out["render_error"].dropna().head()
        count += len(out)
        html = out["HtmlPart"]
        size += int(html.str.len().sum() + out["TextPart"].str.len().sum())
        digest.update(html.iloc[-1].encode())
    return count, size, digest.hexdigest()[:12]


def _worker(args: tuple[str, int, int]) -> tuple[int, int, float, float]:
    path, part, chunk = args
    frame = pd.read_pickle(path)
    half = len(frame) // 2
    mine = frame.iloc[:half] if part == 0 else frame.iloc[half:]
    del frame
    t0, c0 = time.perf_counter(), time.process_time()
    count, size, _ = render_chunks(mine, chunk)
    return count, size, time.perf_counter() - t0, time.process_time() - c0


def build_frame(n: int, seed: int) -> pd.DataFrame:
    endpoints = generate_endpoints(n, seed=seed)
    return with_recommendations(endpoints, make_provider(), CONFIG)


def plain_pybars(frame: pd.DataFrame) -> tuple[int, float, float]:
    """The reference: pybars3 as shipped, per row: build the context, render the three parts.

    Returns (rows, seconds building contexts, seconds rendering).
    """
    compiler = pybars.Compiler()
    parts = [compiler.compile(src) for src in (SUBJECT, HTML, TEXT)]
    helpers = dict(PINPOINT_HELPERS)
    cols = list(frame.columns)
    t0 = time.perf_counter()
    arrays = [frame[c].to_numpy(dtype=object, na_value=None) for c in cols]
    contexts = [
        endpoint_context({c: a[i] for c, a in zip(cols, arrays, strict=True)})
        for i in range(len(frame))
    ]
    t1 = time.perf_counter()
    for ctx in contexts:
        for fn in parts:
            fn(ctx, helpers=helpers)
    return len(frame), t1 - t0, time.perf_counter() - t1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50,000 endpoints (< 30 s)")
    ap.add_argument("-n", type=int, default=None, help="number of endpoints")
    ap.add_argument("--chunk", type=int, default=100_000, help="rows per render_batch call")
    ap.add_argument("--baseline-rows", type=int, default=None)
    args = ap.parse_args(argv)
    n = args.n or (50_000 if args.quick else 1_000_000)
    baseline_rows = args.baseline_rows or (5_000 if args.quick else 20_000)
    chunk = min(args.chunk, n)
    seed = 11

    t0 = time.perf_counter()
    frame = build_frame(n, seed)
    print(f"endpoints + recommendations: {n:,} rows in {time.perf_counter() - t0:.1f} s")
    html_kb = len(render_batch(None, TEMPLATE, frame.iloc[:1])["HtmlPart"].iloc[0]) / 1024
    print(f"email: subject + {html_kb:.1f} KB HTML + text, 6 variables, 2 helpers, each over 3")

    c0 = time.process_time()
    with pinned_now(None):
        base_n, ctx_s, render_s = plain_pybars(frame.iloc[:baseline_rows])
    base_cpu = time.process_time() - c0
    base_rate = base_n / (ctx_s + render_s)
    print(
        f"plain pybars3, per row (1 process, {base_n:,} rows): {base_rate:,.0f} messages/s, "
        f"{base_n / base_cpu:,.0f} per CPU-second (rendering alone, contexts prebuilt: "
        f"{base_n / render_s:,.0f} messages/s)"
    )

    t0, c0 = time.perf_counter(), time.process_time()
    count, size, digest = render_chunks(frame, chunk)
    one = time.perf_counter() - t0
    cpu1 = time.process_time() - c0
    rate1 = count / one
    print(
        f"engagekit render_batch, 1 process: {count:,} messages in {one:.1f} s = "
        f"{rate1:,.0f} messages/s ({size / 1e9:.2f} GB rendered, digest {digest}); "
        f"{rate1 / base_rate:.1f}x plain pybars3 per row, "
        f"{rate1 * render_s / base_n:.1f}x its rendering alone; "
        f"{count / cpu1:,.0f} per CPU-second = {(count / cpu1) / (base_n / base_cpu):.1f}x "
        "plain pybars3 per CPU-second"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "endpoints.pkl")
        frame.to_pickle(path)
        del frame
        with ProcessPoolExecutor(2) as pool:
            results = list(pool.map(_worker, [(path, 0, chunk), (path, 1, chunk)]))
    count2 = sum(r[0] for r in results)
    slowest = max(r[2] for r in results)
    rate2 = count2 / slowest
    cpu2 = [r[0] / r[3] for r in results]
    print(
        f"engagekit render_batch, 2 processes: {count2:,} messages in {slowest:.1f} s "
        f"(render time of the slower process) = {rate2:,.0f} messages/s "
        f"({rate2 / 2:,.0f} per process; per CPU-second {cpu2[0]:,.0f} and {cpu2[1]:,.0f})"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"peak RSS (main process): {rss_mb():,.0f} MB; cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
