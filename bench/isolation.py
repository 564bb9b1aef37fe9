"""Learnwire benchmark B4 of BENCHMARKS.md ("isolation"), driven by bench/run: B3 plus 5 subscriptions
whose receivers hang until the attempt timeout.

Each run is B3's run (delivery.b3_run: a fresh database and server, learners created through the API
at 1,000/s, latency from the 201's arrival to the receiver's receipt) with 5 more subscriptions to the
same event type, so every learner fans out to 6 deliveries. Their URLs are paths of the same Node
receiver (tests/fakes/receiver.mjs) set to `{"hang": true}`: it reads the request and never answers,
so the server gives up at its attempt timeout, halves those subscriptions' concurrency (down to 1)
and retries them per the default retry policy. Only the healthy subscription's path is matched for
latency. The headline is the healthy p99 against B3's p99 of the same bench/run. After each run the
server's rows (read-only) say how many attempts went to the hanging subscriptions and how they ended.
Measures and writes numbers; never asserts.
"""
import json
import sqlite3
import time
import urllib.request

H = None   # the bench/run module
D = None   # bench/delivery.py (B3's run, receiver, helpers)
# bench/run sets H, D and log() when it loads this plug-in.

B4_HANGING = 5                 # subscriptions whose receiver never answers
B4_RUNS = 3                    # 1 with --trial
DEFAULT_ATTEMPT_TIMEOUT_S = 15  # PRODUCT.md `attempt_timeout_s`; the server's own default
DEFAULT_IN_FLIGHT = 8           # PRODUCT.md `in_flight_per_subscription`; not changed here
TARGET_RATIO = 1.5


