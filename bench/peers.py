"""Learnwire benchmark B8 of BENCHMARKS.md ("the peer"), driven by bench/run.

"A BullMQ (Node + Redis) worker and a Celery (Python + Redis) worker POSTing the same 1 KB jobs to the
same sink: jobs/s. Target: B1 ≥ 5× the better peer." Read here as:

- the sink is B0/B1's: nginx `location = /sink { return 200; }` (a private nginx started like
  delivery.run's; a second location, `stub_status`, counts the requests it answered);
- every job carries one of B1's 1,024-byte learner.created envelopes (delivery.envelope, distinct ids)
  and the worker POSTs it with `Content-Type: application/json`; a non-2xx answer fails the job;
- each peer's broker is a private redis-server on a free port, in memory (`--save '' --appendonly no`);
- its N jobs are enqueued BEFORE the timed part with the library's own bulk path (BullMQ
  Queue.addBulk; Celery apply_async through one producer, a Redis pipeline per chunk), once per peer,
  and saved as an RDB file: each run starts redis-server from a copy of it (like B1's template
  database) and is timed from the worker's spawn until the N-th job has ended (the workers record
  the Unix ms of their first and N-th job end in Redis; the harness polls those keys);
- configurations (the best reasonable one on 2 cores): BullMQ, one Worker with concurrency 64 (B1's
  cap 64) over a keep-alive http.Agent; Celery, the prefork pool with 2 processes (= cores), unless a
  threads pool of 64 is clearly faster in a short calibration run of each (gevent was much slower in
  trials: 64 greenlets over kombu's Redis transport reached a third of prefork's rate);
- N: B1's 200,000 for BullMQ; 60,000 for Celery, which runs about 1,000 jobs/s here, so that a run
  takes about a minute rather than more than three (the report gives the time 200,000 would take).

Runs: RUNS of each peer, interleaved. Reported: jobs/s, time, worker and Redis CPU, machine busy,
requests the sink answered, failed and leftover jobs; the medians; B1's medians (cap 8 and 64) of the
same bench/run and B1 / the better peer. Every process goes through the harness's spawn(), so it is
stopped on exit, error, Ctrl-C or SIGTERM. Measures and writes numbers; never asserts.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

H = None   # the bench/run module
D = None   # bench/delivery.py (envelopes, /proc helpers, formatting)
# bench/run sets H, D and log() when it loads this plug-in.

PEERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")
PY = "/usr/bin/python3"      # Debian's Python: apt installs python3-celery for it, not for pyenv's
B1_JOBS = 200_000            # B1's backlog
JOBS = {"bullmq": B1_JOBS,   # jobs per run, by kind of peer; Celery's 60,000 take about a minute here
        "celery": 60_000}    # (at ~1,000 jobs/s; B1's 200,000 would take over 3 minutes per run)
TRIAL_JOBS = 10_000
RUNS = 3
CAL_JOBS = 5_000             # calibration run of each Celery pool (trial: TRIAL_CAL_JOBS)
TRIAL_CAL_JOBS = 2_000
BULLMQ_CONCURRENCY = 64      # = B1's cap 64 and wrk's connections
CELERY_POOLS = (("prefork", 2), ("threads", 64))  # the first is the default, the others challengers
CLEARLY_FASTER = 1.10        # a challenger pool replaces prefork only if its calibration is ≥ 10 % faster
POLL_S = 0.1
TARGET = 5.0                 # B1 ≥ 5× the better peer
SINK_LOCATIONS = "location = /sink { return 200; }\n    location = /b8-status { stub_status; }"


# ---------------------------------------------------------------- installation and versions

def ensure_installed():
    """Runs bench/peers/setup (apt-get, npm ci) when a piece is missing."""
    ok = (shutil.which("redis-server") and os.path.exists(PY)
          and os.path.exists(os.path.join(PEERS_DIR, "node_modules", "bullmq", "package.json"))
          and os.path.exists(os.path.join(PEERS_DIR, "node_modules", "ioredis", "package.json"))
          and subprocess.run([PY, "-c", "import celery, redis"], capture_output=True).returncode == 0)
    if not ok:
        log("B8: installing the peers (bench/peers/setup) …")
        subprocess.run([os.path.join(PEERS_DIR, "setup")], check=True, timeout=900)


def versions():
    def npm_version(pkg):
        with open(os.path.join(PEERS_DIR, "node_modules", pkg, "package.json")) as f:
            return json.load(f)["version"]
    redis_v = H.sh(["redis-server", "--version"]).split("v=")[-1].split()[0]
    py = H.sh([PY, "-c", "import sys, celery, kombu, redis; print(sys.version.split()[0], "
                         "celery.__version__, kombu.__version__, redis.__version__)"]).split()
    return {"redis": redis_v, "bullmq": npm_version("bullmq"), "ioredis": npm_version("ioredis"),
            "node": H.sh(["node", "--version"]), "python": py[0], "celery": py[1], "kombu": py[2],
            "redis_py": py[3]}


# ---------------------------------------------------------------- Redis (a RESP client in 20 lines)

def redis_cmd(port, *args, timeout=10):
    """One command on a fresh connection; returns str / int / None / list; an error reply raises."""
    parts = [str(a).encode() for a in args]
    req = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req)
        with s.makefile("rb") as f:
            return _reply(f)


def _reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_reply(f) for _ in range(n)]
    raise RuntimeError(f"unexpected redis reply {line!r}")


def start_redis(tmp, name, rdb=None):
    """A private in-memory redis-server (no RDB snapshots, no AOF) on a free port, loaded from a
    copy of `rdb` when given. Returns (process, port, its RDB path for SAVE)."""
    d = os.path.join(tmp, f"b8-redis-{name}")
    os.makedirs(d, exist_ok=True)
    dump = os.path.join(d, "dump.rdb")
    if os.path.exists(dump):
        os.remove(dump)
    if rdb:
        shutil.copyfile(rdb, dump)
    port = H.free_port()
    out = open(os.path.join(d, "redis.log"), "ab")
    p = H.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", d, "--dbfilename", "dump.rdb"],
                stdout=out, stderr=subprocess.STDOUT)
    out.close()
    start = time.perf_counter()
    while True:  # PING answers -LOADING while the RDB loads, and nothing before the port is open
        try:
            if redis_cmd(port, "PING", timeout=2) == "PONG":
                return p, port, dump
        except (OSError, RuntimeError):
            pass
        if p.poll() is not None or time.perf_counter() - start > 120:
            raise RuntimeError(f"redis-server did not start (see {d}/redis.log)")
        time.sleep(0.05)


# ---------------------------------------------------------------- the peers

# A configuration: (id, label, kind, pool, concurrency).
BULLMQ = ("bullmq", f"BullMQ Worker, concurrency {BULLMQ_CONCURRENCY}", "bullmq", None, BULLMQ_CONCURRENCY)


def celery_peer(pool, conc):
    return (f"celery-{pool}", f"Celery {pool} pool, {conc} {'processes' if pool == 'prefork' else pool}",
            "celery", pool, conc)


def celery_env(rport, sink="", jobs=0):
    return dict(os.environ, B8_REDIS_PORT=str(rport), B8_SINK=sink, B8_JOBS=str(jobs),
                PYTHONPATH=PEERS_DIR)


def enqueue(peer, rport, envelopes, n):
    """The peer's bulk enqueue of the first n envelopes: {"enqueued", "seconds"}."""
    _, _, kind, _, _ = peer
    if kind == "bullmq":
        args, env = ["node", "bullmq_worker.mjs", "enqueue", "--redis-port", str(rport), "--file",
                     envelopes, "--jobs", str(n)], None
    else:
        args, env = [PY, "celery_worker.py", "enqueue", envelopes, str(n)], celery_env(rport)
    r = subprocess.run(args, cwd=PEERS_DIR, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not r.stdout.strip():
        raise RuntimeError(f"{kind} enqueue failed (rc {r.returncode}): {r.stderr[-1500:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["enqueued"] != n:
        raise RuntimeError(f"{kind} enqueue: {res['enqueued']} jobs of {n}")
    return res


def worker_args(peer, rport, sink, n):
    _, _, kind, pool, conc = peer
    if kind == "bullmq":
        return ["node", "bullmq_worker.mjs", "work", "--redis-port", str(rport), "--sink", sink,
                "--jobs", str(n), "--concurrency", str(conc)], None
    # no gossip/mingle/heartbeat: a single worker needs no cluster chatter (and mingle waits ~1 s)
    return [PY, "-m", "celery", "-A", "celery_worker", "worker", "-P", pool, "-c", str(conc),
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"], \
        celery_env(rport, sink, n)


def sink_requests(nport):
    """Requests nginx has received so far (stub_status), this one included."""
    c = http.client.HTTPConnection("127.0.0.1", nport, timeout=10)
    c.request("GET", "/b8-status")
    text = c.getresponse().read().decode()
    c.close()
    return int(text.splitlines()[2].split()[2])


def process_tree(pid):
    """pid and its descendants (Celery's prefork pool forks its processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def tree_cpu_hwm(pid):
    """(CPU seconds, summed peak RSS in KiB) of a process tree still running."""
    cpu, hwm = 0.0, 0
    for p in process_tree(pid):
        try:
            cpu += D.proc_cpu_s(p)
            hwm += D.vm_hwm_kib(p)
        except OSError:
            pass
    return cpu, hwm


def run_once(tmp, peer, label, n, sink, nport, rdb=None, envelopes=None):
    """One timed drain of n jobs: Redis from the template `rdb` (or, for a calibration, empty and
    filled from `envelopes` first), the worker spawned and timed until the n-th job has ended."""
    pid_, _, kind, _, _ = peer
    rp, rport, _ = start_redis(tmp, "run", rdb)
    try:
        if rdb is None:
            enqueue(peer, rport, envelopes, n)
        args, env = worker_args(peer, rport, sink, n)
        outfile, errfile = (os.path.join(tmp, f"b8-{label}.{x}") for x in ("out", "err"))
        sink0, redis_cpu0 = sink_requests(nport), D.proc_cpu_s(rp.pid)
        out, err = open(outfile, "wb"), open(errfile, "wb")
        spawn_ms = time.time() * 1000
        t0, busy0 = time.perf_counter(), D.machine_busy_s()
        wp = H.spawn(args, cwd=PEERS_DIR, env=env, stdout=out, stderr=err)
        out.close()
        err.close()
        first = last = None
        while True:
            first, last, finished, failed = redis_cmd(rport, "MGET", "b8:first_ms", "b8:last_ms",
                                                      "b8:finished", "b8:failed")
            el = time.perf_counter() - t0
            if last is not None or el > H.ARGS.b1_limit_s or \
                    (wp.poll() is not None and wp.returncode != 0):
                break
            time.sleep(POLL_S)
        res = {"peer": pid_, "label": label, "jobs": n, "finished": last is not None,
               "machine_busy": (D.machine_busy_s() - busy0) / (el * os.cpu_count()),
               "redis_cpu_s": D.proc_cpu_s(rp.pid) - redis_cpu0}
        tree = []
        if wp.poll() is None:
            res["worker_cpu_s"], res["worker_hwm_kib"] = tree_cpu_hwm(wp.pid)
            tree = process_tree(wp.pid)
        if kind == "bullmq":
            # it exits by itself once it has written its figures and read the queue's job counts
            try:
                wp.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        H.stop(wp)  # Celery: SIGTERM, a warm shutdown that stops its pool processes
        for p in tree[1:]:  # a pool process left behind (its parent was killed) is ours to end
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        res["sink_requests"] = sink_requests(nport) - sink0 - 1  # not the status request after sink0
        res["failed"] = int(failed or 0)
        res["ended"] = int(finished or 0)
        if kind == "bullmq":
            lines = [x for x in open(outfile, errors="replace").read().splitlines() if x.startswith("{")]
            if lines:
                fig = json.loads(lines[-1])
                c = fig["counts"]
                res["left"] = c["waiting"] + c["active"] + c["delayed"] + c["prioritized"]
                res["failed_kept"] = c["failed"]
                # the worker's own CPU and peak RSS at its end (it exits before the harness can look)
                res["worker_cpu_s"], res["worker_hwm_kib"] = fig["cpu_s"], fig["maxrss_kib"]
        else:
            res["left"] = redis_cmd(rport, "LLEN", "celery") + redis_cmd(rport, "HLEN", "unacked")
    finally:
        H.stop(rp)
    if first is not None:
        res["first_s"] = (int(first) - spawn_ms) / 1000
    if res["finished"]:
        res["elapsed_s"] = (int(last) - spawn_ms) / 1000
        res["rate"] = n / res["elapsed_s"]
        res["steady_rate"] = (n - 1) / ((int(last) - int(first)) / 1000) if int(last) > int(first) else None
    else:  # stopped at the limit: what the sink received over the time it ran
        res["elapsed_s"] = el
        res["rate"] = res["sink_requests"] / el
        res["steady_rate"] = None
    # errors and warnings the worker logged (Celery logs a failed task at ERROR; its warning about
    # running as root, a SecurityWarning, is not one of them)
    res["problems"] = [x.strip() for x in open(errfile, errors="replace").read().splitlines()
                       if any(w in x for w in ("ERROR", "Error:", "error", "Traceback", "WARNING/"))][:20]
    log(f"B8 {label}: {res['rate']:,.0f} jobs/s over {res['elapsed_s']:.1f} s "
        f"({'all ended' if res['finished'] else 'UNFINISHED'}; first job ended at "
        f"{res.get('first_s', float('nan')):.2f} s; sink answered {res['sink_requests']:,}; "
        f"failed {res['failed']}; left {res.get('left')}; worker CPU {res.get('worker_cpu_s', 0):.1f} s)")
    return res


def template(tmp, peer, n, envelopes):
    """The peer's n jobs enqueued into an empty Redis and saved as an RDB file."""
    rp, rport, dump = start_redis(tmp, "template")
    try:
        res = enqueue(peer, rport, envelopes, n)
        res["redis_mib"] = int(redis_cmd(rport, "INFO", "memory").split("used_memory:")[1].split()[0]) / 2**20
        redis_cmd(rport, "SAVE", timeout=300)
    finally:
        H.stop(rp)
    path = os.path.join(tmp, f"b8-{peer[0]}.rdb")
    shutil.move(dump, path)
    res["rdb_mib"] = os.path.getsize(path) / 2**20
    log(f"B8 {peer[0]}: {n:,} jobs enqueued in {res['seconds']:.1f} s "
        f"({n / res['seconds']:,.0f}/s; Redis {res['redis_mib']:.0f} MiB)")
    return path, res


def write_envelopes(tmp, n):
    """n distinct 1,024-byte learner.created envelopes, one per line (compact JSON has no newline)."""
    path = os.path.join(tmp, "b8-envelopes.jsonl")
    now = int(time.time() * 1000)
    new_evt, new_lrn = D.id_maker("evt_", now), D.id_maker("lrn_", now)
    with open(path, "w") as f:
        for i in range(n):
            f.write(D.envelope(new_evt(), "org_b8", "key_b8", new_lrn(), i, now) + "\n")
    return path


# ---------------------------------------------------------------- the driver

def run(tmp, which, out, ctx):
    trial = bool(H.ARGS.trial)
    runs = 1 if trial else RUNS
    cal_jobs = TRIAL_CAL_JOBS if trial else CAL_JOBS
    out.update(trial=trial, runs=[], calibration=[], notes=[])
    ensure_installed()
    out["versions"] = versions()
    envelopes = write_envelopes(tmp, TRIAL_JOBS if trial else max(JOBS.values()))
    with open(envelopes) as f:
        out["body_bytes"] = len(f.readline().rstrip("\n").encode())
    nport = H.free_port()
    ngx = H.start_nginx(tmp, nport, b"{}", name="nginx-b8", extra_locations=SINK_LOCATIONS)
    sink = f"http://127.0.0.1:{nport}/sink"
    try:
        # Calibration: one short run of each Celery pool, from an empty Redis; the first pool
        # (prefork) stays unless another is clearly faster.
        cal = {}
        for pool in CELERY_POOLS:
            peer = celery_peer(*pool)
            r = run_once(tmp, peer, f"calibration-{peer[0]}", cal_jobs, sink, nport, envelopes=envelopes)
            out["calibration"].append(r)
            cal[pool] = r.get("steady_rate") or r["rate"]
        best_pool = CELERY_POOLS[0]
        for pool in CELERY_POOLS[1:]:
            if cal[pool] >= CLEARLY_FASTER * cal[best_pool]:
                best_pool = pool
        out["celery_pool"] = list(best_pool)
        chosen = [BULLMQ, celery_peer(*best_pool)]
        out["names"] = {p[0]: p[1] for p in chosen}
        out["jobs"] = {p[0]: TRIAL_JOBS if trial else JOBS[p[2]] for p in chosen}
        templates, out["enqueue"] = {}, {}
        for peer in chosen:
            templates[peer[0]], out["enqueue"][peer[0]] = template(tmp, peer, out["jobs"][peer[0]],
                                                                   envelopes)
        for rep in range(1, runs + 1):
            for peer in chosen:
                n = out["jobs"][peer[0]]
                done = [x for x in out["runs"] if x["peer"] == peer[0]]
                need = D.med([x["elapsed_s"] for x in done]) + 10 if done else 0
                if rep > 1 and H.time_left() < need:
                    out["notes"].append(f"{peer[0]} run {rep} skipped: the time budget ran out")
                    continue
                out["runs"].append(run_once(tmp, peer, f"{peer[0]}-{rep}", n, sink, nport,
                                            rdb=templates[peer[0]]))
    finally:
        H.stop(ngx, signal.SIGQUIT)


# ---------------------------------------------------------------- report

def report(out, ctx):
    runs = out.get("runs") or []
    if not runs:
        return ""
    v = out["versions"]
    pool, conc = out["celery_pool"]
    names = out["names"]
    ids = list(out["jobs"])
    L = ["### B8 the peer" + (f" (trial: {TRIAL_JOBS:,} jobs, 1 run — not a headline figure)"
                              if out["trial"] else ""),
         ""]
    L.append(f"Sink: B0/B1's nginx `location = /sink {{ return 200; }}` (a private nginx, "
             f"`worker_processes auto`, `access_log off`; `stub_status` on another location counts the "
             f"requests answered). Every job carries one of B1's {out['body_bytes']:,}-byte "
             f"`learner.created` envelopes (distinct ids), POSTed with `Content-Type: application/json`; "
             f"a non-2xx answer or a network error fails the job (no retry). Broker: a private "
             f"redis-server {v['redis']} per run on a free port, **in memory** (`--save '' --appendonly "
             f"no`: nothing reaches the disk, a crash loses the queue — far less durable than learnwire's "
             f"SQLite WAL with `synchronous = normal`). Before the timed part, each peer's jobs are "
             f"enqueued once with its library's bulk path (BullMQ `Queue.addBulk`, 1,000 per call; "
             f"Celery `apply_async` through one producer, one Redis pipeline per 1,000) and saved as an "
             f"RDB file; each run starts Redis from a copy of it, then spawns the worker. Time = the "
             f"worker's spawn → the end of the last job (the workers write the Unix ms of their first "
             f"and last job end into Redis; the harness polls it every {int(POLL_S * 1000)} ms), so "
             f"start-up counts, as in B1. `steady` = jobs / (last end − first end).")
    L.append("")
    L.append(f"- **{names['bullmq']}** (bullmq {v['bullmq']}, ioredis {v['ioredis']}, Node {v['node']}): "
             f"one `Worker`, job option `removeOnComplete` (kept when failed), POSTs over an "
             f"`http.Agent` with keep-alive (≤ {BULLMQ_CONCURRENCY} sockets); a job counts when its "
             f"`completed` (or `failed`) event fires, i.e. after BullMQ has recorded it in Redis.")
    L.append(f"- **{names[ids[1]]}** (Celery {v['celery']}, kombu {v['kombu']}, redis-py {v['redis_py']}, "
             f"Python {v['python']}): Redis broker, no result backend (`task_ignore_result`), default "
             f"prefetch (4 per pool process or thread) and early acknowledgement (a message is acknowledged when taken, "
             f"before it runs: a crash loses it), `--without-gossip --without-mingle --without-heartbeat`; "
             f"POSTs with `http.client` over reused keep-alive connections; each task then does "
             f"`INCR` on a Redis counter (its end, counted exactly; the N-th stamps the time).")
    cal = out.get("calibration") or []
    if cal:
        L.append(f"- Calibration, one run each from an empty Redis ({cal[0]['jobs']:,} jobs, steady rate): "
                 + "; ".join(f"{x['peer']} {D.fmt_rate(x.get('steady_rate') or x['rate'])}/s" for x in cal)
                 + f". Celery pool used: **{pool} {conc}** (a pool other than prefork 2 is used only if "
                   f"≥ {int((CLEARLY_FASTER - 1) * 100)} % faster here; gevent with 64 greenlets was far "
                   f"slower in trials and is not run).")
    slow = [i for i in ids if out["jobs"][i] < B1_JOBS and not out["trial"]]
    if slow:
        L.append("- Jobs per run: " + ", ".join(f"{i} {out['jobs'][i]:,}" for i in ids) + ". " +
                 "; ".join(f"{i} gets fewer than B1's {B1_JOBS:,} to stay within its time budget: at its "
                           f"median rate here, {B1_JOBS:,} would take "
                           f"{B1_JOBS / D.med([x['rate'] for x in runs if x['peer'] == i]):.0f} s per run"
                           for i in slow if any(x["peer"] == i for x in runs)) + ".")
    enq = out.get("enqueue") or {}
    if enq:
        L.append("- Enqueue (not timed in the runs): " + "; ".join(
            f"{i} {out['jobs'][i]:,} jobs in {e['seconds']:.1f} s ({out['jobs'][i] / e['seconds']:,.0f}/s), "
            f"Redis {e['redis_mib']:.0f} MiB, RDB {e['rdb_mib']:.0f} MiB" for i, e in enq.items()) + ".")
    L.append("")
    L.append("| run | peer | jobs | jobs/s | time | first job ended | steady | worker CPU | Redis CPU | "
             "CPU per job (worker + Redis) | worker peak RSS | machine busy | sink requests | failed | "
             "left in queue |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    nan = float("nan")
    for x in runs:
        L.append(f"| {x['label']} | {x['peer']} | {x['jobs']:,} | {D.fmt_rate(x['rate'])}"
                 f"{'' if x['finished'] else ' ¹'} | {x['elapsed_s']:.1f} s | {x.get('first_s', nan):.2f} s | "
                 f"{D.fmt_rate(x['steady_rate'])} | {x.get('worker_cpu_s', nan):.1f} s | "
                 f"{x['redis_cpu_s']:.1f} s | "
                 f"{(x.get('worker_cpu_s', nan) + x['redis_cpu_s']) / x['jobs'] * 1e6:,.0f} µs | "
                 f"{x.get('worker_hwm_kib', 0) * 1024 / 1e6:.0f} MB | "
                 f"{D.pct(x['machine_busy'])} | {x['sink_requests']:,} | {x['failed']:,} | "
                 f"{x.get('left', '—')} |")
    L.append("")
    if any(not x["finished"] for x in runs):
        L.append(f"¹ Unfinished: stopped after {H.ARGS.b1_limit_s} s (`--b1-limit-s`); the rate is the "
                 f"requests the sink answered over that time.")
        L.append("")
    meds = {i: D.med([x["rate"] for x in runs if x["peer"] == i]) for i in ids}
    better = max((i for i in ids if meds[i]), key=lambda i: meds[i], default=None)
    L.append("Medians: " + "; ".join(
        f"{i} **{D.fmt_rate(meds[i])} jobs/s** (steady "
        f"{D.fmt_rate(D.med([x['steady_rate'] for x in runs if x['peer'] == i]))}/s, "
        f"{len([x for x in runs if x['peer'] == i])} run(s))" for i in ids) +
        (f". Better peer: **{better}**." if better else "."))
    lost = [x for x in runs if x["sink_requests"] != x["jobs"] or x["failed"] or x.get("left")]
    L.append("Every run delivered every job: the sink answered as many requests as there were jobs, "
             "none failed, none was left in the queue." if not lost else
             f"**Not every job was delivered in {len(lost)} run(s)** (see sink requests / failed / left).")
    dout = ctx.get("dout") or {}
    b0 = D.med([r["rps"] for r in dout.get("b0") or []])
    if b0 and better:
        L.append(f"The better peer is {D.pct(meds[better] / b0)} of the median B0 ({D.fmt_rate(b0)} req/s).")
    b1 = dout.get("b1") or {}
    verdicts = []
    for cap in (8, 64):
        m = D.med([x["rate"] for x in b1.get(f"cap{cap}", [])])
        if m and better:
            ratio = m / meds[better]
            verdicts.append(f"cap {cap}: {D.fmt_rate(m)} deliveries/s = **{ratio:.1f}×** the better peer "
                            f"— {'met' if ratio >= TARGET else 'not met'}")
    if verdicts:
        L.append(f"B1 medians of this bench/run / the better peer's median (target ≥ {TARGET:g}×): "
                 + "; ".join(verdicts) + ".")
    else:
        L.append("No B1 figures in this run: the ratio B1 / peer cannot be given.")
    probs = [(x["label"], p) for x in runs + cal for p in x.get("problems", [])]
    if probs:
        L.append("")
        L += D.first_lines("Worker output other than figures", probs)
    for note in out.get("notes", []):
        L.append(f"- {note}")
    L.append("")
    return "\n".join(L)
