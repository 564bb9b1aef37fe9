"""Learnwire benchmark B2 of BENCHMARKS.md ("end-to-end"), a bench/run plug-in.

Events created through the API at full speed, delivered to 1 or 10 subscriptions. Per run: a fresh
SQLite database (production durability defaults), `learnwire serve` with the per-key rate limit off,
1 or 10 subscriptions (`event_types: ["learner.created"]`) to nginx `location = /sink { return 200; }`;
bench/b2_load.mjs creates learners over keep-alive connections as fast as the server answers, one per
request (`single`, POST /api/v1/learners) or `BULK_BATCH` per request (`bulk`, POST
/api/v1/learners/bulk), for a warm-up then a measured window. Then the database is polled read-only
until no delivery is scheduled.

- events/s committed = `learner.created` events whose `created_at` falls in the measured window,
  counted in the database / the window's length (the load generator's own count is shown beside).
- deliveries/s = deliveries recorded `succeeded` / (the last `finished_at` − the load's start), so it
  spans the load and the drain after it; also given as % of the median B0 of the same bench/run.

Runs interleave the four cases {single, bulk} × {1, 10 subscriptions}, `RUNS` times (1 with
--trial). Measures and writes numbers; never asserts.
"""
import json
import os
import resource
import signal
import sqlite3
import subprocess
import time

H = None   # the bench/run module (spawn/stop, nginx, org creation, ARGS, time budget)
D = None   # bench/delivery.py (server, webhooks, CPU and log helpers, formatting)
# bench/run sets H, D and log() when it loads this plug-in.

MODES = ("single", "bulk")
SUBSCRIPTIONS = (1, 10)
RUNS = 3
CONNECTIONS = {"single": 32, "bulk": 2}   # keep-alive connections of the load generator, per mode
# Learners per bulk request: the most API.md allows. SQLite commits one transaction at a time, so 2
# bulk connections keep one request committing while the next is sent and parsed; more only queue
# (tried: 4 gave no higher rate at 2-3x the latency).
BULK_BATCH = 1000
WARMUP_S = 1
SECONDS = 10           # measured window
TRIAL_SECONDS = 3
MAX_LEARNERS = 1_000_000   # bound on the learners one run may create
# A run whose deliveries are not all `succeeded` this long after the load stops is stopped and
# reported unfinished (its rate is then over the time it ran, the backlog never empty). Shorter when
# the time budget is nearly spent.
DRAIN_LIMIT_S = 60
POLL_S = 0.2
SINK_PATH = "/sink"


def remove_db(db):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


def db_figures(db, load):
    """What the server committed, read from its file: events in the measured window, deliveries by
    state, the last success and the attempts."""
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    q = lambda sql, *a: ro.execute(sql, a).fetchone()  # noqa: E731
    events, window, env_bytes = q(
        "SELECT COUNT(*), SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), "
        "AVG(LENGTH(payload)) FROM events WHERE type = 'learner.created'",
        load["from_ms"], load["to_ms"])
    states = dict(ro.execute("SELECT state, COUNT(*) FROM deliveries WHERE test = 0 "
                             "GROUP BY state").fetchall())
    last, by_load_end = q("SELECT MAX(finished_at), SUM(CASE WHEN finished_at <= ? THEN 1 ELSE 0 END) "
                          "FROM deliveries WHERE state = 'succeeded' AND test = 0", load["end_ms"])
    attempts, failed = q("SELECT COUNT(*), SUM(CASE WHEN status BETWEEN 200 AND 299 THEN 0 ELSE 1 END) "
                         "FROM attempts")
    ro.close()
    return {"events": events, "events_window": window or 0, "envelope_bytes": env_bytes,
            "states": states, "succeeded": states.get("succeeded", 0), "last_finished_ms": last,
            "succeeded_by_load_end": by_load_end or 0, "attempts": attempts,
            "failed_attempts": failed or 0}