def attempt_timeout_s(load_s):
    """The attempt timeout in force: the default (15 s) when the load lasts at least two timeouts, so
    the hanging subscriptions' attempts time out (and their concurrency halves, and retries are
    scheduled) while the healthy one is measured; a shorter load (a trial) gets a third of it."""
    if load_s >= 2 * DEFAULT_ATTEMPT_TIMEOUT_S:
        return DEFAULT_ATTEMPT_TIMEOUT_S
    return max(1, int(load_s // 3))


def control(rport, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{rport}{path}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


def max_overlap(intervals):
    """The most intervals (start, end) open at once: ends before starts at the same instant."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                   key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _, d in edges:
        cur += d
        best = max(best, cur)
    return best


def hanging_facts(db, healthy_id, hanging_ids):
    """What the server recorded for the hanging subscriptions (the file read-only, server stopped):
    attempts and their outcomes, the most in flight at once per subscription, how many timed out
    while the healthy subscription's deliveries were being created, and the deliveries' states."""
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # The load's window: the first and last healthy delivery (one per created learner).
        load_from, load_to = ro.execute("SELECT MIN(created_at), MAX(created_at) FROM deliveries "
                                        "WHERE webhook_id = ? AND test = 0", (healthy_id,)).fetchone()
        healthy_states = dict(ro.execute("SELECT state, COUNT(*) FROM deliveries WHERE webhook_id = ? "
                                         "AND test = 0 GROUP BY state", (healthy_id,)).fetchall())
        outcomes, durations, numbers, per_sub, overlap, states = {}, [], {}, [], [], {}
        in_load = 0
        for wid in hanging_ids:
            rows = ro.execute("SELECT a.number, a.started_at, a.duration_ms, a.status, a.error "
                              "FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                              "WHERE d.webhook_id = ?", (wid,)).fetchall()
            per_sub.append(len(rows))
            overlap.append(max_overlap([(s, s + dur) for _, s, dur, _, _ in rows]))
            for number, started, dur, status, error in rows:
                key = error or f"HTTP {status}"
                outcomes[key] = outcomes.get(key, 0) + 1
                numbers[number] = numbers.get(number, 0) + 1
                durations.append(dur)
                if load_from is not None and load_from <= started + dur <= load_to:
                    in_load += 1
            for state, n in ro.execute("SELECT state, COUNT(*) FROM deliveries WHERE webhook_id = ? "
                                       "AND test = 0 GROUP BY state", (wid,)):
                states[state] = states.get(state, 0) + n
    finally:
        ro.close()
    return {"attempts": sum(per_sub), "per_sub": per_sub, "outcomes": outcomes,
            "attempt_numbers": numbers, "duration_ms": D.ms_pcts(durations), "max_in_flight": overlap,
            "ended_during_load": in_load, "states": states, "healthy_states": healthy_states,
            "load_s": (load_to - load_from) / 1000 if load_from is not None else None}


def run_once(tmp, i, rport, seconds, timeout_s, hang=True):
    """One B4 run: the hang modes set, B3's run with the hanging subscriptions beside it (b3_run
    resets the receiver's records and modes at its end), then the server's rows read. With
    `hang` false, the control: the same fan-out to subscriptions that answer 200 at once."""
    if not hang:
        paths = [f"/b4-ok-{i}-{k}" for k in range(1, B4_HANGING + 1)]
        return D.b3_run(tmp, i, rport, seconds, label="b4-control",
                        extra_urls=[f"http://127.0.0.1:{rport}{p}" for p in paths])
    paths = [f"/b4-hang-{i}-{k}" for k in range(1, B4_HANGING + 1)]
    for path in paths:
        control(rport, "/__control/mode", {"path": path, "mode": {"hang": True}})
    serve_extra = [] if timeout_s == DEFAULT_ATTEMPT_TIMEOUT_S else ["--attempt-timeout-s", str(timeout_s)]
    # SIGTERM: the server lets attempts in flight finish within their timeout, then exits.
    res = D.b3_run(tmp, i, rport, seconds, label="b4",
                   extra_urls=[f"http://127.0.0.1:{rport}{p}" for p in paths],
                   serve_extra=serve_extra, stop_grace=timeout_s + 10)
    res["hanging"] = hanging_facts(res["db"], res["webhook_id"], res["extra_webhook_ids"])
    hg = res["hanging"]
    log(f"B4 run {i}: hanging subscriptions: {hg['attempts']} attempts {hg['outcomes']}, at most "
        f"{max(hg['max_in_flight'] or [0])} in flight each; server stopped in {res['stop_s']:.1f} s "
        f"(exit {res['exit_code']})")
    return res


def run(tmp, which, out, ctx):
    A = H.ARGS
    runs = 1 if A.trial else B4_RUNS
    seconds = A.b3_seconds
    timeout_s = attempt_timeout_s(D.B3_WARMUP_S + seconds)
    out.update(trial=A.trial, seconds=seconds, attempt_timeout_s=timeout_s, runs=[], control=[],
               notes=[])
    rp, rport = D.start_receiver(tmp)  # its own receiver: B3's is stopped by now
    try:
        for i in range(1, runs + 1):
            # load + the longest stop (a hanging attempt finishing its timeout) + start-up and reads
            if i > 1 and H.time_left() < D.B3_WARMUP_S + seconds + timeout_s + 30:
                out["notes"].append(f"B4 stopped after {i - 1} runs: the time budget ran out")
                break
            cpu0, t0 = D.proc_cpu_s(rp.pid), time.perf_counter()
            res = run_once(tmp, i, rport, seconds, timeout_s)
            # the receiver's share of one core over the run: it must not be what bounds the latency
            res["receiver_cpu"] = (D.proc_cpu_s(rp.pid) - cpu0) / (time.perf_counter() - t0)
            out["runs"].append(res)
            # The control, interleaved: the same 6× fan-out with every receiver healthy, so the
            # report can tell what the fan-out costs from what the hanging costs.
            if H.time_left() < D.B3_WARMUP_S + seconds + 30:
                out["notes"].append(f"B4's control stopped after {i - 1} runs: the time budget ran out")
                continue
            out["control"].append(run_once(tmp, i, rport, seconds, timeout_s, hang=False))
    finally:
        H.stop(rp)


# ---------------------------------------------------------------- report

def counts(d, prefix=""):
    """{"timeout": 12, …} → "timeout: 12, …" (sorted by key)."""
    return ", ".join(f"{prefix}{k}: {v:,}" for k, v in sorted(d.items())) or "—"


def ms3(d):
    """delivery.ms_pcts figures (whole ms) → "p50 / p99 / max ms"."""
    return "—" if not d else f"{d['p50']:,} / {d['p99']:,} / {d['max']:,} ms"


def report(out, ctx):
    runs = out.get("runs") or []
    if not runs:
        return ""
    b3 = (ctx.get("dout") or {}).get("b3") or []
    T = out["attempt_timeout_s"]
    L = ["### B4 isolation", ""]
    if out["trial"]:
        L.append(f"**Trial** (`--trial`): {len(runs)} run of {out['seconds']} s, not a headline figure.")
        L.append("")
    timeout_note = ("the default, not passed" if T == DEFAULT_ATTEMPT_TIMEOUT_S else
                    f"`--attempt-timeout-s {T}`, shorter than the default {DEFAULT_ATTEMPT_TIMEOUT_S} s "
                    f"so that attempts time out during this short load")
    L.append(f"Per run: B3's run exactly (fresh database and server, in-flight cap "
             f"{DEFAULT_IN_FLIGHT}, the default, `bench/b3_load.mjs` at {D.B3_RATE:,}/s over {D.B3_SOCKETS} "
             f"sockets, {D.B3_WARMUP_S} s warm-up then {out['seconds']} s measured) plus {B4_HANGING} "
             f"more subscriptions to `learner.created` (so every learner fans out to {B4_HANGING + 1} "
             f"deliveries) pointing at paths of the same Node receiver set to `{{\"hang\": true}}`: it "
             f"reads each request and never answers. The server gives up at its attempt timeout, "
             f"{T} s ({timeout_note}), halves those subscriptions' concurrency (down to 1) and schedules "
             f"a retry (default policy: 2 s, 4 s, 8 s …; a retry waits behind older due deliveries, so "
             f"the attempt numbers below say whether any was made). Latency is matched on the healthy "
             f"subscription's "
             f"path only, as in B3. After the load the server gets SIGTERM and may take up to {T} s to "
             f"stop (attempts in flight finish within their timeout); then its rows are read.")
    L.append("")
    L += D.latency_table(runs, "server stop", lambda r: f"{r['stop_s']:.1f} s, exit {r['exit_code']}")
    mp50 = D.med([r["latency_ms"]["p50"] for r in runs])
    mp99 = D.med([r["latency_ms"]["p99"] for r in runs])
    mmax = D.med([r["latency_ms"]["max"] for r in runs])
    L.append(f"| **median** | | {D.med([r['achieved_rate'] for r in runs]):,.1f}/s | | | | | | "
             f"**{mp50:.3f}** | {D.med([r['latency_ms']['p90'] for r in runs]):.3f} | **{mp99:.3f}** | "
             f"{D.med([r['latency_ms']['p999'] for r in runs]):.3f} | **{mmax:.3f}** | |")
    L.append("")
    b3p99 = D.med([r["latency_ms"]["p99"] for r in b3])
    if b3p99:
        ratio = mp99 / b3p99
        each = ", ".join(f"{r['latency_ms']['p99']:.3f}" for r in b3)
        L.append(f"Healthy p99 {mp99:.3f} ms / B3 p99 {b3p99:.3f} ms (median of this bench/run's "
                 f"{len(b3)} B3 run(s): {each}) = "
                 f"**{ratio:.2f}×**. Target ≤ {TARGET_RATIO}×: {'met' if ratio <= TARGET_RATIO else 'not met'}.")
    else:
        L.append(f"Healthy p99 {mp99:.3f} ms; no B3 figure in this bench/run to compare with, so the "
                 f"target (≤ {TARGET_RATIO}× B3's p99) is not judged.")
    ctl = out.get("control") or []
    if ctl:
        cp99 = D.med([r["latency_ms"]["p99"] for r in ctl])
        each = ", ".join(f"{r['latency_ms']['p99']:.3f}" for r in ctl)
        L.append("")
        L.append(f"Control, interleaved with the runs above: the same {B4_HANGING} extra subscriptions "
                 f"answering 200 at once (the same {B4_HANGING + 1}× fan-out, nothing hanging): p99 "
                 f"{each} ms, median **{cp99:.3f} ms**"
                 + (f" = {cp99 / b3p99:.2f}× B3's" if b3p99 else "")
                 + f". Hanging receivers against healthy ones at the same fan-out: {mp99 / cp99:.3g}×. (A "
                 f"control far above B3 means the healthy fan-out saturated the machine: "
                 f"{B4_HANGING + 1}× the deliveries of B3, where hanging subscriptions drop to 1 in "
                 f"flight.)")
    b3rate, b4rate = D.med([r["achieved_rate"] for r in b3]), D.med([r["achieved_rate"] for r in runs])
    if b3rate:
        L.append(f"Achieved creation rate (of the {D.B3_RATE:,}/s offered), median: B4 {b4rate:,.1f}/s, B3 "
                 f"{b3rate:,.1f}/s ({b4rate / b3rate * 100:.0f} %). Latency runs from the 201, so an API "
                 f"that falls behind (each learner here writes {B4_HANGING + 1} deliveries) shows in this "
                 f"rate and the API times, not in the p99; a lower rate also means a lighter load on "
                 f"the dispatcher.")
    L.append("")
    L.append(f"The hanging subscriptions, from the server's rows (`attempts` joined to `deliveries`; "
             f"Unix ms). *Timed out during the load* = attempts that ended between the first and the last "
             f"healthy delivery's creation. *Most in flight* = the largest number of one subscription's "
             f"attempts open at once, per subscription (cap {DEFAULT_IN_FLIGHT}, the default "
             f"`in_flight_per_subscription`).")
    L.append("")
    L.append("| run | attempts (per subscription) | outcomes | attempt numbers | duration p50 / p99 / max | "
             "timed out during the load | most in flight | their deliveries |")
    L.append("|---|---|---|---|---:|---:|---|---|")
    for i, r in enumerate(runs, 1):
        hg = r["hanging"]
        L.append(f"| {i} | {hg['attempts']} ({', '.join(str(x) for x in hg['per_sub'])}) | "
                 f"{counts(hg['outcomes'])} | {counts(hg['attempt_numbers'], '#')} | "
                 f"{ms3(hg['duration_ms'])} | {hg['ended_during_load']} | "
                 f"{', '.join(str(x) for x in hg['max_in_flight'])} | {counts(hg['states'])} |")
    L.append("")
    L.append("The healthy subscription, from the server's rows as in B3 (whole ms, warm-up included): "
             "pick-up = `first_attempt_at − created_at`, attempt = its duration. Receiver CPU = the Node "
             "receiver's CPU time / the run's time (1 = one core: it would bound the latency); machine "
             "busy as in B3.")
    L.append("")
    L.append("| run | healthy deliveries | load (first → last created) | pick-up p50 / p99 / max | "
             "attempt p50 / p99 / max | server CPU | receiver CPU | machine busy |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for i, r in enumerate(runs, 1):
        hg, sp = r["hanging"], r.get("split") or {}
        cpu, load_s = r.get("server_cpu_s"), hg["load_s"]
        L.append(f"| {i} | {counts(hg['healthy_states'])} | "
                 f"{'—' if load_s is None else f'{load_s:.1f} s'} | "
                 f"{ms3(sp.get('pickup_ms'))} | {ms3(sp.get('attempt_ms'))} | "
                 f"{'—' if cpu is None else f'{cpu:.1f} s'} | {D.pct(r.get('receiver_cpu'))} | "
                 f"{D.pct(r.get('machine_busy'))} |")
    L.append("")
    problems = [(i, r) for i, r in enumerate(runs, 1) if r["errors"] or r["problems"] or r["duplicates"]]
    for i, r in problems:
        if r["duplicates"]:
            L.append(f"- run {i}: {r['duplicates']} healthy deliveries arrived twice (most likely an attempt that outlived "
                     f"the {T} s attempt timeout and was retried); `b3_load.mjs` stops waiting once as many "
                     f"records as learners have arrived, copies included, so up to as many late ones may "
                     f"count as missing")
        if not (r["errors"] or r["problems"]):
            continue
        L.append(f"- run {i}: {r['errors']} API errors {r.get('statuses', {})}; "
                 f"{len(r['problems'])} warn/error server log lines"
                 + (f", first: `{r['problems'][0][:300]}`" if r["problems"] else ""))
    for note in out.get("notes", []):
        L.append(f"- {note}")
    if problems or out.get("notes"):
        L.append("")
    return "\n".join(L)

