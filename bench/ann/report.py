#!/usr/bin/python3
"""report.py -- turns the CSV records printed by ann-bench, hnswlib_harness
and faiss_bench.py (one raw file, records in any order) into:

  PREFIX-build.csv, PREFIX-search.csv, PREFIX-churn.csv   the records
  PREFIX.md                                              markdown tables
  PREFIX-<dataset>.svg                                   recall vs QPS plot

Usage: report.py RAW PREFIX [--anchor hnswlib] [--target 0.95]

Repeated records (ANN_ROUNDS > 1: the same implementation, variant,
dataset and ef or thread count measured several times, interleaved with
the peers) are merged into one whose every number is the median.

Matched recall: for each implementation, the QPS at recall@10 = target is
interpolated (log-linear in QPS, linear in recall) between the two ef
points around the target; the smallest ef reaching it is reported too. If
the smallest ef measured already exceeds the target, its QPS is used as is
(a lower bound, marked >=). The p50 per-query latency is interpolated the
same way. Ratios are ours (impl "simcache") over the anchor, from the same
run. On a machine shared with other work, QPS (wall time of whole passes)
absorbs every preemption, while the median per-query latency mostly does
not: the report gives the speed ratio both ways (QPS, and 1/p50). Only the standard library: the SVG is written
by hand.
"""
import csv
import math
import sys
from collections import OrderedDict, defaultdict

