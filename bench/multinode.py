"""Learnwire benchmark B9 of BENCHMARKS.md, driven by bench/run: worker processes on one PostgreSQL
draining B1's backlog.

A throwaway PostgreSQL cluster (scripts/pg) holds a template database with one organization, one
subscription pointing at the nginx sink and N scheduled deliveries of N distinct 1 KiB events
(loaded with COPY). Each run copies the template (CREATE DATABASE … TEMPLATE), spawns 1 or 2
`learnwire serve --role worker` processes on it, and polls until no delivery is scheduled. The sink
logs the `webhook-id` of every request it answers, so the run can say whether any delivery was
sent twice (none may be: no worker dies here, so no lease expires) and whether any was lost (every
delivery must end `succeeded` and reach the sink). Measures and writes numbers; never asserts.
"""
import collections
import csv
import io
import os
import subprocess
import time

H = None   # the bench/run module
D = None   # bench/delivery.py (ids, envelopes, helpers)

B9_WORKERS = (1, 2)
B9_CAP = 64          # in_flight_per_subscription per worker, as B1's second column
B9_POLL_S = 0.25
SINK_PATH = "/b9"    # the sink location that logs webhook-id (B0/B1's /sink logs nothing)


def setup(harness, delivery):
    global H, D
    H, D = harness, delivery


def log(*a):
    H.log(*a)


def sink_config(tmp):
    """nginx http-level and server-level lines for the logging sink; returns (http, location, log path)."""
    path = os.path.join(tmp, "b9-sink-ids.log")
    return ("log_format b9ids '$http_webhook_id';",
            f"location = {SINK_PATH} {{ access_log {path} b9ids; return 200; }}", path)


def psql(url, sql, stdin=None):
    r = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       input=stdin, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {r.stderr.strip()[:500]}")
    return r.stdout.strip()


def with_db(url, name):
    return url[:url.rfind("/") + 1] + name


