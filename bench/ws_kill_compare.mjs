// The same kill-a-node run on courier and on Socket.IO 4, one after the
// other, and what each client of each got: courier's dashboard nodes on
// Redis, and Socket.IO nodes with @socket.io/redis-streams-adapter and
// connection state recovery on the same redis-server (socketio_node.mjs).
//
//   node ws_kill_compare.mjs DASHBOARD_BINARY WORK_DIR --redis-dir DIR
//        [--seed N] [--kills N] [--events N] [--clients N] [--json FILE]
//
// DIR is the redis-server fixture's (tests/redis/redis.sh): DIR/port.
//
// Each system runs the same run: a publishing node nobody kills, three
// nodes behind Debian's haproxy, the clients through haproxy, EVENTS events
// 1.5 ms apart, and KILLS SIGKILLs at the same seeded moments (each victim
// a node holding clients, started again on its port 50-250 ms later). Each
// client is written as its system's documentation tells a user to write
// one: courier's resumes with its token and skips the seqs it processed
// (tests/ws/resuming_client.mjs); Socket.IO's is socket.io-client, which
// reconnects by itself and asks its server to recover its state. A run
// ends when every client has every event or nothing arrived for 3 s.
//
// Prints, per system, the events the clients missed, got twice and got out
// of order, and the reconnections that did not get the session back; exits
// 1 when courier lost, repeated or reordered anything (Socket.IO's counts
// are reported, not judged).
import { mkdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { children, freePort, killAtSeededMoments, runOptions, seeded, sleep, startBalancer } from '../tests/ws/cluster_processes.mjs';
import { resumingClient } from '../tests/ws/resuming_client.mjs';
import { peers } from './socketio_node.mjs';

const [binary, workDir, ...rest] = process.argv.slice(2);
const { text, number: option } = runOptions(rest);
const seed = option('seed', 1);
const kills = option('kills', 6);
const eventCount = option('events', 3000);
const clientCount = option('clients', 10);
const redisDir = text('redis-dir');
if (!binary || !workDir || !redisDir || !existsSync(path.join(redisDir, 'port'))) {
  console.error('usage: ws_kill_compare.mjs DASHBOARD_BINARY WORK_DIR --redis-dir DIR (with DIR/port from redis.sh)');
  process.exit(2);
}
const redisPort = Number(readFileSync(path.join(redisDir, 'port'), 'utf8'));
const socketIoNodeScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'socketio_node.mjs');
const gapUs = 1500;
const quietMs = 3000;

// --- the two systems ---------------------------------------------------------

// A system: how to start one of its nodes (resolves once it listens, with
// {child, port}) and one of its clients (a record whose `got` lists the
// parcels in the order the application saw them).
const courier = {
  name: 'courier',
  async startNode(processes, dir, port, prefix) {
    mkdirSync(dir, { recursive: true });
    rmSync(path.join(dir, 'port'), { force: true });
    const child = processes.spawn(binary, ['--port', String(port), '--state-dir', dir,
      '--redis', `127.0.0.1:${redisPort}`, '--redis-prefix', prefix], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; i < 200; i += 1) {
      if (existsSync(path.join(dir, 'port'))) return { child, port: Number(readFileSync(path.join(dir, 'port'), 'utf8')) };
      if (child.exitCode !== null) throw new Error(`a courier node exited with ${child.exitCode}`);
      await sleep(25);
    }
    throw new Error('a courier node did not start listening');
  },
  client(balancerPort, name) {
    const client = resumingClient(`ws://127.0.0.1:${balancerPort}/courier`, name, 'parcel.delivered');
    return {
      get got() { return client.got; },
      get ready() { return client.subscribed === true; },
      get reconnections() { return client.welcomes - 1; },
      get notResumed() { return client.lostSession; },
      end() { client.done = true; client.socket?.terminate(); },
    };
  },
};

