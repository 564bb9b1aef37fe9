"""Learnwire delivery benchmarks B0, B1 and B3 of BENCHMARKS.md, driven by bench/run.

bench/run imports this module and hands it its own helpers (spawn/stop/cleanup, nginx, wrk, org
creation) with setup(); nothing here runs on its own. Every process started here goes through the
harness's spawn(), so the harness stops it on exit, error, Ctrl-C or SIGTERM.

- B0: wrk -t2 -c64 POSTing one 1 KiB webhook envelope to nginx `location = /sink { return 200; }`.
- B1: 200,000 scheduled deliveries of 1 KiB events to one subscription pointing at that same nginx
  location; the server is started on the backlog and timed from its spawn until the last delivery
  is recorded `succeeded`. Runs at the default in-flight cap (8) and at 64, interleaved with B0, plus
  runs with `--sqlite-synchronous full`.
- B3: bench/b3_load.mjs creates learners at a steady 1,000/s through the API; the receiver
  tests/fakes/receiver.mjs records each delivery's arrival (CLOCK_MONOTONIC µs); latency = receipt
  minus the creating request's response.

Measures and writes numbers; never asserts.
"""
import base64
import datetime
import importlib.util
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request

H = None  # the bench/run module (helpers, ARGS, ROOT, BIN), set by setup()

BODY_BYTES = 1024          # every event envelope is padded to exactly this size
B1_CAPS = (8, 64)           # the default in_flight_per_subscription, and wrk's connection count
B1_POLL_S = 0.2
B3_RATE = 1000
B3_SOCKETS = 4
B3_WARMUP_S = 1

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_B32 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CROCKFORD.encode())


MULTI = None  # bench/multinode.py (B9)


def setup(harness):
    global H, MULTI
    H = harness
    spec = importlib.util.spec_from_file_location(
        "learnwire_bench_multinode", os.path.join(os.path.dirname(os.path.abspath(__file__)), "multinode.py"))
    MULTI = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(MULTI)
    MULTI.setup(harness, sys.modules[__name__])


def log(*a):
    H.log(*a)


# ---------------------------------------------------------------- ids and envelopes

def id_maker(prefix, ms):
    """Ids shaped like the server's: prefix + 26 Crockford base32 characters (48-bit Unix ms, then
    80 bits that start random and count up), so they are unique and increase in creation order."""
    t, head = ms, []
    for _ in range(10):
        head.append(CROCKFORD[t & 31])
        t >>= 5
    head = prefix + "".join(reversed(head))
    counter = random.getrandbits(79)

    def new_id():
        nonlocal counter
        counter += 1
        return head + base64.b32encode(counter.to_bytes(10, "big")).translate(_B32).decode()

    return new_id