FIELDS = {
    "BUILD": "impl,variant,dataset,n,dim,M,efc,threads,build_s,bytes_rss,bytes_acct",
    "SEARCH": "impl,variant,dataset,ef,recall,qps1,qps2,p50_us,p99_us",
    "CHURN": ("impl,variant,dataset,ef,recall_before,recall_after,fresh_ins_s,churn_ins_s,"
              "reinserted,bytes_acct_before,bytes_acct_after"),
}
OURS = "simcache"
COLOURS = ["#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def parse(path):
    recs = defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if parts[0] in FIELDS:
                names = FIELDS[parts[0]].split(",")
                if len(parts) - 1 == len(names):
                    recs[parts[0]].append(dict(zip(names, parts[1:])))
    return recs


KEYS = {"BUILD": ("impl", "variant", "dataset", "threads"),
        "SEARCH": ("impl", "variant", "dataset", "ef"),
        "CHURN": ("impl", "variant", "dataset", "ef")}


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def aggregate(recs):
    """Merges records with the same key, each numeric field -> its median."""
    out = {}
    for kind, rows in recs.items():
        groups = OrderedDict()
        for r in rows:
            groups.setdefault(tuple(r[k] for k in KEYS[kind]), []).append(r)
        merged = []
        for rs in groups.values():
            m = dict(rs[0])
            for f in m:
                if f in KEYS[kind] or f in ("n", "dim", "M", "efc", "reinserted"):
                    continue
                vals = [num(r[f]) for r in rs if num(r[f]) is not None]
                if vals and len(rs) > 1:
                    v = median(vals)
                    m[f] = ("%.4f" % v) if f.startswith("recall") else ("%.3f" % v)
            m["rounds"] = len(rs)
            merged.append(m)
        out[kind] = merged
    return defaultdict(list, out)


def write_csvs(recs, prefix):
    for kind, names in FIELDS.items():
        with open("%s-%s.csv" % (prefix, kind.lower()), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names.split(",") + ["rounds"])
            for r in recs.get(kind, []):
                w.writerow([r[k] for k in names.split(",")] + [r.get("rounds", 1)])


def at_target(points, target):
    """points: [(ef, recall, qps1, qps2, p50, p99)] sorted by ef.
    Returns (ef, qps1, qps2, p50, p99, lower_bound) or None."""
    prev = None
    for p in points:
        if p[1] >= target:
            if prev is None or prev[1] >= p[1]:
                return (p[0], p[2], p[3], p[4], p[5], prev is None)
            f = (target - prev[1]) / (p[1] - prev[1])
            lerp = lambda a, b: math.exp(math.log(a) + f * (math.log(b) - math.log(a)))
            return (p[0], lerp(prev[2], p[2]), lerp(prev[3], p[3]), lerp(prev[4], p[4]), p[5], False)
        prev = p
    return None


def fmt(x, spec="%.0f"):
    return "n/a" if x is None else spec % x


def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else "%.2fx" % (a / b)


def dataset_report(ds, recs, anchor, target):
    out = []
    builds = [r for r in recs["BUILD"] if r["dataset"] == ds]
    searches = [r for r in recs["SEARCH"] if r["dataset"] == ds]
    churns = [r for r in recs["CHURN"] if r["dataset"] == ds]
    keys = list(OrderedDict.fromkeys((r["impl"], r["variant"]) for r in builds + searches))
    n = dim = None
    summary = {}
    for key in keys:
        b1 = next((r for r in builds if (r["impl"], r["variant"]) == key and r["threads"] == "1"), None)
        bn = next((r for r in builds if (r["impl"], r["variant"]) == key and r["threads"] != "1"), None)
        if b1:
            n, dim = b1["n"], b1["dim"]
        pts = sorted((int(r["ef"]), num(r["recall"]), num(r["qps1"]), num(r["qps2"]), num(r["p50_us"]),
                      num(r["p99_us"])) for r in searches if (r["impl"], r["variant"]) == key)
        summary[key] = {
            "build1": num(b1["build_s"]) if b1 else None,
            "buildn": num(bn["build_s"]) if bn else None,
            "threads": bn["threads"] if bn else "2",
            "rss": num(b1["bytes_rss"]) if b1 else None,
            "acct": num(b1["bytes_acct"]) if b1 else None,
            "pts": pts,
            "t": at_target(pts, target),
        }
    rounds = max([r.get("rounds", 1) for r in searches] or [1])
    out.append("### %s (n = %s, d = %s%s)\n" % (
        ds, n, dim, ", median of %d rounds" % rounds if rounds > 1 else ""))
    out.append("| impl | variant | build 1t s | build %st s | B/vec (RSS) | B/vec (acct) | ef @%.2f | "
               "QPS 1t @%.2f | QPS %st @%.2f | p50 us @%.2f | p99 us |" % (
                   summary[keys[0]]["threads"] if keys else "2", target, target,
                   summary[keys[0]]["threads"] if keys else "2", target, target))
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for key in keys:
        s = summary[key]
        t = s["t"]
        lb = ">=" if t and t[5] else ""
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            key[0], key[1], fmt(s["build1"], "%.2f"), fmt(s["buildn"], "%.2f"), fmt(s["rss"]),
            fmt(s["acct"]), fmt(t[0] if t else None, "%d"),
            lb + fmt(t[1] if t else None), lb + fmt(t[2] if t else None),
            fmt(t[3] if t else None, "%.0f"), fmt(t[4] if t else None, "%.0f")))
    a = summary.get((anchor, "f32"))
    if a:
        out.append("")
        for key in keys:
            if key[0] != OURS:
                continue
            s = summary[key]
            q = lambda x, i: x["t"][i] if x["t"] else None
            out.append("- %s %s / %s at recall %.2f: QPS 1t %s, QPS %st %s, speed from p50 latency "
                       "(1/p50) %s; build time 1t %s, %st %s; bytes/vector RSS %s, accounted %s" % (
                           key[0], key[1], anchor, target, ratio(q(s, 1), q(a, 1)), s["threads"],
                           ratio(q(s, 2), q(a, 2)), ratio(q(a, 3), q(s, 3)),
                           ratio(s["build1"], a["build1"]),
                           s["threads"], ratio(s["buildn"], a["buildn"]), ratio(s["rss"], a["rss"]),
                           ratio(s["acct"], a["acct"])))
    out.append("\nFull sweep (recall@10, QPS, latency per query):\n")
    out.append("| impl | variant | ef | recall@10 | QPS 1t | QPS 2t | p50 us | p99 us |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|")
    for key in keys:
        for p in summary[key]["pts"]:
            out.append("| %s | %s | %d | %.4f | %.0f | %.0f | %.0f | %.0f |" % ((key[0], key[1]) + p))
    if churns:
        out.append("\nChurn (delete + re-insert, insert rate vs the fresh build):\n")
        out.append("| impl | variant | ef | recall before | recall after | re-inserted | fresh ins/s | "
                   "churn ins/s | churn/fresh | B/vec acct before | after |")
        out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for r in churns:
            out.append("| %s | %s | %s | %s | %s | %s | %.0f | %.0f | %s | %s | %s |" % (
                r["impl"], r["variant"], r["ef"], r["recall_before"], r["recall_after"], r["reinserted"],
                num(r["fresh_ins_s"]), num(r["churn_ins_s"]),
                ratio(num(r["churn_ins_s"]), num(r["fresh_ins_s"])),
                fmt(num(r["bytes_acct_before"])), fmt(num(r["bytes_acct_after"]))))
    return "\n".join(out) + "\n", summary