const socketIo = {
  name: 'Socket.IO',
  async startNode(processes, dir, port, prefix) {
    const child = processes.spawn('node', [socketIoNodeScript, '--port', String(port), '--redis-port', String(redisPort),
      '--prefix', prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const started = await Promise.race([
      new Promise((resolve) => lines.once('line', (line) => resolve(JSON.parse(line)))),
      new Promise((resolve, reject) => child.once('exit', (code) => reject(new Error(`a Socket.IO node exited (${code})`)))),
      sleep(10000).then(() => { throw new Error('a Socket.IO node did not start listening'); }),
    ]);
    return { child, port: started.port };
  },
  client(balancerPort) {
    const { io } = peers('socket.io-client');
    // Reconnecting as soon as courier's client does (20 ms), so that both
    // face the same moments.
    const socket = io(`http://127.0.0.1:${balancerPort}`, {
      transports: ['websocket'], reconnectionDelay: 20, reconnectionDelayMax: 1000, randomizationFactor: 0,
    });
    const record = { got: [], connects: 0, notResumed: 0, ready: false };
    socket.on('connect', () => {
      record.connects += 1;
      if (record.connects > 1 && !socket.recovered) record.notResumed += 1;
      record.ready = true;
    });
    socket.on('parcel.delivered', (event) => record.got.push(event.parcel));
    return {
      get got() { return record.got; },
      get ready() { return record.ready; },
      get reconnections() { return Math.max(0, record.connects - 1); },
      get notResumed() { return record.notResumed; },
      end() { socket.close(); },
    };
  },
};

// --- one run -------------------------------------------------------------------

async function run(system) {
  const processes = new children();
  const dir = path.join(workDir, system.name.toLowerCase());
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const prefix = `courier-kill-compare-${system.name.toLowerCase()}-${seed}-${process.pid}`;
  try {
    const publisher = await system.startNode(processes, path.join(dir, 'publisher'), 0, prefix);
    const nodes = [];
    for (let i = 0; i < 3; i += 1) {
      const name = `node${i}`;
      nodes.push({ name, ...(await system.startNode(processes, path.join(dir, name), await freePort(), prefix)) });
    }
    const balancerPort = await startBalancer(processes, dir, nodes, '/control/stats');
    const clients = [];
    for (let i = 0; i < clientCount; i += 1) clients.push(system.client(balancerPort, `kill-compare-${i}`));
    for (let i = 0; clients.some((c) => !c.ready); i += 1) {
      if (i > 400) throw new Error(`${system.name}: the clients did not connect`);
      await sleep(25);
    }
    await sleep(300);  // every node reads the cluster's stream

    await fetch(`http://127.0.0.1:${publisher.port}/control/publish?count=${eventCount}&gap_us=${gapUs}`);
    const killed = await killAtSeededMoments({
      nodes, random: seeded(seed), kills, spanMs: Math.round((eventCount * gapUs) / 1000),
      restart: (victim) => system.startNode(processes, path.join(dir, victim.name), victim.port, prefix),
    });
    // Until every client has every event, or nothing moved for quietMs.
    let seen = -1;
    let quietSince = Date.now();
    for (;;) {
      const now = clients.reduce((sum, c) => sum + c.got.length, 0);
      if (now !== seen) { seen = now; quietSince = Date.now(); }
      if (clients.every((c) => new Set(c.got).size >= eventCount)) break;
      if (Date.now() - quietSince > quietMs) break;
      await sleep(50);
    }
    await sleep(300);  // room for a wrong extra event
    const result = { system: system.name, killed, missing: 0, twice: 0, outOfOrder: 0, reconnections: 0, notResumed: 0, clients: [] };
    for (const client of clients) {
      const got = client.got;
      const distinct = new Set(got.filter((parcel) => parcel >= 0 && parcel < eventCount)).size;
      const backwards = got.filter((parcel, index) => index > 0 && parcel < got[index - 1]).length;
      const counts = { got: got.length, missing: eventCount - distinct, twice: got.length - distinct, outOfOrder: backwards,
        reconnections: client.reconnections, notResumed: client.notResumed };
      result.clients.push(counts);
      for (const key of ['missing', 'twice', 'outOfOrder', 'reconnections', 'notResumed']) result[key] += counts[key];
      client.end();
    }
    return result;
  } finally {
    processes.endAll();
  }
}

// --- both, and the table -----------------------------------------------------

rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const results = [];
for (const system of [courier, socketIo]) {
  const result = await run(system);
  results.push(result);
  console.log(`${system.name}: ${JSON.stringify(result.clients)}`);
}
const total = eventCount * clientCount;
console.log(`\nkill run: ${clientCount} clients x ${eventCount} events (${total} deliveries), ${kills} SIGKILLs, seed ${seed}`);
console.log('| system | SIGKILLs | missed | got twice | out of order | reconnections | not resumed |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.system} | ${r.killed} | ${r.missing} | ${r.twice} | ${r.outOfOrder} | ${r.reconnections} | ${r.notResumed} |`);
}
if (text('json')) writeFileSync(text('json'), JSON.stringify({ seed, kills, events: eventCount, clients: clientCount, results }, null, 2));
const ours = results[0];
const clean = ours.killed === kills && ours.missing === 0 && ours.twice === 0 && ours.outOfOrder === 0 && ours.notResumed === 0;
console.log(clean ? 'kill compare: courier lost nothing' : 'kill compare: courier lost, repeated or reordered events');
process.exit(clean ? 0 : 1);