def load_and_drain(p, port, key, db, label, mode, subs, sink, seconds):
    """On the running server p: the subscriptions, the load, then the wait until nothing is
    scheduled (or the drain limit). Returns the run's figures so far."""
    for _ in range(subs):
        D.create_webhook(port, key, sink)
    args = ["node", os.path.join(H.ROOT, "bench", "b2_load.mjs"), "--api", f"http://127.0.0.1:{port}",
            "--key", key, "--mode", mode, "--batch", str(BULK_BATCH), "--seconds", str(seconds),
            "--warmup-s", str(WARMUP_S), "--connections", str(CONNECTIONS[mode]), "--tag", label,
            "--body-bytes", str(D.BODY_BYTES), "--max-learners", str(MAX_LEARNERS)]
    cpu0, busy0, t0 = D.proc_cpu_s(p.pid), D.machine_busy_s(), time.perf_counter()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(args, capture_output=True, text=True, timeout=WARMUP_S + seconds + 90)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0 or not r.stdout.strip():
        raise RuntimeError(f"b2_load.mjs failed (rc {r.returncode}): {r.stderr[-1500:]}")
    load = json.loads(r.stdout.strip().splitlines()[-1])
    load_s = time.perf_counter() - t0
    cpu_load = D.proc_cpu_s(p.pid) - cpu0

    # The drain: poll the file read-only until nothing is scheduled (fan-out happens in the event's
    # own transaction, so every delivery exists by now), or the limit.
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    t_end = time.perf_counter()
    limit = min(DRAIN_LIMIT_S, max(10.0, H.time_left() - 20))
    finished = False
    while True:
        remaining = ro.execute("SELECT COUNT(*) FROM deliveries "
                               "WHERE state = 'scheduled' AND test = 0").fetchone()[0]
        if remaining == 0:
            finished = True
            break
        if p.poll() is not None or time.perf_counter() - t_end > limit:
            break
        time.sleep(POLL_S)
    ro.close()
    stop_ms = time.time() * 1000
    el = time.perf_counter() - t0
    res = {"label": label, "mode": mode, "subs": subs, "load": load, "finished": finished,
           "stop_ms": stop_ms,
           "drain_limit_s": limit, "load_s": load_s, "server_cpu_load_s": cpu_load,
           "client_cpu_s": (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime),
           "machine_busy": (D.machine_busy_s() - busy0) / (el * os.cpu_count())}
    if p.poll() is None:
        res["server_cpu_s"] = D.proc_cpu_s(p.pid) - cpu0
        res["hwm_mb"] = D.vm_hwm_kib(p.pid) * 1024 / 1e6
    else:
        res["died"] = p.returncode
    return res


def run_once(tmp, label, mode, subs, sink, seconds):
    """One run: fresh database and server, `subs` subscriptions, the load, then the drain."""
    db = os.path.join(tmp, "b2-run.db")
    remove_db(db)
    org = H.create_org(db)
    key = org["api_key"]
    port = H.free_port()
    errfile = os.path.join(tmp, f"serve-b2-{label}.err")
    if os.path.exists(errfile):
        os.remove(errfile)
    p = D.start_server(db, port, errfile)  # production durability, rate limit off, loopback allowed
    try:
        res = load_and_drain(p, port, key, db, label, mode, subs, sink, seconds)
    finally:
        H.stop(p)
    load = res["load"]
    res.update(db_figures(db, load))
    res["problems"] = D.log_problems(errfile)
    remove_db(db)

    window_s = (load["to_ms"] - load["from_ms"]) / 1000
    res["events_per_s"] = res["events_window"] / window_s
    end_ms = res["last_finished_ms"] if res["finished"] and res["last_finished_ms"] else res["stop_ms"]
    res["delivery_s"] = (end_ms - load["start_ms"]) / 1000
    res["deliveries_per_s"] = res["succeeded"] / res["delivery_s"]
    res["drain_after_load_s"] = (end_ms - load["end_ms"]) / 1000
    log(f"B2 {label}: {res['events_per_s']:,.0f} events/s committed ({load['events_per_s']:,.0f}/s "
        f"by the client; API p50 {load['api_ms']['p50']:.2f} ms, p99 {load['api_ms']['p99']:.2f} ms, "
        f"non-2xx {load['non2xx']}); {res['deliveries_per_s']:,.0f} deliveries/s over "
        f"{res['delivery_s']:.1f} s, {'drained' if res['finished'] else 'UNFINISHED'} "
        f"({res['succeeded']:,} succeeded; server CPU {res.get('server_cpu_s', 0):.1f} s; "
        f"{len(res['problems'])} warn/error log lines)")
    return res


