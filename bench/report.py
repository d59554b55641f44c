#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into the tables it prints and writes.

usage: report.py RESULTS PROBLEMS META OUT.md [WARNINGS]

RESULTS: one line per measured run, "key=value ..." (setup, workload, wrk's
numbers from bench/wrk.lua, CPU ticks of Apache, of the app and of the machine).
PROBLEMS: lines describing problems found by run.sh (may be empty).
META: key=value lines about the machine and the run.
WARNINGS: lines about disturbances (a busy machine), reported but not failing.
Prints the tables and writes them as markdown to OUT.md. Exit status 1 when a
run had non-2xx/3xx responses or socket errors, or PROBLEMS is not empty.
"""

import sys

SETUPS = ["direct", "mod_proxy_http", "mod_aspnetcore", "apache_alone"]
WORKLOADS = {
    "small_get": "small GET (`/pid`)",
    "get_64k": "64 KiB GET (`/bytes?n=65536`)",
    "post_1m": "1 MiB POST (`/discard`)",
}
# mod_aspnetcore / mod_proxy_http req/s targets (p99 must be no worse everywhere)
TARGETS = {"small_get": 1.25, "get_64k": 1.5}


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if "setup" in fields:
                runs.append(fields)
    return runs


def ms(us):
    us = float(us)
    return "%.2f ms" % (us / 1000) if us < 100000 else "%.0f ms" % (us / 1000)


def table(header, rows, align):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def fmt(cells):
        out = []
        for c, w, a in zip(cells, widths, align):
            out.append(str(c).rjust(w) if a == "r" else str(c).ljust(w))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2))
                         for w, a in zip(widths, align)) + "|"
    return "\n".join([fmt(header), sep] + [fmt(r) for r in rows])


def main():
    results, problems_path, meta_path, out = sys.argv[1:5]
    warnings = []
    if len(sys.argv) > 5:
        with open(sys.argv[5]) as f:
            warnings = [l.rstrip("\n") for l in f if l.strip()]
    runs = parse(results)
    rounds = max([int(r.get("round", "1")) for r in runs] or [1])
    with open(problems_path) as f:
        problems = [l.rstrip("\n") for l in f if l.strip()]
    meta = {}
    with open(meta_path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v

    # every measured run: its numbers, and what went wrong
    groups = {}
    order = []
    for r in runs:
        where = "%s %s%s" % (r["setup"], r["workload"],
                             " (round %s)" % r["round"] if rounds > 1 else "")
        non2xx = int(r["status"])
        sock = sum(int(r[k]) for k in ("connect", "read", "write", "timeout"))
        req = int(r["requests"])
        bad = []
        if non2xx:
            bad.append("%d non-2xx/3xx" % non2xx)
        if sock:
            bad.append("socket errors: connect %s read %s write %s timeout %s"
                       % (r["connect"], r["read"], r["write"], r["timeout"]))
        if not req:
            bad.append("no requests")
        if r.get("used", "1") != "1":
            # a disturbed attempt that was measured again: only its errors count
            if bad:
                problems.append("%s, attempt %s (not in the table): %s"
                                % (where, r.get("attempt"), "; ".join(bad)))
            continue
        if bad:
            problems.append("%s: %s" % (where, "; ".join(bad)))
        attempts = sum(1 for x in runs if x["setup"] == r["setup"]
                       and x["workload"] == r["workload"] and x.get("round") == r.get("round"))
        if attempts > 1:
            warnings.append("%s: measured %d times (other load); the least disturbed "
                            "attempt (%s) is shown" % (where, attempts, r.get("attempt")))
        tck = int(r["clk_tck"])
        secs = int(r["duration_us"]) / 1e6
        total_ms = int(r["machine_total"]) / tck * 1000
        ours_ms = ((int(r["apache_ticks"]) + int(r["app_ticks"])) / tck * 1000
                   + int(r.get("wrk_ms", 0)))
        other = max(0.0, int(r["machine_busy"]) / tck * 1000 - ours_ms) / max(1.0, total_ms) * 100
        if other >= 10:
            warnings.append("%s: %.0f%% of the machine's CPU went to other processes during "
                            "the measured run" % (where, other))
        r["_rps"] = req / secs if secs else 0.0
        r["_req"] = req
        r["_tck"] = tck
        r["_bad"] = bad
        r["_busy"] = int(r["machine_busy"]) / max(1, int(r["machine_total"])) * 100
        r["_other"] = other
        key = (r["setup"], r["workload"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)

    # req/s of every round, to pair the two proxies' runs of the same round
    per_round = {}
    for key in order:
        for r in groups[key]:
            per_round.setdefault(key, {})[r.get("round", "1")] = r["_rps"]

    # per setup and workload: the median run (by req/s) of the rounds
    by = {}
    rows = []
    cost_rows = []
    profiled = False
    for key in order:
        group = sorted(groups[key], key=lambda x: x["_rps"])
        r = group[(len(group) - 1) // 2]
        req, tck, rps = r["_req"], r["_tck"], r["_rps"]
        by[key] = {"rps": rps, "p50": int(r["p50_us"]), "p99": int(r["p99_us"]),
                   # CPU time per request (µs) of Apache, the app and wrk
                   "cpu": [int(r["apache_ticks"]) / tck * 1e6 / req if req else 0.0,
                           int(r["app_ticks"]) / tck * 1e6 / req if req else 0.0,
                           int(r.get("wrk_ms", 0)) * 1000 / req if req else 0.0]}
        errors = [x for x in group if x["_bad"]]
        row = [r["setup"], r["workload"], "{:,.0f}".format(rps)]
        if rounds > 1:
            row.append("{:,.0f}–{:,.0f}".format(group[0]["_rps"], group[-1]["_rps"]))
        row += [ms(r["p50_us"]), ms(r["p99_us"]),
                "0" if not errors else "**%s**" % "; ".join("; ".join(x["_bad"]) for x in errors)]
        rows.append(row)
        apache = r["setup"] != "direct"
        per_req = lambda ticks: "%.0f µs" % (int(ticks) / tck * 1e6 / req) if req else "-"
        per = lambda k: ("%.1f" % (int(r[k]) / req) if req and k in r and int(r[k]) >= 0
                         else "-")
        cost = [r["setup"], r["workload"],
                per_req(r["apache_ticks"]) if apache else "-",
                per_req(r["app_ticks"]),
                "%.0f µs" % (int(r.get("wrk_ms", 0)) * 1000 / req) if req else "-",
                per("apache_cs") if apache else "-", per("app_cs")]
        if "app_syscalls" in r:
            profiled = True
            cost += [per("apache_syscalls") if apache else "-", per("app_syscalls")]
        else:
            cost += [None, None]
        cost += ["%.0f%%" % r["_busy"], "%.0f%%" % r["_other"]]
        cost_rows.append(cost)
    header = ["setup", "workload", "req/s"] + (["req/s range"] if rounds > 1 else []) + \
             ["p50", "p99", "errors"]
    main_table = table(header, rows, "llr" + ("r" if rounds > 1 else "") + "rrl")
    cost_header = ["setup", "workload", "Apache CPU/req", "app CPU/req", "wrk CPU/req",
                   "Apache ctx sw/req", "app ctx sw/req", "Apache syscalls/req",
                   "app syscalls/req", "CPU busy", "other"]
    if not profiled:
        del cost_header[7:9]
        cost_rows = [c[:7] + c[9:] for c in cost_rows]
    else:
        cost_rows = [[x if x is not None else "-" for x in c] for c in cost_rows]
    cost_table = table(cost_header, cost_rows, "ll" + "r" * (len(cost_header) - 2))

    ratio_rows = []
    verdicts = []
    for w in WORKLOADS:
        a = by.get(("mod_aspnetcore", w))
        p = by.get(("mod_proxy_http", w))
        d = by.get(("direct", w))
        if not a:
            continue
        vs_proxy = a["rps"] / p["rps"] if p and p["rps"] else None
        vs_direct = a["rps"] / d["rps"] if d and d["rps"] else None
        p99_proxy = a["p99"] / p["p99"] if p and p["p99"] else None
        p99_direct = a["p99"] / d["p99"] if d and d["p99"] else None
        # The most any forwarding module could reach here: mod_aspnetcore's run with
        # Apache's CPU time per request cut to what Apache alone spends (the app and
        # wrk cost the same; the CPUs are saturated, so req/s scale with 1/CPU time).
        alone = by.get(("apache_alone", w))
        bound = None
        if alone and p and p["rps"]:
            mine, floor = sum(a["cpu"]), alone["cpu"][0] + a["cpu"][1] + a["cpu"][2]
            bound = a["rps"] * mine / floor / p["rps"] if floor else None
        target = TARGETS.get(w)
        met = []
        if vs_proxy is not None and target:
            met.append("req/s %s" % ("met" if vs_proxy >= target else "**missed**"))
            if bound is not None and bound < target:
                met.append("target above the bound")
        if p99_proxy is not None:
            met.append("p99 %s" % ("met" if p99_proxy <= 1.0 else "**missed**"))
        fx = lambda x: "%.2f×" % x if x is not None else "-"
        # the ratio within each round (the two runs minutes apart): its spread says how far
        # the machine's noise moves the ratio
        mine_r, theirs_r = per_round.get(("mod_aspnetcore", w), {}), per_round.get(("mod_proxy_http", w), {})
        paired = sorted(mine_r[k] / theirs_r[k] for k in mine_r if theirs_r.get(k))
        spread = ("%.2f–%.2f×" % (paired[0], paired[-1])) if len(paired) > 1 else "-"
        ratio_rows.append([w, fx(vs_proxy), spread, "≥ %.2f×" % target if target else "-", fx(bound),
                           fx(vs_direct), fx(p99_proxy), fx(p99_direct),
                           ", ".join(met) or "-"])
        verdicts.append((w, vs_proxy, target, p99_proxy))
    ratio_table = table(
        ["workload", "req/s aspnetcore/proxy_http", "per round", "target", "bound",
         "req/s aspnetcore/direct", "p99 aspnetcore/proxy_http", "p99 aspnetcore/direct", "targets"],
        ratio_rows, "lrrrrrrrl") if ratio_rows else "(no mod_aspnetcore runs)"

    lines = []
    lines.append("# bench/run.sh result")
    lines.append("")
    lines.append("%s; commit %s; %s CPUs (%s); Linux %s; %s; %s; %s." % (
        meta.get("date", "?"), meta.get("commit", "?"), meta.get("cpus", "?"),
        meta.get("cpu", "?"), meta.get("kernel", "?"), meta.get("apache", "?"),
        meta.get("dotnet", "?"), meta.get("wrk", "?")))
    lines.append("wrk -t%s -c%s (keep-alive), %s s warm-up then %s s measured per row; "
                 "the whole run took %s s." % (meta.get("threads"), meta.get("conns"),
                                                 meta.get("warm"), meta.get("secs"),
                                                 meta.get("elapsed")))
    if rounds > 1:
        lines.append("%d rounds (fresh processes each): every row shows the round with the "
                     "median req/s, and the range over the rounds." % rounds)
    if meta.get("proxy_extra"):
        lines.append("mod_proxy_http setup with the extra configuration: `%s`."
                     % meta["proxy_extra"])
    if meta.get("pinned"):
        lines.append("Pinned (BENCH_PIN): %s." % meta["pinned"])
    else:
        lines.append("Everything (wrk, Apache, the app) shares the same %s CPUs: compare the "
                     "ratios, not the absolute numbers." % meta.get("cpus", "?"))
    lines.append("")
    lines.append(main_table)
    lines.append("")
    lines.append("Where the time goes (per request, during the measured run):")
    lines.append("")
    lines.append(cost_table)
    lines.append("")
    lines.append("CPU/req: CPU time (user+system) of Apache's processes, of the app and of "
                 "wrk; ctx sw: context switches of their threads (perf stat, else /proc)%s; CPU busy: the whole "
                 "machine; other: busy time not charged to Apache, the app or wrk "
                 "(interrupts, other processes), as a share of the machine." %
                 ("; syscalls: counted with perf stat (BENCH_PROFILE)" if profiled else ""))
    lines.append("")
    lines.append("Ratios (req/s: higher is better for mod_aspnetcore; p99: lower is better):")
    lines.append("")
    lines.append(ratio_table)
    lines.append("")
    if any(row[2] != "-" for row in ratio_rows):
        lines.append("per round: the lowest and highest ratio of the two proxies' runs in the "
                     "same round (the table above shows the medians' ratio).")
        lines.append("")
    if any(row[4] != "-" for row in ratio_rows):
        lines.append("bound: the req/s over mod_proxy_http's that a forwarding module would reach "
                     "if Apache spent no more per request than it does answering by itself "
                     "(apache_alone), with the app's and wrk's CPU time per request as measured "
                     "with mod_aspnetcore; any real forwarding (a write to the app, a wait, a "
                     "read) costs more, so no module gets there.")
        lines.append("")
    if problems:
        lines.append("**PROBLEMS - these numbers are not trustworthy:**")
        lines.append("")
        lines.extend("    " + p for p in problems)
    else:
        lines.append("Every run: 0 non-2xx/3xx responses, 0 socket errors; no error in "
                     "Apache's logs.")
    if warnings:
        lines.append("")
        lines.append("**Disturbances** (other load on the machine; treat these rows with care):")
        lines.append("")
        lines.extend("    " + w for w in warnings)
    text = "\n".join(lines) + "\n"

    with open(out, "w") as f:
        f.write(text)
    print()
    print(text)
    if problems:
        bar = "!" * 78
        print(bar, file=sys.stderr)
        print("!!! bench: %d PROBLEM(S): non-2xx/3xx responses, socket errors or Apache "
              "errors:" % len(problems), file=sys.stderr)
        for p in problems:
            print("!!!   " + p, file=sys.stderr)
        print(bar, file=sys.stderr)
        return 1
    if warnings:
        print("bench: WARNING: other load disturbed the run (see above)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
