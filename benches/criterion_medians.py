#!/usr/bin/python3
"""Prints the medians of the last criterion run of the store bench, and the ratios.

Usage: /usr/bin/python3 benches/criterion_medians.py [CRITERION_DIR]   (default: target/criterion,
or $CRITERION_HOME when set, as criterion itself does)

Reads CRITERION_DIR/store_*/*/new/estimates.json (criterion's median of the per-iteration
sample times, with its 95% confidence interval) and prints one line per bench, then the store's
overhead over the plain BTreeMap of the same run: store median / btreemap_clone median (and, for
lookups, / btreemap_ref). Stdlib only.
"""
import json
import os
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CRITERION_HOME", "target/criterion"))


def fmt(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.3g} ns"


medians = {}
for est in sorted(root.glob("store_*/*/new/estimates.json")):
    group, bench = est.parts[-4], est.parts[-3]
    m = json.loads(est.read_text())["median"]
    ci = m["confidence_interval"]
    medians[(group, bench)] = m["point_estimate"]
    per_s = 1e9 / m["point_estimate"]
    print(f"{group}/{bench:20} median {fmt(m['point_estimate']):>10}"
          f"  [{fmt(ci['lower_bound'])} .. {fmt(ci['upper_bound'])}]  {per_s:,.0f}/s")

print()
for group in ("store_lookup_by_name", "store_member_of_transitive"):
    for base in ("btreemap_clone", "btreemap_ref"):
        b = medians.get((group, base))
        if not b:
            continue
        for store in ("store_read_per_op", "store_long_read"):
            s = medians.get((group, store))
            if s:
                print(f"{group}: {store} / {base} = {s / b:.1f}x")
d, m = medians.get(("store_create_person", "disk_durable")), medians.get(("store_create_person", "in_memory"))
if d and m:
    print(f"store_create_person: disk_durable / in_memory = {d / m:.1f}x")