def svg_plot(ds, summary, path, target):
    W, H, L, R, T, B = 720, 460, 70, 170, 40, 50
    series = [(k, s["pts"]) for k, s in summary.items() if s["pts"]]
    allp = [p for _, pts in series for p in pts if p[2] and p[2] > 0]
    if not allp:
        return
    rmin = min(0.8, min(p[1] for p in allp))
    rmin = math.floor(rmin * 20) / 20
    qlo = math.floor(math.log10(min(p[2] for p in allp)))
    qhi = math.ceil(math.log10(max(p[2] for p in allp)))
    if qhi == qlo:
        qhi += 1
    X = lambda r: L + (r - rmin) / (1.0 - rmin) * (W - L - R)
    Y = lambda q: T + (qhi - math.log10(q)) / (qhi - qlo) * (H - T - B)
    e = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="12">' % (W, H), '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15">%s: recall@10 vs single-thread QPS (M=16, efC=200)</text>'
         % (L, ds)]
    for i in range(int(round((1.0 - rmin) / 0.05)) + 1):
        r = rmin + 0.05 * i
        e.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (X(r), T, X(r), H - B))
        e.append('<text x="%.1f" y="%d" text-anchor="middle">%.2f</text>' % (X(r), H - B + 16, r))
    for ex in range(qlo, qhi + 1):
        for m in (1, 2, 5):
            q = m * 10 ** ex
            if q > 10 ** qhi:
                break
            e.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>' % (
                L, Y(q), W - R, Y(q), "#ccc" if m == 1 else "#eee"))
            if m == 1 or qhi - qlo <= 2:
                e.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (L - 6, Y(q) + 4, q))
    e.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888" stroke-dasharray="4 3"/>' % (
        X(target), T, X(target), H - B))
    e.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (
        L, T, W - L - R, H - T - B))
    e.append('<text x="%d" y="%d" text-anchor="middle">recall@10</text>' % ((L + W - R) // 2, H - 12))
    e.append('<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">queries/s, 1 thread '
             '(log)</text>' % ((T + H - B) // 2))
    for i, (key, pts) in enumerate(series):
        c = COLOURS[i % len(COLOURS)]
        pts = [p for p in pts if p[2] and p[2] > 0 and p[1] >= rmin]
        if pts:
            e.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                c, " ".join("%.1f,%.1f" % (X(p[1]), Y(p[2])) for p in pts)))
            for p in pts:
                e.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s ef=%d recall=%.4f '
                         'qps=%.0f</title></circle>' % (X(p[1]), Y(p[2]), c, key[0], key[1], p[0], p[1],
                                                        p[2]))
        ly = T + 10 + 20 * i
        e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (
            W - R + 12, ly, W - R + 36, ly, c))
        e.append('<text x="%d" y="%d">%s %s</text>' % (W - R + 42, ly + 4, key[0], key[1]))
    e.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(e) + "\n")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    raw, prefix = argv[1], argv[2]
    anchor, target = "hnswlib", 0.95
    if "--anchor" in argv:
        anchor = argv[argv.index("--anchor") + 1]
    if "--target" in argv:
        target = float(argv[argv.index("--target") + 1])
    recs = aggregate(parse(raw))
    write_csvs(recs, prefix)
    datasets = list(OrderedDict.fromkeys(r["dataset"] for k in ("BUILD", "SEARCH") for r in recs[k]))
    md = []
    for ds in datasets:
        text, summary = dataset_report(ds, recs, anchor, target)
        md.append(text)
        svg_plot(ds, summary, "%s-%s.svg" % (prefix, ds.replace("/", "_")), target)
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