def run(tmp, which, out, ctx):
    A = H.ARGS
    runs = 1 if A.trial else RUNS
    seconds = TRIAL_SECONDS if A.trial else SECONDS
    out.update(trial=A.trial, seconds=seconds, runs=[], notes=[])
    nport = H.free_port()
    ngx = H.start_nginx(tmp, nport, b"{}", name="nginx-b2",
                        extra_locations=f"location = {SINK_PATH} {{ return 200; }}")
    sink = f"http://127.0.0.1:{nport}{SINK_PATH}"
    try:
        for rep in range(1, runs + 1):
            for subs in SUBSCRIPTIONS:
                for mode in MODES:
                    # the load, start-up and a short drain at least
                    if H.time_left() < WARMUP_S + seconds + 30:
                        out["notes"].append(f"B2 stopped before {mode} × {subs} run {rep}: the time "
                                            f"budget ran out")
                        return
                    label = f"{mode}-{subs}sub-{rep}"
                    try:
                        out["runs"].append(run_once(tmp, label, mode, subs, sink, seconds))
                    except Exception as e:  # report, never hide; the other runs still count
                        out["notes"].append(f"B2 run {label} did not complete: {e}")
                        log(f"B2 {label} failed: {e}")
    finally:
        H.stop(ngx, signal.SIGQUIT)


# ---------------------------------------------------------------- report

