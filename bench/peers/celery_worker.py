"""B8's Celery peer (bench/peers.py drives it). Runs on Debian's /usr/bin/python3, where apt puts
python3-celery, python3-redis and python3-gevent.

    B8_REDIS_PORT=P B8_SINK=URL B8_JOBS=N python3 -m celery -A celery_worker worker -P prefork -c 2 …
        the worker: task `b8.deliver` POSTs its envelope to the sink (Content-Type application/json)
        over keep-alive connections (http.client, reused across tasks); a non-2xx answer or a
        network error raises, so the task fails. Every task that ends, either way, does
        INCR b8:finished in Redis (and INCR b8:failed when it failed); the first sets b8:first_ms and
        the N-th b8:last_ms (Unix ms), which the harness polls.
    B8_REDIS_PORT=P python3 celery_worker.py enqueue ENVELOPES.jsonl N
        sends the first N envelopes (one per line) as N `b8.deliver` messages through one producer
        with a Redis pipeline per chunk of CHUNK messages; prints {"enqueued": N, "seconds": s}.

Redis is the broker; there is no result backend (task_ignore_result). Acknowledgement is Celery's
default (early: a message is acknowledged when a worker process takes it, before it runs).
"""
import contextlib
import http.client
import json
import os
import sys
import time
import urllib.parse

import redis
from celery import Celery

PORT = int(os.environ["B8_REDIS_PORT"])
JOBS = int(os.environ.get("B8_JOBS", "0"))
SINK = urllib.parse.urlsplit(os.environ.get("B8_SINK", "http://127.0.0.1:1/sink"))
CHUNK = 1000

app = Celery("b8", broker=f"redis://127.0.0.1:{PORT}/0")
app.conf.update(
    task_ignore_result=True,           # no result backend: nothing is stored per task
    worker_prefetch_multiplier=4,      # Celery's default: 4 messages per pool process (or thread)
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

# The completion counter: redis-py's pool is safe across threads and greenlets and reconnects
# after the prefork pool forks.
counter = redis.Redis(host="127.0.0.1", port=PORT)
# Idle keep-alive sink connections. A task takes one (or opens one) and puts it back, so a process,
# a thread or a greenlet reuses connections: the gevent pool runs each task in a new greenlet, where
# a greenlet-local connection would be a new one per task. (list.pop/append are atomic.)
_idle = []
HEADERS = {"Content-Type": "application/json"}


def post(body):
    try:
        conn = _idle.pop()
    except IndexError:
        conn = http.client.HTTPConnection(SINK.hostname, SINK.port, timeout=10)
    try:
        conn.request("POST", SINK.path, body=body, headers=HEADERS)
        r = conn.getresponse()
        r.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        raise
    _idle.append(conn)
    return r.status


def ended(failed):
    if failed:
        counter.incr("b8:failed")
    n = counter.incr("b8:finished")
    if n == 1:
        counter.set("b8:first_ms", int(time.time() * 1000))
    if n == JOBS:
        counter.set("b8:last_ms", int(time.time() * 1000))


@app.task(name="b8.deliver")
def deliver(body):
    try:
        status = post(body.encode())
        if not 200 <= status <= 299:
            raise RuntimeError(f"sink answered {status}")
    except Exception:
        ended(True)
        raise
    ended(False)


def enqueue(path, n):
    t0 = time.perf_counter()
    added = 0
    with open(path) as f, app.producer_or_acquire() as producer:
        chan = producer.channel
        while added < n:
            bodies = [f.readline().rstrip("\n") for _ in range(min(CHUNK, n - added))]
            # kombu's Redis channel sends each message with one LPUSH on a client it gets from
            # conn_or_acquire(); handing it a pipeline instead sends a chunk in one round trip.
            with chan.client.pipeline(transaction=False) as pipe:
                chan.conn_or_acquire = lambda client=None: contextlib.nullcontext(pipe)
                try:
                    for body in bodies:
                        deliver.apply_async((body,), producer=producer)
                finally:
                    del chan.conn_or_acquire  # back to the class's method
                pipe.execute()
            added += len(bodies)
    return {"enqueued": added, "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "enqueue":
        sys.exit("usage: B8_REDIS_PORT=P python3 celery_worker.py enqueue ENVELOPES.jsonl N")
    print(json.dumps(enqueue(sys.argv[2], int(sys.argv[3]))), flush=True)