def copy_rows(url, table, columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerows(rows)
    psql(url, f"\\copy {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", stdin=buf.getvalue())


def backlog(tmp, admin_url, sink_url, n):
    """The template database: org, subscription (through the CLI and the API), n deliveries."""
    name = "b9_template"
    psql(admin_url, f"DROP DATABASE IF EXISTS {name}")
    psql(admin_url, f"CREATE DATABASE {name}")
    url = with_db(admin_url, name)
    r = subprocess.run([H.BIN, "org", "create", "--name", "Bench", "--admin-email", "bench@example.com",
                        "--json", "--db", url], capture_output=True, text=True, timeout=60, check=True)
    org = __import__("json").loads(r.stdout.strip().splitlines()[-1])
    port = H.free_port()
    err = open(os.path.join(tmp, "serve-b9-setup.err"), "ab")
    p = H.spawn([H.BIN, "serve", "--db", url, "--listen", f"127.0.0.1:{port}", "--log-format", "json",
                 "--allowed-private-networks", "127.0.0.0/8", "--rate-limit-per-key", "0"],
                stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    H.wait_ready(port, p)
    webhook_id = D.create_webhook(port, org["api_key"], sink_url)
    H.stop(p)

    t = time.perf_counter()
    now = int(time.time() * 1000)
    new_evt, new_dlv, new_lrn = D.id_maker("evt_", now), D.id_maker("dlv_", now), D.id_maker("lrn_", now)
    org_id, key_id = org["organization_id"], D.key_id_of(org["api_key"])
    events, deliveries = [], []
    for i in range(n):
        eid, lid = new_evt(), new_lrn()
        events.append((eid, org_id, "learner.created", now, lid, D.envelope(eid, org_id, key_id, lid, i, now),
                       '{"learner_ids":["' + lid + '"]}'))
        deliveries.append((new_dlv(), org_id, webhook_id, eid, "learner.created", "scheduled", 0, 0,
                           now, now, now))
    copy_rows(url, "events", ["id", "organization_id", "type", "created_at", "learner_id", "payload",
                              "relations"], events)
    copy_rows(url, "deliveries", ["id", "organization_id", "webhook_id", "event_id", "event_type",
                                  "state", "test", "attempt_count", "next_attempt_at", "created_at",
                                  "updated_at"], deliveries)
    psql(url, "VACUUM ANALYZE")
    mib = int(psql(admin_url, f"SELECT pg_database_size('{name}')")) / 2**20
    return name, {"insert_s": time.perf_counter() - t, "db_mib": mib}


def count_ids(path, offset):
    """webhook-ids the sink logged after byte `offset`: (requests, distinct, sent twice or more)."""
    with open(path, "rb") as f:
        f.seek(offset)
        ids = collections.Counter(line.strip() for line in f if line.strip())
    return sum(ids.values()), len(ids), sum(1 for c in ids.values() if c > 1)


def run_once(tmp, admin_url, template, workers, n, ids_log):
    name = "b9_run"
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {name} TEMPLATE {template}")
    url = with_db(admin_url, name)
    offset = os.path.getsize(ids_log) if os.path.exists(ids_log) else 0
    procs, ports = [], []
    errfile = os.path.join(tmp, f"serve-b9-{workers}w.err")
    spawn_ms = time.time() * 1000
    t0 = time.perf_counter()
    busy0 = D.machine_busy_s()
    for _ in range(workers):
        port = H.free_port()
        err = open(errfile, "ab")
        procs.append(H.spawn([H.BIN, "serve", "--role", "worker", "--db", url, "--listen", f"127.0.0.1:{port}",
                              "--log-format", "json", "--allowed-private-networks", "127.0.0.0/8",
                              "--in-flight-per-subscription", str(B9_CAP)],
                             stdout=subprocess.DEVNULL, stderr=err))
        err.close()
        ports.append(port)
    for port, p in zip(ports, procs):
        H.wait_ready(port, p)
    finished = False
    while True:
        remaining = int(psql(url, "SELECT COUNT(*) FROM deliveries WHERE state = 'scheduled'"))
        el = time.perf_counter() - t0
        if remaining == 0:
            finished = True
            break
        if any(p.poll() is not None for p in procs) or el > H.ARGS.b1_limit_s:
            break
        time.sleep(B9_POLL_S)
    machine_busy = (D.machine_busy_s() - busy0) / ((time.perf_counter() - t0) * os.cpu_count())
    cpu = [D.proc_cpu_s(p.pid) for p in procs if p.poll() is None]
    per_worker = []
    for port in ports:
        try:
            text = __import__("urllib.request").request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                                                timeout=10).read().decode()
            per_worker.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                  if line.startswith("learnwire_webhook_attempts_total{")))
        except OSError:
            per_worker.append(float("nan"))
    for p in procs:
        H.stop(p)
    states = dict(tuple(line.split("|")) for line in
                  psql(url, "SELECT state, COUNT(*) FROM deliveries GROUP BY state").splitlines())
    states = {k: int(v) for k, v in states.items()}
    last, attempts = psql(url, "SELECT MAX(finished_at), (SELECT COUNT(*) FROM attempts) FROM deliveries "
                               "WHERE state = 'succeeded'").split("|")
    time.sleep(0.2)  # nginx writes each log line as it answers; let the last ones land
    requests, distinct, twice = count_ids(ids_log, offset)
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    succeeded = states.get("succeeded", 0)
    elapsed = (int(last) - spawn_ms) / 1000 if finished and last else time.perf_counter() - t0
    res = {"workers": workers, "finished": finished, "elapsed_s": elapsed, "rate": succeeded / elapsed,
           "states": states, "attempts": int(attempts), "requests": requests, "distinct": distinct,
           "twice": twice, "lost": n - succeeded, "cpu_s": cpu, "per_worker": per_worker,
           "machine_busy": machine_busy}
    log(f"B9 {workers} worker(s): {res['rate']:,.0f} deliveries/s over {elapsed:.1f} s; "
        f"{requests:,} requests for {distinct:,} deliveries, {twice} sent twice, {res['lost']} not succeeded")
    return res