def report(out, ctx):
    runs = out.get("runs") or []
    if not runs:
        return ""
    med, fmt, pct = D.med, D.fmt_rate, D.pct
    b0 = med([r["rps"] for r in ctx["dout"].get("b0") or []])
    m = ctx["machine"]
    L = ["### B2 end-to-end" + (" (TRIAL: 1 short run per case, not a headline figure)" if out["trial"]
                                else ""), ""]
    L.append(f"Per run: a fresh SQLite database (production defaults: WAL, `sqlite_synchronous = normal`, "
             f"in-flight cap 8 per subscription), `learnwire serve --rate-limit-per-key 0` (so the per-key "
             f"limit does not cap the load), and 1 or 10 subscriptions (`event_types: [learner.created]`) "
             f"to nginx `location = {SINK_PATH} {{ return 200; }}` (`worker_processes auto`, "
             f"`access_log off`). `bench/b2_load.mjs` (Node, keep-alive connections, closed loop: each "
             f"sends its next request when the previous answer is in) creates learners with distinct "
             f"emails, padded so each event envelope is about {D.BODY_BYTES:,} bytes: `single` = "
             f"`POST /api/v1/learners`, one learner per request, {CONNECTIONS['single']} connections; "
             f"`bulk` = `POST /api/v1/learners/bulk`, {BULK_BATCH:,} learners per request (the most "
             f"API.md allows), {CONNECTIONS['bulk']} connections (SQLite commits one transaction at a "
             f"time: more connections only queue). {WARMUP_S} s unmeasured "
             f"warm-up, then {out['seconds']} s measured. **Events/s committed** = `learner.created` "
             f"events whose `created_at` is inside the measured window, counted in the database, / the "
             f"window (the client's count of 201s / created bulk items is beside it). Then the file is "
             f"polled read-only every {int(POLL_S * 1000)} ms until no delivery is `scheduled` (at most "
             f"{DRAIN_LIMIT_S} s after the load). **Deliveries/s** = deliveries `succeeded` / (the last "
             f"`finished_at` − the load's start, warm-up included), so it covers the load and the drain "
             f"after it; `% of B0` is against the median B0 of this same run ({fmt(b0)} req/s). The load "
             f"generator, the server and the sink share the {m['nproc']} cores.")
    L.append("")
    L.append("| run | mode | subs | requests | learners created | events/s committed (DB) | client events/s | "
             "API p50 / p99 | non-2xx | deliveries succeeded | deliveries/s | % of B0 | drain after the "
             "load | delivered when the load stopped | server CPU, load / all | load generator CPU | machine busy | "
             "warn/error log lines |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        ld = r["load"]
        dl = r["succeeded_by_load_end"]
        total_dlv = sum(r["states"].values())
        bad = ld["non2xx"] + ld["errors"] + ld["item_errors"]
        L.append(f"| {r['label']} | {r['mode']} | {r['subs']} | {ld['requests']:,} | {ld['created']:,} | "
                 f"**{fmt(r['events_per_s'])}** | {fmt(ld['events_per_s'])} | "
                 f"{ld['api_ms']['p50']:.2f} / {ld['api_ms']['p99']:.2f} ms | {bad:,} | "
                 f"{r['succeeded']:,} | **{fmt(r['deliveries_per_s'])}**{'' if r['finished'] else ' ¹'} | "
                 f"{pct(r['deliveries_per_s'] / b0 if b0 else None)} | {r['drain_after_load_s']:.1f} s | "
                 f"{pct(dl / total_dlv if total_dlv else None)} | "
                 f"{r['server_cpu_load_s']:.1f} / {r.get('server_cpu_s', float('nan')):.1f} s | "
                 f"{r['client_cpu_s']:.1f} s | {pct(r['machine_busy'])} | "
                 f"{len(r['problems'])} |")
    L.append("")
    L.append("Requests and learners created: the measured window only (responses that arrived in it); "
             "non-2xx counts failed requests, socket errors and bulk items not created. Drain after the "
             "load = the last `finished_at` − the load's last response. Delivered when the load stopped "
             "= deliveries `succeeded` by then / all deliveries of the run. Server CPU = user + system "
             "seconds during the load, and over the load and the drain; load generator CPU = the "
             "Node process's user + system seconds; machine busy = every process on the machine (the "
             "load generator, nginx, other sessions' work) / (cores × run time). Envelopes as stored: "
             f"{med([r['envelope_bytes'] for r in runs]) or 0:,.0f} bytes (median).")
    if any(not r["finished"] for r in runs):
        L.append("")
        cut = [r["label"] for r in runs if not r["finished"] and r["drain_limit_s"] < DRAIN_LIMIT_S]
        L.append(f"¹ Unfinished: deliveries were still `scheduled` {DRAIN_LIMIT_S} s after the load "
                 f"stopped, and the run stopped waiting; the figure is the deliveries `succeeded` by then / "
                 f"the time from the load's start to the stop (a rate with the backlog never empty)."
                 + (f" Waits cut short by the time budget: {', '.join(cut)}." if cut else ""))
    L.append("")
    # Medians per case, then the headline.
    L.append("| mode | subs | runs | events/s committed | events/s % of B0 | deliveries/s | % of B0 | "
             "API p50 / p99 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    case = {}
    for subs in SUBSCRIPTIONS:
        for mode in MODES:
            rs = [r for r in runs if r["mode"] == mode and r["subs"] == subs]
            if not rs:
                continue
            ev, dv = med([r["events_per_s"] for r in rs]), med([r["deliveries_per_s"] for r in rs])
            ratio = med([r["deliveries_per_s"] / b0 for r in rs]) if b0 else None
            case[(mode, subs)] = (ev, dv, ratio)
            L.append(f"| {mode} | {subs} | {len(rs)}{'' if all(r['finished'] for r in rs) else ' ¹'} | "
                     f"**{fmt(ev)}** | {pct(ev / b0 if b0 and ev else None)} | **{fmt(dv)}** | "
                     f"{pct(ratio)} | "
                     f"{med([r['load']['api_ms']['p50'] for r in rs]):.2f} / "
                     f"{med([r['load']['api_ms']['p99'] for r in rs]):.2f} ms |")
    L.append("")
    one = {mode: case[(mode, 1)][0] for mode in MODES if (mode, 1) in case}
    ten = {mode: case[(mode, 10)][2] for mode in MODES if (mode, 10) in case}
    verdict = []
    if one:
        best_mode = max(one, key=lambda k: one[k] or 0)
        best = one[best_mode]
        verdict.append(f"events/s committed with 1 subscription: **{fmt(best)}** ({best_mode}; "
                       + ", ".join(f"{k} {fmt(v)}" for k, v in one.items()) + "); target ≥ 10,000 "
                       + ("met" if best and best >= 10_000 else "not met"))
    if ten and b0:
        best_mode = max(ten, key=lambda k: ten[k] or 0)
        best = ten[best_mode]
        verdict.append(f"deliveries/s with 10 subscriptions: **{pct(best)}** of B0 ({best_mode}; "
                       + ", ".join(f"{k} {pct(v)} = {fmt(case[(k, 10)][1])}/s" for k, v in ten.items())
                       + "); target ≥ 30 % " + ("met" if best and best >= 0.30 else "not met"))
    elif ten:
        verdict.append("deliveries/s with 10 subscriptions: no B0 figure in this run to compare with")
    if verdict:
        L.append("Headline (medians" + (", one trial run" if out["trial"] else f" of {RUNS} runs")
                 + "): " + "; ".join(verdict) + ".")
        L.append("")
    probs = [(r["label"], p) for r in runs for p in r["problems"]]
    if probs:
        L += D.first_lines("Server log lines at warn/error during B2", probs)
        L.append("")
    for r in runs:
        if r.get("died") is not None:
            L.append(f"- {r['label']}: **the server exited with {r['died']} during the run**")
        if r["load"].get("capped"):
            L.append(f"- {r['label']}: the load reached its bound of {MAX_LEARNERS:,} learners")
    for note in out.get("notes", []):
        L.append(f"- {note}")
    return "\n".join(L) + "\n"
