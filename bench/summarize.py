#!/usr/bin/env python3
"""Medians per workload and server from lanchat-bench --json lines, the
ratios between the servers (lanchat's JSON lines, lanchat's IRC gateway
and ngircd, as bench/compare.sh runs them), and an SVG plot of deliveries/s and p99
against client count. Standard library only.

    python3 bench/summarize.py runs.jsonl plot.svg
"""
import json
import statistics
import sys
from collections import defaultdict

# The servers as compare.sh labels their runs, and their names here.
SERVERS = {"lanchat": "lanchat", "gateway": "gateway", "irc": "ngircd"}
# Which ratios are printed: (numerator, denominator).
RATIOS = [("lanchat", "irc"), ("gateway", "irc"), ("gateway", "lanchat")]

FIELDS = ["deliveries_per_sec", "p50_us", "p99_us", "p999_us", "max_us", "missing",
          "connect_secs", "send_lag_p99_us", "server_cpu_pct", "server_rss_kib", "rss_per_connection", "segments_per_delivery"]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def load(path):
    runs = defaultdict(list)
    with open(path) as lines:
        for line in lines:
            line = line.strip()
            if line:
                run = json.loads(line)
                runs[(run["workload"], run["protocol"])].append(run)
    return runs


def summarize(runs):
    table = {}
    for key, group in runs.items():
        ok = [r for r in group if not r.get("failed")]
        row = {"runs": len(group), "failed": len(group) - len(ok)}
        for field in FIELDS:
            row[field] = median([r.get(field) for r in ok])
        row["clients"] = ok[0]["clients"] if ok else None
        table[key] = row
    return table


def fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def print_table(table):
    workloads = sorted({w for w, _ in table})
    print(f"{'workload':<9}{'server':<9}{'runs':>5}{'deliv/s':>13}{'p50 µs':>10}{'p99 µs':>11}{'p99.9 µs':>11}"
          f"{'missing':>11}{'CPU %':>7}{'RSS KiB':>10}{'B/conn':>9}{'segs/dlv':>11}{'lag99 µs':>10}")
    for workload in workloads:
        for server, name in SERVERS.items():
            row = table.get((workload, server))
            if not row:
                continue
            runs = f"{row['runs'] - row['failed']}/{row['runs']}"
            print(f"{workload:<9}{name:<9}{runs:>5}{fmt(row['deliveries_per_sec']):>13}{fmt(row['p50_us']):>10}"
                  f"{fmt(row['p99_us']):>11}{fmt(row['p999_us']):>11}{fmt(row['missing']):>11}"
                  f"{fmt(row['server_cpu_pct']):>7}{fmt(row['server_rss_kib']):>10}"
                  f"{fmt(row['rss_per_connection']):>9}{fmt(row['segments_per_delivery'], 3):>11}"
                  f"{fmt(row['send_lag_p99_us']):>10}")
    for ours_key, theirs_key in RATIOS:
        lines = []
        for workload in workloads:
            ours, theirs = table.get((workload, ours_key)), table.get((workload, theirs_key))
            if not ours or not theirs:
                continue
            parts = []
            for field, label in (("deliveries_per_sec", "deliveries/s"), ("p50_us", "p50"), ("p99_us", "p99"),
                                 ("server_cpu_pct", "CPU"), ("rss_per_connection", "RSS/conn")):
                a, b = ours.get(field), theirs.get(field)
                if a is not None and b:
                    parts.append(f"{label} x{a / b:.2f}")
            lines.append(f"  {workload}: " + (", ".join(parts) if parts else "not comparable (a server failed)"))
        if lines:
            print()
            print(f"ratios {SERVERS[ours_key]} / {SERVERS[theirs_key]} (deliveries/s: higher is better; "
                  "latency, CPU and memory: lower is better)")
            print("\n".join(lines))


def plot(table, path):
    points = {}
    for (workload, server), row in table.items():
        if workload == "W1" or row["deliveries_per_sec"] is None:
            continue
        points.setdefault(server, []).append((row["clients"], row["deliveries_per_sec"], row["p99_us"], workload))
    width, height, pad = 720, 320, 60
    clients = sorted({p[0] for ps in points.values() for p in ps}) or [1]
    xs = {c: pad + i * (width / 2 - 2 * pad) / max(1, len(clients) - 1) for i, c in enumerate(clients)}
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    colours = {"lanchat": "#1f77b4", "gateway": "#2ca02c", "irc": "#d62728"}
    shifts = {"lanchat": -9, "gateway": 0, "irc": 9}
    for panel, (index, title) in enumerate(((1, "deliveries/s"), (2, "p99 latency (µs, log)"))):
        x0 = panel * width / 2
        values = [p[index] for ps in points.values() for p in ps if p[index]]
        top = max(values) if values else 1
        import math
        def y(v):
            if not v:
                return height - pad
            if index == 2:
                return height - pad - (math.log10(v) / max(1e-9, math.log10(top * 1.2))) * (height - 2 * pad)
            return height - pad - v / (top * 1.1) * (height - 2 * pad)
        svg.append(f'<text x="{x0 + width / 4}" y="20" text-anchor="middle" font-size="13">{title}</text>')
        svg.append(f'<line x1="{x0 + pad}" y1="{height - pad}" x2="{x0 + width / 2 - pad}" y2="{height - pad}" stroke="black"/>')
        svg.append(f'<line x1="{x0 + pad}" y1="{pad}" x2="{x0 + pad}" y2="{height - pad}" stroke="black"/>')
        svg.append(f'<text x="{x0 + pad - 4}" y="{pad}" text-anchor="end">{top:,.0f}</text>')
        for c, x in xs.items():
            svg.append(f'<text x="{x0 + x}" y="{height - pad + 16}" text-anchor="middle">{c} clients</text>')
        for server, ps in points.items():
            # Side by side, so equal values stay visible; W6 sits on W3.
            shift = shifts.get(server, 0)
            for c, d, p99, workload in ps:
                v = (d, p99)[index - 1]
                cx = x0 + xs[c] + shift
                label_dy = 14 if workload == "W6" else -4
                colour = colours.get(server, "gray")
                svg.append(f'<circle cx="{cx}" cy="{y(v):.1f}" r="4" fill="{colour}"/>')
                svg.append(f'<text x="{cx + 6}" y="{y(v) + label_dy:.1f}" fill="{colour}">{workload}</text>')
    svg.append(f'<text x="{pad}" y="{height - 10}" fill="{colours["lanchat"]}">● lanchat</text>')
    svg.append(f'<text x="{pad + 80}" y="{height - 10}" fill="{colours["gateway"]}">● lanchat IRC gateway</text>')
    svg.append(f'<text x="{pad + 230}" y="{height - 10}" fill="{colours["irc"]}">● ngircd</text>')
    svg.append("</svg>")
    with open(path, "w") as out:
        out.write("\n".join(svg))


def main():
    table = summarize(load(sys.argv[1]))
    print_table(table)
    if len(sys.argv) > 2:
        plot(table, sys.argv[2])


if __name__ == "__main__":
    main()