def run(tmp, out, sink_port, ids_log):
    A = H.ARGS
    pgdir = os.path.join(tmp, "b9-pg")
    r = subprocess.run([os.path.join(H.ROOT, "scripts", "pg"), "start", pgdir], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"scripts/pg start: {r.stderr.strip()[:500]}")
    admin_url = r.stdout.strip()
    try:
        out["b9_pg"] = psql(admin_url, "SHOW server_version")
        log(f"B9: building the backlog ({A.b9_deliveries:,} scheduled deliveries) in PostgreSQL …")
        template, facts = backlog(tmp, admin_url, f"http://127.0.0.1:{sink_port}{SINK_PATH}", A.b9_deliveries)
        out["b9_facts"] = facts
        log(f"B9: backlog loaded in {facts['insert_s']:.1f} s (database {facts['db_mib']:.0f} MiB)")
        out["b9"] = []
        for rep in range(A.b9_runs):
            for workers in B9_WORKERS:
                if H.time_left() < 60 and out["b9"]:
                    out.setdefault("notes", []).append("B9 stopped early: the time budget ran out")
                    return
                out["b9"].append(run_once(tmp, admin_url, template, workers, A.b9_deliveries, ids_log))
    finally:
        subprocess.run([os.path.join(H.ROOT, "scripts", "pg"), "stop", pgdir], capture_output=True, timeout=120)


def report(out, b0_median):
    A = H.ARGS
    runs = out.get("b9") or []
    if not runs:
        return ""
    f = out["b9_facts"]
    L = ["### B9 several workers on one PostgreSQL", ""]
    L.append(f"A throwaway PostgreSQL {out.get('b9_pg', '?')} cluster (`scripts/pg`: fsync and "
             f"synchronous_commit off) on the same machine. Template database: one organization and "
             f"subscription made through the CLI and the API, then {A.b9_deliveries:,} `learner.created` "
             f"events (B1's 1 KiB envelopes) and as many `scheduled` deliveries loaded with COPY "
             f"({f['insert_s']:.1f} s; {f['db_mib']:.0f} MiB). Each run copies it, spawns the workers "
             f"(`serve --role worker --in-flight-per-subscription {B9_CAP}`, so the subscription's cap "
             f"is {B9_CAP} per worker) and polls until nothing is `scheduled`; time = spawn → the last "
             f"`finished_at`. The sink is B0/B1's nginx on a location that logs each request's "
             f"`webhook-id`: *sent twice* counts ids logged more than once (no worker dies here, so no "
             f"lease expires and none may be); *lost* counts deliveries not `succeeded`.")
    L.append("")
    L.append("| run | workers | deliveries/s | % of B0 median | time | requests / distinct ids | sent twice | "
             "lost | attempts recorded per worker | workers' CPU | machine busy |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    for i, x in enumerate(runs, 1):
        L.append(f"| {i} | {x['workers']} | {D.fmt_rate(x['rate'])}{'' if x['finished'] else ' ¹'} | "
                 f"{D.pct(x['rate'] / b0_median if b0_median else None)} | {x['elapsed_s']:.1f} s | "
                 f"{x['requests']:,} / {x['distinct']:,} | {x['twice']} | {x['lost']} | "
                 f"{', '.join(f'{v:,.0f}' for v in x['per_worker'])} | "
                 f"{', '.join(f'{v:.1f} s' for v in x['cpu_s'])} | {D.pct(x['machine_busy'])} |")
    L.append("")
    by = {w: D.med([x["rate"] for x in runs if x["workers"] == w]) for w in B9_WORKERS}
    if by.get(1) and by.get(2):
        L.append(f"Median: 1 worker {D.fmt_rate(by[1])}/s, 2 workers {D.fmt_rate(by[2])}/s "
                 f"(× {by[2] / by[1]:.2f}). Correctness: "
                 f"{sum(x['twice'] for x in runs)} deliveries sent twice and "
                 f"{sum(x['lost'] for x in runs)} lost over {len(runs)} runs.")
        L.append("")
    if any(not x["finished"] for x in runs):
        L.append(f"¹ stopped after {A.b1_limit_s} s with part of the backlog still scheduled.")
        L.append("")
    return "\n".join(L)
