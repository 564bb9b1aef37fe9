// B8's BullMQ peer (bench/peers.py drives it; Node 20, bullmq + ioredis from bench/peers/node_modules).
//
//   node bullmq_worker.mjs enqueue --redis-port P --file ENVELOPES.jsonl --jobs N
//       adds the first N envelopes (one per line) as N jobs with Queue.addBulk, in chunks; prints
//       {"enqueued": N, "seconds": s} and exits.
//   node bullmq_worker.mjs work --redis-port P --sink URL --jobs N --concurrency C
//       one Worker (concurrency C) POSTs each job's envelope to the sink with Content-Type
//       application/json over a keep-alive http.Agent; a non-2xx answer or a network error fails the
//       job (attempts 1, so it stays failed). It counts the `completed` and `failed` events (emitted
//       once BullMQ has recorded the job's end in Redis); when they add up to N it writes
//       b8:first_ms, b8:last_ms (Unix ms of the first and the N-th end), b8:finished and b8:failed
//       into Redis (the harness polls those keys), prints the queue's job counts, its own CPU time
//       and peak RSS, and exits.
//
// Jobs are added with removeOnComplete (a completed job is deleted, as a production queue of
// webhooks would do) and kept when failed, so the job counts show every failure.
import http from 'node:http';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import fs from 'node:fs';
import readline from 'node:readline';

const QUEUE = 'b8';
const CHUNK = 1000; // jobs per addBulk call (one MULTI of 1,000 add scripts)

function parseArgs(argv) {
  const opts = { mode: argv[0] };
  for (let i = 1; i < argv.length; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];
  return opts;
}

const args = parseArgs(process.argv.slice(2));
const connection = { host: '127.0.0.1', port: Number(args['redis-port']) };
const jobs = Number(args.jobs);

async function enqueue() {
  const queue = new Queue(QUEUE, { connection });
  const t0 = performance.now();
  const lines = readline.createInterface({ input: fs.createReadStream(args.file), crlfDelay: Infinity });
  let added = 0;
  let chunk = [];
  for await (const line of lines) {
    if (added + chunk.length >= jobs) break;
    chunk.push({ name: 'deliver', data: { body: line },
                 opts: { removeOnComplete: true, removeOnFail: false } });
    if (chunk.length === CHUNK) {
      await queue.addBulk(chunk);
      added += chunk.length;
      chunk = [];
    }
  }
  if (chunk.length) {
    await queue.addBulk(chunk);
    added += chunk.length;
  }
  lines.close();
  const seconds = (performance.now() - t0) / 1000;
  await queue.close();
  process.stdout.write(JSON.stringify({ enqueued: added, seconds }) + '\n');
}

async function work() {
  const sink = new URL(args.sink);
  const concurrency = Number(args.concurrency);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

  function post(body) {
    return new Promise((resolve, reject) => {
      const req = http.request({
        agent, host: sink.hostname, port: sink.port, path: sink.pathname, method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      }, (res) => {
        res.resume(); // drain the (empty) body so the socket goes back to the agent
        res.on('end', () => resolve(res.statusCode));
        res.on('error', reject);
      });
      req.setTimeout(10_000, () => req.destroy(new Error('sink timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  const stats = new IORedis(connection); // only for the final figures, not on the job path
  let completed = 0;
  let failed = 0;
  let firstMs = null;
  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  const ended = () => {
    firstMs ??= Date.now();
    if (completed + failed === jobs) resolveDone(Date.now());
  };

  const worker = new Worker(QUEUE, async (job) => {
    const status = await post(job.data.body);
    if (status < 200 || status > 299) throw new Error(`sink answered ${status}`);
  }, { connection, concurrency });
  worker.on('completed', () => { completed += 1; ended(); });
  worker.on('failed', () => { failed += 1; ended(); });
  worker.on('error', (e) => process.stderr.write(`worker error: ${e}\n`));

  const lastMs = await done;
  await stats.mset('b8:first_ms', firstMs, 'b8:last_ms', lastMs, 'b8:finished', completed + failed,
                   'b8:failed', failed);
  await worker.close();
  const queue = new Queue(QUEUE, { connection });
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed',
                                          'completed');
  await queue.close();
  await stats.quit();
  agent.destroy();
  const ru = process.resourceUsage(); // µs of CPU, peak RSS in KiB
  process.stdout.write(JSON.stringify({
    completed, failed, counts, cpu_s: (ru.userCPUTime + ru.systemCPUTime) / 1e6, maxrss_kib: ru.maxRSS,
  }) + '\n');
}

const modes = { enqueue, work };
if (!modes[args.mode]) {
  process.stderr.write('usage: bullmq_worker.mjs enqueue|work --redis-port P ...\n');
  process.exit(2);
}
modes[args.mode]().then(() => process.exit(0), (e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