def iso_ms(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def envelope(event_id, org_id, key_id, learner_id, n, ms):
    """A learner.created envelope shaped like the server's own (WEBHOOKS.md §2), padded with a
    custom field to exactly BODY_BYTES."""
    ts = iso_ms(ms)

    def build(pad):
        return json.dumps({
            "id": event_id, "type": "learner.created", "version": "1", "timestamp": ts,
            "organization_id": org_id, "actor": {"type": "api_key", "id": key_id},
            "data": {"id": learner_id, "email": f"bench{n:07d}@example.com", "firstname": "Bench",
                     "lastname": f"Learner{n:07d}", "username": None, "language": "en",
                     "external_id": None, "custom_fields": {"notes": pad}, "status": "active",
                     "group_ids": [], "department_ids": [], "created_at": ts, "updated_at": ts,
                     "deleted_at": None}}, separators=(",", ":"))

    short = build("")
    return build("n" * (BODY_BYTES - len(short.encode())))


def key_id_of(api_key):
    # lw_<key id body>_<secret>  →  key_<key id body>
    return "key_" + api_key.split("_")[1]


# ---------------------------------------------------------------- learnwire helpers

def serve_args(db, port, extra=()):
    return [H.BIN, "serve", "--db", "sqlite:" + db, "--listen", f"127.0.0.1:{port}",
            "--log-format", "json", "--allowed-private-networks", "127.0.0.0/8",
            "--rate-limit-per-key", "0"] + list(extra)


def start_server(db, port, errfile, extra=()):
    err = open(errfile, "ab")
    p = H.spawn(serve_args(db, port, extra), stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    H.wait_ready(port, p)
    return p


def api(port, key, method, path, body=None, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"null")


def create_webhook(port, key, url):
    st, doc = api(port, key, "POST", "/api/v1/webhooks",
                  {"name": "bench", "url": url, "event_types": ["learner.created"]})
    if st != 201:
        raise RuntimeError(f"POST /api/v1/webhooks answered {st}: {doc}")
    return doc["id"]


def log_problems(errfile):
    """Lines of the server's JSON log at level warn or error (e.g. `dispatcher: …`)."""
    out = []
    try:
        with open(errfile, "rb") as f:
            for raw in f:
                line = raw.decode(errors="replace").strip()
                try:
                    level = json.loads(line).get("level")
                except ValueError:
                    level = "unparsed"
                if level in ("warn", "error", "unparsed"):
                    out.append(line)
    except FileNotFoundError:
        pass
    return out


def proc_cpu_s(pid):
    """utime + stime of a process in seconds (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_cpu_s(pid):
    """[(thread name, cpu s)], busiest first."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
            name = s[s.index("(") + 1:s.rindex(")")]
            fields = s.rsplit(")", 1)[1].split()
            out.append((f"{name}/{tid}", (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")))
        except (OSError, ValueError):
            pass
    return sorted(out, key=lambda x: -x[1])


def machine_busy_s():
    """CPU seconds every core of the machine spent busy (all processes, ours and others')."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal …
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- B0

def wrk_post_script(tmp, body):
    body_file = os.path.join(tmp, "b0-body.json")
    with open(body_file, "w") as f:
        f.write(body)
    script = os.path.join(tmp, "b0-post.lua")
    with open(script, "w") as f:
        f.write(f"""local f = assert(io.open("{body_file}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
""")
    return script


def b0_run(url, script, duration):
    r = H.run_wrk(url, duration, script)
    log(f"B0: {r['rps']:,.0f} req/s (p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms)")
    return r


# ---------------------------------------------------------------- B1

def b1_backlog(tmp, sink_url, n, name="b1"):
    """A database with one organization, one subscription (to sink_url) and n scheduled deliveries
    of n distinct 1 KiB learner.created events, checkpointed into the main file so each run can copy
    it. `name` prefixes its files (B5 builds its own beside B1's). Returns (path, facts)."""
    db = os.path.join(tmp, f"{name}-template.db")
    org = H.create_org(db)
    port = H.free_port()
    errfile = os.path.join(tmp, f"serve-{name}-setup.err")
    p = start_server(db, port, errfile)
    webhook_id = create_webhook(port, org["api_key"], sink_url)
    H.stop(p)  # SIGTERM: the server stops cleanly before we write to its file

    t = time.perf_counter()
    now = int(time.time() * 1000)
    new_evt, new_dlv, new_lrn = id_maker("evt_", now), id_maker("dlv_", now), id_maker("lrn_", now)
    org_id, key_id = org["organization_id"], key_id_of(org["api_key"])
    events, deliveries = [], []
    for i in range(n):
        eid, lid = new_evt(), new_lrn()
        events.append((eid, org_id, "learner.created", now, lid,
                       envelope(eid, org_id, key_id, lid, i, now),
                       '{"learner_ids":["' + lid + '"]}'))
        deliveries.append((new_dlv(), org_id, webhook_id, eid, "learner.created", now, now, now))
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("PRAGMA synchronous = NORMAL")
    c.execute("BEGIN IMMEDIATE")
    c.executemany("INSERT INTO events (id, organization_id, type, created_at, learner_id, payload, "
                  "relations) VALUES (?, ?, ?, ?, ?, ?, ?)", events)
    c.executemany("INSERT INTO deliveries (id, organization_id, webhook_id, event_id, event_type, "
                  "state, test, attempt_count, next_attempt_at, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, 'scheduled', 0, 0, ?, ?, ?)", deliveries)
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    facts = {"insert_s": time.perf_counter() - t, "webhook_id": webhook_id,
             "db_mib": os.path.getsize(db) / 2**20, "body_bytes": len(events[0][5].encode()),
             "sample_body": events[0][5]}
    return db, facts


def b1_run(tmp, template, label, extra, n):
    """One drain: copy the template, spawn the server, poll the file read-only until no delivery is
    scheduled; the time is spawn → MAX(finished_at) (both Unix ms of this machine's clock)."""
    db = os.path.join(tmp, "b1-run.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    shutil.copyfile(template, db)
    port = H.free_port()
    errfile = os.path.join(tmp, f"serve-b1-{label}.err")
    if os.path.exists(errfile):
        os.remove(errfile)
    err = open(errfile, "ab")
    spawn_ms = time.time() * 1000
    t0 = time.perf_counter()
    busy0 = machine_busy_s()
    p = H.spawn(serve_args(db, port, extra), stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    H.wait_ready(port, p)
    ready_s = time.perf_counter() - t0
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    samples = []  # (seconds since spawn, deliveries no longer scheduled)
    done_poll_s = None
    while True:
        remaining = ro.execute("SELECT COUNT(*) FROM deliveries "
                               "WHERE state = 'scheduled' AND test = 0").fetchone()[0]
        el = time.perf_counter() - t0
        samples.append((el, n - remaining))
        if remaining == 0:
            done_poll_s = el
            break
        if p.poll() is not None or el > H.ARGS.b1_limit_s:
            break
        time.sleep(B1_POLL_S)
    res = {"label": label, "flags": " ".join(extra), "ready_s": ready_s, "poll_done_s": done_poll_s,
           "finished": done_poll_s is not None,
           "machine_busy": (machine_busy_s() - busy0) / ((time.perf_counter() - t0) * os.cpu_count())}
    if p.poll() is None:
        res["cpu_s"] = proc_cpu_s(p.pid)
        res["threads"] = threads_cpu_s(p.pid)[:4]
        res["hwm_mb"] = vm_hwm_kib(p.pid) * 1024 / 1e6
    else:
        res["died"] = p.returncode
    H.stop(p)
    states = dict(ro.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
    first, last = ro.execute("SELECT MIN(first_attempt_at), MAX(finished_at) FROM deliveries "
                             "WHERE state = 'succeeded'").fetchone()
    attempts, non2xx = ro.execute("SELECT COUNT(*), SUM(CASE WHEN status BETWEEN 200 AND 299 "
                                  "THEN 0 ELSE 1 END) FROM attempts").fetchone()
    ro.close()
    res.update(states=states, attempts=attempts, failed_attempts=non2xx or 0,
               succeeded=states.get("succeeded", 0))
    if first is not None:
        res["first_attempt_s"] = (first - spawn_ms) / 1000
    if res["finished"] and last is not None:
        res["elapsed_s"] = (last - spawn_ms) / 1000
        res["rate"] = res["succeeded"] / res["elapsed_s"]
    else:
        el = samples[-1][0]
        res["elapsed_s"] = el
        res["rate"] = samples[-1][1] / el
    res["steady_rate"] = steady_rate(samples, n)
    res["problems"] = log_problems(errfile)
    log(f"B1 {label}: {res['rate']:,.0f} deliveries/s over {res['elapsed_s']:.1f} s, "
        f"{'drained' if res['finished'] else 'UNFINISHED: ' + str(res['succeeded']) + ' succeeded'} "
        f"(steady 10–90 %: {fmt_rate(res['steady_rate'])}/s; server CPU {res.get('cpu_s', 0):.1f} s; "
        f"{len(res['problems'])} warn/error log lines)")
    return res


def steady_rate(samples, n):
    """deliveries/s between the polls that first saw 10 % and 90 % done."""
    a = next((s for s in samples if s[1] >= 0.1 * n), None)
    b = next((s for s in samples if s[1] >= 0.9 * n), None)
    if not a or not b or b[0] <= a[0]:
        return None
    return (b[1] - a[1]) / (b[0] - a[0])


# ---------------------------------------------------------------- B3

def ms_pcts(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None

    def p(q):
        return xs[min(len(xs) - 1, max(0, math.ceil(len(xs) * q) - 1))]
    return {"p50": p(0.5), "p99": p(0.99), "max": xs[-1]}


def dispatcher_split(db, webhook_id):
    """Where a B3 delivery's time went, from the server's own records (Unix ms, so 1 ms
    resolution): the wait from the event's commit to the attempt's start, and the attempt; for
    one subscription's deliveries (B4 has others beside it)."""
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    pick = [r[0] for r in ro.execute("SELECT first_attempt_at - created_at FROM deliveries "
                                     "WHERE test = 0 AND webhook_id = ?", (webhook_id,))]
    dur = [r[0] for r in ro.execute("SELECT a.duration_ms FROM attempts a JOIN deliveries d "
                                    "ON d.id = a.delivery_id WHERE d.webhook_id = ?", (webhook_id,))]
    ro.close()
    return {"pickup_ms": ms_pcts(pick), "attempt_ms": ms_pcts(dur)}


def start_receiver(tmp):
    err = open(os.path.join(tmp, "receiver.err"), "ab")
    p = H.spawn(["node", os.path.join(H.ROOT, "tests", "fakes", "receiver.mjs"),
                 "--max-records", "200000", "--max-body-bytes", str(1024 * 1024 * 1024)],
                stdout=subprocess.PIPE, stderr=err, text=True)
    err.close()
    line = p.stdout.readline()
    if not line:
        raise RuntimeError("the receiver did not start (see receiver.err)")
    return p, json.loads(line)["port"]


def b3_run(tmp, i, rport, seconds, label="b3", extra_urls=(), serve_extra=(), stop_grace=5.0):
    """One B3 run: fresh database and server, one subscription to the receiver's /<label>-<i>, the
    load, then the server stopped (SIGTERM, `stop_grace` s before SIGKILL) and its rows read.
    B4 reuses it with its own `label` (file and path names), `extra_urls` (more subscriptions to the
    same event types, created after the measured one), `serve_extra` (more server flags) and a
    longer `stop_grace` (attempts in flight finish within their timeout)."""
    db = os.path.join(tmp, f"{label}-{i}.db")
    org = H.create_org(db)
    key = org["api_key"]
    port = H.free_port()
    errfile = os.path.join(tmp, f"serve-{label}-{i}.err")
    p = start_server(db, port, errfile, serve_extra)
    path = f"/{label}-{i}"
    webhook_id = create_webhook(port, key, f"http://127.0.0.1:{rport}{path}")
    extra_ids = [create_webhook(port, key, url) for url in extra_urls]
    args = ["node", os.path.join(H.ROOT, "bench", "b3_load.mjs"),
            "--api", f"http://127.0.0.1:{port}", "--key", key,
            "--receiver", f"http://127.0.0.1:{rport}", "--path", path, "--tag", f"r{i}",
            "--rate", str(B3_RATE), "--seconds", str(seconds), "--warmup-s", str(B3_WARMUP_S),
            "--sockets", str(B3_SOCKETS), "--body-bytes", str(BODY_BYTES)]
    busy0, t0, cpu0 = machine_busy_s(), time.perf_counter(), proc_cpu_s(p.pid)
    r = subprocess.run(args, capture_output=True, text=True, timeout=seconds + B3_WARMUP_S + 120)
    busy = (machine_busy_s() - busy0) / ((time.perf_counter() - t0) * os.cpu_count())
    if r.returncode != 0 or not r.stdout.strip():
        raise RuntimeError(f"b3_load.mjs failed (rc {r.returncode}): {r.stderr[-1500:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["server_cpu_s"] = proc_cpu_s(p.pid) - cpu0 if p.poll() is None else None
    res["machine_busy"] = busy
    res["loadavg_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    t_stop = time.perf_counter()
    H.stop(p, grace=stop_grace)
    res["stop_s"], res["exit_code"] = time.perf_counter() - t_stop, p.returncode
    res["problems"] = log_problems(errfile)
    res["split"] = dispatcher_split(db, webhook_id)
    res.update(db=db, webhook_id=webhook_id, extra_webhook_ids=extra_ids)
    # forget this run's records, so the receiver's memory does not grow run after run
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{rport}/__control/reset",
                                                  data=b"{}", method="POST"), timeout=30).read()
    lat = res["latency_ms"]
    log(f"{label.upper()} run {i}: p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, max {lat['max']:.3f} ms; "
        f"matched {res['matched']:,}/{res['created']:,}, missing {res['missing']}; "
        f"achieved {res['achieved_rate']:,.1f} created/s")
    return res


# ---------------------------------------------------------------- the driver

def run(tmp, which, out):
    """Runs the selected subset of b0, b1, b3 and fills `out`."""
    A = H.ARGS
    if "b0" in which or "b1" in which or "b9" in which:
        nport = H.free_port()
        b9_http, b9_location, ids_log = MULTI.sink_config(tmp)
        ngx = H.start_nginx(tmp, nport, b"{}", name="nginx-sink",
                            extra_locations="location = /sink { return 200; }\n    " + b9_location,
                            http_extra=b9_http)
        try:
            b0_b1(tmp, which, out, nport)
            if "b9" in which:
                try:
                    MULTI.run(tmp, out, nport, ids_log)
                except Exception as e:  # report, never hide
                    out.setdefault("notes", []).append(f"B9 did not complete: {e}")
                    log(f"B9 failed: {e}")
        finally:
            H.stop(ngx, signal.SIGQUIT)
    if "b3" in which:
        rp, rport = start_receiver(tmp)
        try:
            out["b3"] = []
            for i in range(1, A.b3_runs + 1):
                if H.time_left() < A.b3_seconds + 20 and i > 1:
                    out.setdefault("notes", []).append(
                        f"B3 stopped after {i - 1} runs: the time budget ran out")
                    break
                out["b3"].append(b3_run(tmp, i, rport, A.b3_seconds))
        finally:
            H.stop(rp)


def b0_b1(tmp, which, out, nport):
    """B0 and B1, interleaved, against the nginx sink on nport."""
    A = H.ARGS
    sink = f"http://127.0.0.1:{nport}/sink"
    out["sink"] = sink
    template = None
    if "b1" in which:
        log(f"B1: building the backlog ({H.ARGS.b1_deliveries:,} scheduled deliveries) …")
        template, facts = b1_backlog(tmp, sink, H.ARGS.b1_deliveries)
        out["b1_facts"] = facts
        body = facts["sample_body"]
        log(f"B1: backlog inserted in {facts['insert_s']:.1f} s (database {facts['db_mib']:.0f} MiB)")
    else:
        now = int(time.time() * 1000)
        body = envelope(id_maker("evt_", now)(), "org_X", "key_X", id_maker("lrn_", now)(), 0, now)
    script = wrk_post_script(tmp, body)
    out["b0_body_bytes"] = len(body.encode())
    out["b0"], out["b1"] = [], {}
    log("B0: warm-up (2 s, not counted) …")
    H.run_wrk(sink, 2, script)
    full_caps = [int(x) for x in A.b1_full_caps.split(",") if x] if "b1" in which else []
    for rep in range(A.b1_runs):
        if H.time_left() < 60 and rep >= 1:
            out.setdefault("notes", []).append(
                f"B0/B1 stopped after {rep} repetitions: the time budget ran out")
            break
        out["b0"].append(b0_run(sink, script, A.b0_duration))
        if "b1" in which:
            for cap in B1_CAPS:
                label = f"cap{cap}"
                out["b1"].setdefault(label, []).append(
                    b1_run(tmp, template, label, ["--in-flight-per-subscription", str(cap)],
                           H.ARGS.b1_deliveries))
    for cap in full_caps:
        if H.time_left() < 60:
            out.setdefault("notes", []).append(
                f"B1 with synchronous full at cap {cap} skipped: the time budget ran out")
            continue
        label = f"cap{cap}-full"
        out["b1"].setdefault(label, []).append(
            b1_run(tmp, template, label, ["--in-flight-per-subscription", str(cap),
                                          "--sqlite-synchronous", "full"], H.ARGS.b1_deliveries))
    if not out["b1"]:
        del out["b1"]


# ---------------------------------------------------------------- report

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_rate(x):
    return "—" if x is None else f"{x:,.0f}"


def pct(x):
    return "—" if x is None else f"{x * 100:.1f} %"


def first_lines(title, pairs, n=5):
    """Markdown for lines worth a look (server warnings, worker output): `title` with their count,
    then the first `n` (label, line) pairs as bullets, each line cut to 300 characters."""
    return ([f"{title} ({len(pairs)}; first {n}):", ""]
            + [f"- {label}: `{line[:300]}`" for label, line in pairs[:n]])


def latency_table(runs, last_name, last_cell):
    """The header and one row per run of a B3-shaped latency table (B3, B4), whose last column is
    `last_name`, filled by last_cell(run)."""
    L = ["| run | created (measured) | achieved rate | API p50 / p99 | matched | missing | "
         f"duplicates | latency min | p50 | p90 | p99 | p99.9 | max | {last_name} |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i, r in enumerate(runs, 1):
        lat = r["latency_ms"]
        L.append(f"| {i} | {r['created']:,} | {r['achieved_rate']:,.1f}/s | "
                 f"{r['api_ms']['p50']:.3f} / {r['api_ms']['p99']:.3f} ms | {r['matched']:,} | "
                 f"{r['missing']:,} | {r['duplicates']:,} | {lat['min']:.3f} | {lat['p50']:.3f} | "
                 f"{lat['p90']:.3f} | {lat['p99']:.3f} | {lat['p999']:.3f} | {lat['max']:.3f} | "
                 f"{last_cell(r)} |")
    return L


def report(out, m):
    """Markdown for the B0/B1/B3 parts of a RESULTS.md section."""
    A = H.ARGS
    L = []
    b0 = out.get("b0") or []
    b1 = out.get("b1") or {}
    if b0 or b1:
        L.append("### B0 ceiling and B1 drain throughput")
        L.append("")
        L.append(f"Sink: nginx (`worker_processes auto` = {m['nproc']} workers, `access_log off`) "
                 f"`location = /sink {{ return 200; }}` on 127.0.0.1. "
                 f"B0: `wrk -t{H.THREADS} -c{H.CONNECTIONS} -d{A.b0_duration}s --latency` POSTing one "
                 f"{out['b0_body_bytes']:,}-byte learner.created envelope (`Content-Type: application/json`, "
                 f"Lua script), after a 2 s unmeasured warm-up.")
        if b1:
            f = out["b1_facts"]
            L.append("")
            L.append(f"B1: one organization and one subscription (`event_types: [learner.created]`, "
                     f"default retry policy and HMAC signing) created through the CLI and the API; the "
                     f"server stopped (SIGTERM); then {H.ARGS.b1_deliveries:,} `learner.created` events "
                     f"({f['body_bytes']:,}-byte envelopes shaped like WEBHOOKS.md §2, distinct ids) and "
                     f"{H.ARGS.b1_deliveries:,} `scheduled` deliveries (`next_attempt_at` = now, attempt 0) "
                     f"inserted with SQL in one transaction ({f['insert_s']:.1f} s; database "
                     f"{f['db_mib']:.0f} MiB), checkpointed, and copied afresh for every run. Each run "
                     f"spawns `learnwire serve` (`--allowed-private-networks 127.0.0.0/8`, production "
                     f"durability unless the row says `full`) and polls the file read-only every "
                     f"{int(B1_POLL_S * 1000)} ms until no delivery is `scheduled`. Time = spawn → the "
                     f"last `finished_at` (both this machine's Unix ms), so it includes start-up. "
                     f"Runs interleaved: B0, B1 cap 8, B1 cap 64, repeated; `full` runs after.")
        L.append("")
        L.append("| repetition | B0 req/s | B0 p50 / p99 | B1 cap 8 deliveries/s | % of B0 | "
                 "B1 cap 64 deliveries/s | % of B0 |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        ratios = {c: [] for c in B1_CAPS}
        for i, r0 in enumerate(b0):
            cells = [str(i + 1), f"{r0['rps']:,.0f}", f"{r0['p50_ms']:.2f} / {r0['p99_ms']:.2f} ms"]
            for c in B1_CAPS:
                runs = b1.get(f"cap{c}", [])
                if i < len(runs):
                    x = runs[i]
                    ratio = x["rate"] / r0["rps"]
                    ratios[c].append(ratio)
                    cells += [fmt_rate(x["rate"]) + ("" if x["finished"] else " ¹"), pct(ratio)]
                else:
                    cells += ["—", "—"]
            L.append("| " + " | ".join(cells) + " |")
        med0 = med([r["rps"] for r in b0])
        cells = ["**median**", f"**{fmt_rate(med0)}**",
                 f"{med([r['p50_ms'] for r in b0]):.2f} / {med([r['p99_ms'] for r in b0]):.2f} ms"]
        for c in B1_CAPS:
            mr = med([x["rate"] for x in b1.get(f"cap{c}", [])])
            cells += [f"**{fmt_rate(mr)}**", f"**{pct(med(ratios[c]))}**"]
        L.append("| " + " | ".join(cells) + " |")
        L.append("")
        if any(not x["finished"] for runs in b1.values() for x in runs):
            L.append(f"¹ Unfinished: the run was stopped after {A.b1_limit_s} s (`--b1-limit-s`) with part "
                     f"of the backlog still scheduled; the figure is the deliveries recorded `succeeded` "
                     f"divided by the time from spawn to the stop, not a full drain.")
            L.append("")
        if b1:
            verdict = []
            for c in B1_CAPS:
                runs = b1.get(f"cap{c}", [])
                if not runs:
                    continue
                mr = med([x["rate"] for x in runs])
                mp = med(ratios[c])
                verdict.append(f"cap {c}: median of pairwise ratios {pct(mp)}, ratio of medians "
                               f"{pct(mr / med0 if mr and med0 else None)}; target ≥ 50 % "
                               f"{'met' if mp is not None and mp >= 0.5 else 'not met'}")
            L.append("B1 / B0 — " + "; ".join(verdict) + ".")
            full_rows = [(k, v) for k, v in b1.items() if k.endswith("-full")]
            if full_rows:
                L.append("")
                parts = []
                for k, runs in full_rows:
                    cap = k[3:].split("-")[0]
                    normal = med([x["rate"] for x in b1.get(f"cap{cap}", [])])
                    for x in runs:
                        parts.append(f"cap {cap}, `--sqlite-synchronous full`: {fmt_rate(x['rate'])} "
                                     f"deliveries/s ({pct(x['rate'] / med0 if med0 else None)} of the "
                                     f"median B0; {pct(x['rate'] / normal if normal else None)} of the "
                                     f"median `normal` run at the same cap)")
                L.append("Beside it, once each: " + "; ".join(parts) + ".")
            L.append("")
            L.append("Every B1 run (time from spawn; `steady` = rate between the polls that saw 10 % "
                     "and 90 % done; CPU = the server's user+system seconds over the run; the busiest "
                     "threads' CPU; machine busy = CPU time of every process on the machine (the sink, "
                     "this harness and other sessions' work included) / (cores × run time); peak RSS):")
            L.append("")
            L.append("| run | flags | deliveries/s | time | first attempt | steady 10–90 % | server CPU | "
                     "busiest threads (CPU s) | machine busy | peak RSS | attempts | end states | "
                     "warn/error log lines |")
            L.append("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|")
            nan = float("nan")
            for k, runs in b1.items():
                for j, x in enumerate(runs, 1):
                    th = ", ".join(f"{n.split('/')[0]} {s:.1f}" for n, s in x.get("threads", [])[:3])
                    st = ", ".join(f"{s} {c:,}" for s, c in sorted(x["states"].items()))
                    L.append(f"| {k} #{j} | `{x['flags']}` | {fmt_rate(x['rate'])}"
                             f"{'' if x['finished'] else ' ¹'} | {x['elapsed_s']:.1f} s | "
                             f"{x.get('first_attempt_s', nan):.2f} s | {fmt_rate(x['steady_rate'])} | "
                             f"{x.get('cpu_s', nan):.1f} s | {th} | {pct(x.get('machine_busy'))} | "
                             f"{x.get('hwm_mb', nan):.1f} MB | "
                             f"{x['attempts']:,} | {st} | {len(x['problems'])} |")
            probs = [(k, j, p) for k, runs in b1.items() for j, x in enumerate(runs, 1)
                     for p in x["problems"]]
            if probs:
                L.append("")
                L.append(f"Server log lines at warn/error during B1 ({len(probs)}; first 5):")
                L.append("")
                for k, j, p in probs[:5]:
                    L.append(f"- {k} #{j}: `{p[:300]}`")
        L.append("")
    b3 = out.get("b3") or []
    if b3:
        L.append("### B3 latency")
        L.append("")
        L.append(f"Per run: a fresh database and server (production defaults, in-flight cap 8), one "
                 f"subscription to the Node receiver (`tests/fakes/receiver.mjs`, answers 200 at once). "
                 f"`bench/b3_load.mjs` POSTs `/api/v1/learners` ({B3_SOCKETS} keep-alive sockets; "
                 f"delivered envelopes of {med([r.get('body_bytes') for r in b3]) or 0:,.0f} bytes, median) at {B3_RATE:,}/s scheduled by absolute time for "
                 f"{B3_WARMUP_S} s of unmeasured warm-up, then {A.b3_seconds} s measured. Latency = the "
                 f"receiver's `received_us` (body complete) − the load generator's time of the 201's "
                 f"arrival, both CLOCK_MONOTONIC µs on this machine, matched on the delivery body's "
                 f"`data.id`. A negative latency means the delivery arrived before the API response.")
        L.append("")
        L += latency_table(b3, "negative", lambda r: f"{r['negative']:,}")
        mp50 = med([r["latency_ms"]["p50"] for r in b3])
        mp99 = med([r["latency_ms"]["p99"] for r in b3])
        mmax = med([r["latency_ms"]["max"] for r in b3])
        L.append(f"| **median** | | {med([r['achieved_rate'] for r in b3]):,.1f}/s | | | | | | "
                 f"**{mp50:.3f}** | {med([r['latency_ms']['p90'] for r in b3]):.3f} | **{mp99:.3f}** | "
                 f"{med([r['latency_ms']['p999'] for r in b3]):.3f} | **{mmax:.3f}** | |")
        L.append("")
        L.append("Where the time went, from the server's own rows (Unix ms, so whole milliseconds; "
                 "warm-up included): `pick-up` = an attempt's start − its event's commit "
                 "(`first_attempt_at − created_at`), `attempt` = the attempt's duration as libcurl saw it. "
                 "Machine busy = CPU time of every process on the machine (load generator, receiver "
                 "and other sessions' work included) / (cores × the load's duration).")
        L.append("")
        L.append("| run | pick-up p50 / p99 / max | attempt p50 / p99 / max | server CPU over the run | "
                 "machine busy | load average after |")
        L.append("|---|---:|---:|---:|---:|---|")
        for i, r in enumerate(b3, 1):
            sp = r.get("split") or {}
            pu, at = sp.get("pickup_ms"), sp.get("attempt_ms")
            f3 = (lambda d: "—" if not d else f"{d['p50']} / {d['p99']} / {d['max']} ms")
            cpu = r.get("server_cpu_s")
            L.append(f"| {i} | {f3(pu)} | {f3(at)} | {'—' if cpu is None else f'{cpu:.1f} s'} | "
                     f"{pct(r.get('machine_busy'))} | {r.get('loadavg_end', '—')} |")
        L.append("")
        L.append(f"Latencies in ms. Targets: p50 < 2 ms {'met' if mp50 < 2 else 'not met'} "
                 f"({mp50:.3f} ms); p99 < 20 ms {'met' if mp99 < 20 else 'not met'} ({mp99:.3f} ms). "
                 f"Median of {len(b3)} run(s) of {A.b3_seconds} s.")
        errs = [(i, r) for i, r in enumerate(b3, 1) if r["errors"] or r["problems"]]
        for i, r in errs:
            L.append(f"- run {i}: {r['errors']} API errors {r.get('statuses', {})}; "
                     f"{len(r['problems'])} warn/error server log lines"
                     + (f", first: `{r['problems'][0][:300]}`" if r["problems"] else ""))
        L.append("")
    b9 = MULTI.report(out, med([r["rps"] for r in b0]))
    if b9:
        L.append(b9)
    for note in out.get("notes", []):
        L.append(f"- {note}")
    return "\n".join(L)
