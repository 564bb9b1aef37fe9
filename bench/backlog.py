"""Learnwire benchmark B5 of BENCHMARKS.md ("backlog"), driven by bench/run.

"Sink down, 1,000,000 deliveries scheduled; then sink up. Target: RSS < 200 MB all along; drain rate
≥ 90 % of B1." Read here as:

- a template database built like B1's (delivery.b1_backlog): one subscription and 1,000,000 scheduled
  deliveries of distinct 1 KiB learner.created events, whose URL is an nginx `location = /sink
  { return 200; }` on a port of its own where nothing listens yet (sink down: connection refused);
- per run, a copy of it and `learnwire serve` with production defaults (in-flight cap 8, B1's cap-8
  column). Phase 1, sink down for DOWN_S: every due delivery is attempted, fails and is rescheduled by
  the default retry policy (exponential from 2 s). Phase 2: nginx starts on that port, and the run
  lasts until no delivery is `scheduled`. The server's VmRSS is sampled every 100 ms from its spawn
  to its stop (and VmHWM read at the end);
- drain rate = succeeded / (last `finished_at` − the moment nginx was spawned), compared with the
  median B1 cap-8 rate of the same bench/run.

Every process goes through the harness's spawn(), so it is stopped on exit, error, Ctrl-C or SIGTERM.
Measures and writes numbers; never asserts.
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

H = None   # the bench/run module
D = None   # bench/delivery.py (backlog, server, /proc helpers, formatting)
# bench/run sets H, D and log() when it loads this plug-in.

DELIVERIES = 1_000_000       # BENCHMARKS.md
TRIAL_DELIVERIES = 100_000
DOWN_S = 30                  # phase 1, counted from the server's spawn
TRIAL_DOWN_S = 5
DRAIN_LIMIT_S = 300          # a drain not over after this long is stopped and reported unfinished
MAX_RUNS = 3                 # as many as the time budget allows, at most this many (trial: 1)
RSS_SAMPLE_S = 0.1
POLL_S = 0.2                 # as B1's read-only poll
TIMELINE_STEP_S = 10         # the report's RSS timeline: one figure per this many seconds
RSS_TARGET_MB = 200
RATE_TARGET = 0.90           # of B1's cap-8 median
SINK = "location = /sink { return 200; }"


def mb(kib):
    """kB of /proc (KiB) → MB (10^6 bytes), as B1 and B7 report memory."""
    return None if kib is None else kib * 1024 / 1e6


class RssSampler:
    """VmRSS of one process every RSS_SAMPLE_S, on a thread of its own, until stop() or its exit."""

    def __init__(self, pid, t0):
        self.samples = []  # (seconds since t0, KiB)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(pid, t0), daemon=True)
        self._thread.start()

    def _loop(self, pid, t0):
        while not self._halt.is_set():
            try:
                kib = H.rss_kib(pid)
            except OSError:
                return  # the process is gone
            if kib:  # a zombie has no VmRSS line
                self.samples.append((time.perf_counter() - t0, kib))
            self._halt.wait(RSS_SAMPLE_S)

    def stop(self):
        self._halt.set()
        self._thread.join()
        return self.samples

    def peak(self, since=0.0, until=float("inf")):
        xs = [k for t, k in self.samples if since <= t < until]
        return max(xs) if xs else None

    def last(self, until):
        xs = [k for t, k in self.samples if t < until]
        return xs[-1] if xs else None


def remove_db(db):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


def scheduled(ro):
    """Deliveries still `scheduled` (B1's poll: a small partial index)."""
    return ro.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'scheduled' AND test = 0").fetchone()[0]


def run_once(tmp, template, sink_port, n, down_s, i):
    """One run: copy the template, serve it with the sink down for down_s, start the sink, poll until
    nothing is scheduled (or the drain limit); then read the outcome from the file."""
    db = os.path.join(tmp, "b5-run.db")
    remove_db(db)
    shutil.copyfile(template, db)
    errfile = os.path.join(tmp, f"serve-b5-{i}.err")
    if os.path.exists(errfile):
        os.remove(errfile)
    port = H.free_port()
    res = {"run": i}

    # Phase 1: the sink is down. Spawned here rather than with D.start_server so that RSS is sampled
    # from the spawn on, start-up included.
    err = open(errfile, "ab")
    busy0 = D.machine_busy_s()
    t0 = time.perf_counter()
    p = H.spawn(D.serve_args(db, port), stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    rss = RssSampler(p.pid, t0)
    ngx = None
    try:
        H.wait_ready(port, p)
        res["ready_s"] = time.perf_counter() - t0
        ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        while time.perf_counter() - t0 < down_s and p.poll() is None:
            time.sleep(min(0.2, max(0.0, down_s - (time.perf_counter() - t0))))
        res["down_s"] = time.perf_counter() - t0
        if p.poll() is None:
            res["cpu_down_s"] = D.proc_cpu_s(p.pid)
        busy1 = D.machine_busy_s()
        res["busy_down"] = (busy1 - busy0) / (res["down_s"] * os.cpu_count())
        # What phase 2 starts from (index reads, a few ms): deliveries waiting for a retry, and when
        # the last of them is due.
        now_ms = time.time() * 1000
        res["waiting"], last_due = ro.execute(
            "SELECT COUNT(*), MAX(next_attempt_at) FROM deliveries WHERE state = 'scheduled' AND test = 0 "
            "AND next_attempt_at > ?", (now_ms,)).fetchone()
        res["last_due_s"] = None if last_due is None else (last_due - now_ms) / 1000

        # Phase 2: the sink comes up; time runs from the moment nginx is started (it answers some
        # 10–50 ms later: counted in the drain, so no attempt that succeeds falls before it).
        up_ms = time.time() * 1000
        t_up = time.perf_counter()
        res["up_at_s"] = t_up - t0
        ngx = H.start_nginx(tmp, sink_port, b"{}", name="nginx-b5", extra_locations=SINK)
        res["nginx_start_s"] = time.perf_counter() - t_up
        limit = min(DRAIN_LIMIT_S, max(60.0, H.time_left() - 30))
        res["limit_s"] = limit
        samples = []  # (seconds since the sink came up, deliveries no longer scheduled)
        res["finished"] = False
        while True:
            remaining = scheduled(ro)
            el = time.perf_counter() - t_up
            samples.append((el, n - remaining))
            if remaining == 0:
                res["finished"] = True
                break
            if p.poll() is not None or el > limit:
                break
            time.sleep(POLL_S)
        t_end = time.perf_counter()
        res["busy_up"] = (D.machine_busy_s() - busy1) / ((t_end - t_up) * os.cpu_count())
        if p.poll() is None:
            res["cpu_s"] = D.proc_cpu_s(p.pid)
            res["threads"] = D.threads_cpu_s(p.pid)[:3]
            res["hwm_kib"] = D.vm_hwm_kib(p.pid)
        else:
            res["died"] = p.returncode
    finally:
        rss.stop()
        H.stop(p)
        if ngx is not None:
            H.stop(ngx, signal.SIGQUIT)
    res["wall_s"] = time.perf_counter() - t0
    res["rss"] = {
        "peak_kib": rss.peak(),
        "peak_down_kib": rss.peak(until=res["up_at_s"]),
        "peak_up_kib": rss.peak(since=res["up_at_s"]),
        "end_down_kib": rss.last(res["up_at_s"]),
        "end_kib": rss.last(float("inf")),
        "samples": len(rss.samples),
        # one figure per TIMELINE_STEP_S: the largest sample of each step
        "timeline_mb": [mb(rss.peak(s, s + TIMELINE_STEP_S))
                        for s in range(0, int(res["wall_s"]) + 1, TIMELINE_STEP_S)],
    }

    # The outcome, from the server's own rows (it is stopped: nothing changes under these reads).
    res["states"] = dict(ro.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
    res["succeeded"] = res["states"].get("succeeded", 0)
    res["by_attempts"] = dict(ro.execute("SELECT attempt_count, COUNT(*) FROM deliveries "
                                         "WHERE state = 'succeeded' GROUP BY attempt_count").fetchall())
    first, last = ro.execute("SELECT MIN(finished_at), MAX(finished_at) FROM deliveries "
                             "WHERE state = 'succeeded'").fetchone()
    # One scan of the attempts: started before / after the sink came up, by outcome.
    down = {"attempts": 0, "failed": 0, "deliveries": 0, "outcomes": {}}
    up = {"attempts": 0, "failed": 0, "deliveries": 0, "outcomes": {}}
    for before, ok, error, count, firsts in ro.execute(
            "SELECT started_at < ?, status BETWEEN 200 AND 299, error, COUNT(*), SUM(number = 1) "
            "FROM attempts GROUP BY 1, 2, 3", (up_ms,)):
        side = down if before else up
        side["attempts"] += count
        side["deliveries"] += firsts  # first attempts: deliveries tried for the first time
        if not ok:
            side["failed"] += count
        key = error or ("2xx" if ok else "other status")
        side["outcomes"][key] = side["outcomes"].get(key, 0) + count
    ro.close()
    res["down"], res["up"] = down, up
    if first is not None:
        res["first_success_s"] = (first - up_ms) / 1000
    if res["finished"] and last is not None:
        res["drain_s"] = (last - up_ms) / 1000
    else:
        res["drain_s"] = samples[-1][0]
    res["rate"] = res["succeeded"] / res["drain_s"] if res["drain_s"] > 0 else None
    res["steady_rate"] = D.steady_rate(samples, n)
    res["problems"] = D.log_problems(errfile)
    if not H.ARGS.keep:
        remove_db(db)
    log(f"B5 run {i}: sink down {res['down_s']:.0f} s ({down['attempts']:,} attempts failed on "
        f"{down['deliveries']:,} deliveries); drain {D.fmt_rate(res['rate'])} deliveries/s over "
        f"{res['drain_s']:.1f} s, {'drained' if res['finished'] else 'UNFINISHED'}; RSS peak "
        f"{mb(max(res['rss']['peak_kib'] or 0, res.get('hwm_kib') or 0)):.1f} MB; "
        f"{len(res['problems'])} warn/error log lines")
    return res


def run(tmp, which, out, ctx):
    trial = H.ARGS.trial
    n = TRIAL_DELIVERIES if trial else DELIVERIES
    down_s = TRIAL_DOWN_S if trial else DOWN_S
    out.update(n=n, down_s=down_s, trial=trial, runs=[], notes=[])
    if H.time_left() < 120:
        raise RuntimeError(f"the time budget is spent ({H.time_left():.0f} s left)")
    sink_port = H.free_port()  # nothing listens here until phase 2
    log(f"B5: building the backlog ({n:,} scheduled deliveries; the sink on port {sink_port} is down) …")
    template, facts = D.b1_backlog(tmp, f"http://127.0.0.1:{sink_port}/sink", n, name="b5")
    facts.pop("sample_body", None)
    out["facts"] = facts
    log(f"B5: backlog inserted in {facts['insert_s']:.1f} s (database {facts['db_mib']:,.0f} MiB)")
    try:
        for i in range(1, (1 if trial else MAX_RUNS) + 1):
            if i > 1 and H.time_left() < out["runs"][-1]["wall_s"] + 30:
                out["notes"].append(f"B5 stopped after {i - 1} run(s): the time budget ran out "
                                    f"({H.time_left():.0f} s left)")
                break
            out["runs"].append(run_once(tmp, template, sink_port, n, down_s, i))
    finally:
        if not H.ARGS.keep:
            remove_db(template)  # ~2 GB at 1,000,000 deliveries


# ---------------------------------------------------------------- report

def report(out, ctx):
    runs = out.get("runs") or []
    if not runs:
        return ""
    f = out["facts"]
    n = out["n"]
    L = ["### B5 backlog" + (" (trial: smaller backlog, 1 run — not a headline figure)" if out["trial"] else ""),
         ""]
    L.append(f"Template database built like B1's: one organization and one subscription (default retry "
             f"policy: exponential from 2 s, ×2, 10 % jitter) made through the CLI and the API, then "
             f"{n:,} `learner.created` events ({f['body_bytes']:,}-byte envelopes) and {n:,} `scheduled` "
             f"deliveries inserted with SQL in one transaction ({f['insert_s']:.1f} s; database "
             f"{f['db_mib']:,.0f} MiB). The subscription's URL is nginx `{SINK}` on a port of its own where "
             f"nothing listens yet. Each run copies the template and spawns `learnwire serve` with "
             f"production defaults (in-flight cap 8, as B1's cap-8 column; SQLite `normal`; log level "
             f"info). **Phase 1, sink down** for {out['down_s']} s from the spawn: attempts fail with "
             f"connection refused and are rescheduled. **Phase 2, sink up**: nginx starts on that port; "
             f"the file is polled read-only every {int(POLL_S * 1000)} ms until nothing is `scheduled` "
             f"(stopped after {DRAIN_LIMIT_S} s at most). Drain rate = `succeeded` / (last `finished_at` − "
             f"the moment nginx was spawned), both this machine's Unix ms; nginx's own start-up (it "
             f"answered {D.med([x.get('nginx_start_s') for x in runs]) * 1000:.0f} ms later, median) "
             f"counts in the drain, and every attempt that started before that moment counts in phase 1. The server's VmRSS is sampled "
             f"every {int(RSS_SAMPLE_S * 1000)} ms from its spawn to its stop, and VmHWM read before the "
             f"stop; MB = 10^6 bytes.")
    L.append("")
    b1 = (ctx.get("dout") or {}).get("b1", {}).get("cap8", [])
    b1_med = D.med([x["rate"] for x in b1])
    L.append("| run | phase 1: attempts (failed) on deliveries | at sink-up: waiting for a retry (last due) | "
             "drain time | drain rate | % of B1 cap 8 | steady 10–90 % | first success | succeeded with "
             "≥ 2 attempts | end states |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for x in runs:
        d = x["down"]
        retried = sum(c for k, c in x["by_attempts"].items() if k >= 2)
        states = ", ".join(f"{s} {c:,}" for s, c in sorted(x["states"].items()))
        last_due = "—" if x.get("last_due_s") is None else f"+{x['last_due_s']:.1f} s"
        L.append(f"| {x['run']} | {d['attempts']:,} ({d['failed']:,}) on {d['deliveries']:,} | "
                 f"{x['waiting']:,} ({last_due}) | {x['drain_s']:.1f} s{'' if x['finished'] else ' ¹'} | "
                 f"{D.fmt_rate(x['rate'])}/s | {D.pct(x['rate'] / b1_med if b1_med and x['rate'] else None)} | "
                 f"{D.fmt_rate(x['steady_rate'])}/s | "
                 f"{'—' if x.get('first_success_s') is None else format(x['first_success_s'], '.2f') + ' s'} | "
                 f"{retried:,} | {states} |")
    L.append("")
    if any(not x["finished"] for x in runs):
        L.append(f"¹ Unfinished: stopped after {runs[0]['limit_s']:.0f} s of phase 2 (or the server exited) "
                 f"with deliveries still `scheduled`; the rate is `succeeded` / the time the sink was up.")
        L.append("")
    L.append("Memory and CPU (RSS peak = the largest 100 ms sample; VmHWM = the kernel's high-water mark "
             "over the process's life; CPU = the server's user+system seconds; machine busy = CPU time of "
             "every process on the machine, other sessions' work included, / (cores × phase time)):")
    L.append("")
    L.append("| run | ready | RSS peak, phase 1 / phase 2 | VmHWM | RSS at sink-up / at the end | "
             "server CPU, phase 1 / phase 2 | busiest threads (CPU s) | machine busy, phase 1 / 2 | "
             "warn/error log lines |")
    L.append("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    nan = float("nan")
    for x in runs:
        r = x["rss"]
        cpu1 = x.get("cpu_down_s")
        cpu2 = None if x.get("cpu_s") is None or cpu1 is None else x["cpu_s"] - cpu1
        th = ", ".join(f"{name.split('/')[0]} {s:.1f}" for name, s in x.get("threads", []))
        fm = (lambda k: "—" if k is None else f"{mb(k):.1f}")
        L.append(f"| {x['run']} | {x.get('ready_s', nan) * 1000:.0f} ms | {fm(r['peak_down_kib'])} / "
                 f"{fm(r['peak_up_kib'])} MB | {fm(x.get('hwm_kib'))} MB | {fm(r['end_down_kib'])} / "
                 f"{fm(r['end_kib'])} MB | {'—' if cpu1 is None else f'{cpu1:.1f}'} / "
                 f"{'—' if cpu2 is None else f'{cpu2:.1f}'} s | {th} | {D.pct(x.get('busy_down'))} / "
                 f"{D.pct(x.get('busy_up'))} | {len(x['problems'])} |")
    L.append("")
    for x in runs:
        L.append(f"- run {x['run']}, RSS over time (MB, largest sample of each {TIMELINE_STEP_S} s from the "
                 f"spawn; the sink came up at {x['up_at_s']:.0f} s): "
                 + ", ".join("—" if v is None else f"{v:.0f}" for v in x["rss"]["timeline_mb"]))
        outcomes = [", ".join(f"{k} {c:,}" for k, c in sorted(x[side]["outcomes"].items())) or "none"
                    for side in ("down", "up")]
        L.append(f"  attempts by outcome, phase 1: {outcomes[0]}; phase 2: {outcomes[1]} (attempts that "
                 f"started before nginx listened fail too)"
                 + (f"; **the server exited with {x['died']}**" if "died" in x else ""))
    L.append("")

    # Verdicts: RSS all along (the larger of the sampled peak and VmHWM), drain rate vs B1.
    peak = max(max(x["rss"]["peak_kib"] or 0, x.get("hwm_kib") or 0) for x in runs)
    rate = D.med([x["rate"] for x in runs])
    verdict = [f"RSS < {RSS_TARGET_MB} MB all along: {'met' if mb(peak) < RSS_TARGET_MB else 'not met'} "
               f"(peak {mb(peak):.1f} MB over {len(runs)} run(s))"]
    if b1_med and rate:
        ok = rate / b1_med >= RATE_TARGET and all(x["finished"] for x in runs)
        verdict.append(f"drain rate ≥ {RATE_TARGET * 100:.0f} % of B1: {'met' if ok else 'not met'} "
                       f"({D.fmt_rate(rate)}/s{' median' if len(runs) > 1 else ''} = {D.pct(rate / b1_med)} "
                       f"of the median B1 cap-8 rate of this bench/run, {D.fmt_rate(b1_med)}/s over "
                       f"{len(b1)} run(s))")
    else:
        verdict.append("drain rate vs B1: no B1 cap-8 figure in this bench/run to compare with")
    b0 = D.med([r["rps"] for r in ctx["dout"].get("b0") or []])
    if b0 and rate:
        verdict.append(f"the drain rate is {D.pct(rate / b0)} of the median B0 of this run "
                       f"({D.fmt_rate(b0)} req/s)")
    L.append("Targets: " + "; ".join(verdict) + ".")
    if len(runs) < 3:
        L.append(f"{len(runs)} run(s) of {n:,} deliveries, not the median of ≥ 3 that BENCHMARKS.md asks for "
                 f"headline ratios{': a trial' if out['trial'] else ' (what the time budget allows)'}.")
    probs = [(f"run {x['run']}", p) for x in runs for p in x["problems"]]
    if probs:
        L.append("")
        L += D.first_lines("Server log lines at warn/error during B5", probs)
    for note in out.get("notes", []):
        L.append(f"- {note}")
    L.append("")
    return "\n".join(L)
