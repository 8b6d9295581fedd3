// Dashboard nodes sharing one Redis, behind haproxy, killed with SIGKILL and
// started again while events flow; clients nobody here wrote must end with
// every event exactly once, in order, and never lose their session: Node's
// `ws` package speaking courier.v1 from docs/protocol.md through the load
// balancer, and the dashboard page in headless Chromium (playwright-core),
// once loaded through the balancer and once from a node with the others
// listed (?nodes=), moving along that list.
//
//   node cluster_kill.mjs DASHBOARD_BINARY WORK_DIR --redis-dir DIR [--seed N] [--kills N] [--events N] [--clients N]
// DIR is the redis-server fixture's (tests/redis/redis.sh): DIR/port.
//
// What runs, each a process of its own: one publishing node (never killed:
// the events' source, GET /control/publish), three nodes the clients reach
// through haproxy (roundrobin, health checks every 100 ms), the clients in
// this process. At seeded random moments a random live node gets SIGKILL
// and comes back on its port a moment later. At the end the check reads
// Redis itself with redis-cli: every client's session has every event acked.
// Exit 0 when every check held.
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync, rmSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const [binary, workDir, ...rest] = process.argv.slice(2);
const text = (name) => {
  const at = rest.indexOf(`--${name}`);
  return at >= 0 ? rest[at + 1] : undefined;
};
const option = (name, fallback) => (text(name) === undefined ? fallback : Number(text(name)));
const seed = option('seed', 1);
const kills = option('kills', 6);
const eventCount = option('events', 3000);
const clientCount = option('clients', 3);
const redisDir = text('redis-dir');
if (!binary || !workDir || !redisDir || !existsSync(path.join(redisDir, 'port'))) {
  console.error('FAIL: usage: cluster_kill.mjs DASHBOARD_BINARY WORK_DIR --redis-dir DIR (with DIR/port from redis.sh)');
  process.exit(2);
}
const redisPort = Number(readFileSync(path.join(redisDir, 'port'), 'utf8'));
const prefix = `courier-kill-${seed}-${process.pid}`;

let failures = 0;
function check(condition, what) {
  if (!condition) { failures += 1; console.error(`FAIL: ${what}`); } else { console.log(`ok: ${what}`); }
}
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// mulberry32: the kills' moments and victims from the seed.
function seeded(value) {
  let state = value >>> 0;
  return () => {
    state = (state + 0x6D2B79F5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(seed);

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// --- the processes ---------------------------------------------------------

rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const started = [];  // every child, to end them all by their PIDs

function startNode(name, port) {
  const dir = path.join(workDir, name);
  rmSync(path.join(dir, 'port'), { force: true });
  mkdirSync(dir, { recursive: true });
  const child = spawn(binary, ['--port', String(port), '--state-dir', dir,
    '--redis', `127.0.0.1:${redisPort}`, '--redis-prefix', prefix], { stdio: ['ignore', 'ignore', 'inherit'] });
  started.push(child);
  return { name, port, dir, child };
}

async function waitListening(node) {
  for (let i = 0; i < 200; i += 1) {
    if (existsSync(path.join(node.dir, 'port'))) return Number(readFileSync(path.join(node.dir, 'port'), 'utf8'));
    if (node.child.exitCode !== null) throw new Error(`${node.name} exited with ${node.child.exitCode}`);
    await sleep(25);
  }
  throw new Error(`${node.name} did not start listening`);
}

function endAll() {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone already */ }
    }
  }
}
process.on('exit', endAll);

const publisher = startNode('publisher', 0);
const publisherPort = await waitListening(publisher);
const nodes = [];
for (let i = 0; i < 3; i += 1) {
  const node = startNode(`node${i}`, await freePort());
  await waitListening(node);
  nodes.push(node);
}
const balancerPort = await freePort();
writeFileSync(path.join(workDir, 'haproxy.cfg'), `global
  maxconn 2000
defaults
  mode http
  timeout connect 500ms
  timeout client 60s
  timeout server 60s
  timeout tunnel 60s
  retries 3
  option redispatch
frontend courier
  bind 127.0.0.1:${balancerPort}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /control/stats
${nodes.map((node) => `  server ${node.name} 127.0.0.1:${node.port} check inter 100 fall 1 rise 1`).join('\n')}
`);
// Its log (a server down, up again at each kill) goes to a file: WORK_DIR/haproxy.log.
const haproxyLog = openSync(path.join(workDir, 'haproxy.log'), 'w');
const haproxy = spawn('haproxy', ['-f', path.join(workDir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', haproxyLog, haproxyLog] });
started.push(haproxy);
for (let i = 0; ; i += 1) {
  try {
    const response = await fetch(`http://127.0.0.1:${balancerPort}/control/stats`);
    if (response.ok) break;
  } catch { /* not yet */ }
  if (i > 200 || haproxy.exitCode !== null) { console.error('FAIL: haproxy did not start'); process.exit(1); }
  await sleep(25);
}
console.log(`cluster: publisher :${publisherPort}, nodes ${nodes.map((n) => n.port).join(', ')}, haproxy :${balancerPort}, seed ${seed}`);

// --- the clients ------------------------------------------------------------

// A client as docs/protocol.md describes one: it keeps the highest seq it
// processed, skips (and acks) what comes again, and comes back with its
// token after any loss, through the balancer (so on whichever node).
function makeClient(name) {
  const client = { name, token: null, session: null, lastSeq: 0, got: [], welcomes: 0, lostSession: 0, socket: null, done: false };
  const connect = () => {
    if (client.done) return;
    const socket = new WebSocket(`ws://127.0.0.1:${balancerPort}/courier`, 'courier.v1');
    client.socket = socket;
    let ackTimer = null;
    const ack = () => {
      ackTimer = null;
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ op: 'ack', upto: client.lastSeq }));
    };
    socket.on('open', () => {
      const hello = { op: 'hello', client: name };
      if (client.token) { hello.resume = client.token; hello.acked = client.lastSeq; }
      socket.send(JSON.stringify(hello));
    });
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.op === 'welcome') {
        client.welcomes += 1;
        if (client.token && !frame.resumed) client.lostSession += 1;
        if (!frame.resumed) client.lastSeq = 0;
        client.token = frame.resume;
        client.session = frame.session;
        if (!frame.topics.includes('parcel.delivered')) {
          socket.send(JSON.stringify({ op: 'subscribe', topics: ['parcel.delivered'], ref: 'sub' }));
        }
      } else if (frame.op === 'subscribed') {
        client.subscribed = true;
      } else if (frame.op === 'event') {
        if (frame.seq > client.lastSeq) {
          client.got.push(frame.data.parcel);
          client.lastSeq = frame.seq;
        }
        if (ackTimer === null) ackTimer = setTimeout(ack, 5);
      }
    });
    socket.on('close', () => { if (ackTimer) clearTimeout(ackTimer); setTimeout(connect, 20); });
    socket.on('error', () => { /* 'close' follows */ });
  };
  connect();
  return client;
}

const clients = [];
for (let i = 0; i < clientCount; i += 1) clients.push(makeClient(`kill-peer-${i}`));
for (let i = 0; clients.some((c) => !c.subscribed); i += 1) {
  if (i > 400) { console.error('FAIL: the clients did not subscribe'); process.exit(1); }
  await sleep(25);
}

const browser = await chromium.launch({
  executablePath: process.env.COURIER_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new'],
});
const pages = [];
for (const [name, url] of [
  ['page via haproxy', `http://127.0.0.1:${balancerPort}/`],
  ['page with ?nodes=', `http://127.0.0.1:${nodes[0].port}/?nodes=${nodes.slice(1).map((n) => `127.0.0.1:${n.port}`).join(',')}`],
]) {
  const page = await browser.newPage();
  page.on('pageerror', (error) => { failures += 1; console.error(`FAIL: ${name}: page error ${error}`); });
  page.on('console', (message) => console.log(`${name}: ${message.text()}`));
  await page.goto(url);
  await page.waitForFunction(() => window.courierState && window.courierState.subscribed, null, { timeout: 10000 });
  pages.push({ name, page });
}

// --- events while nodes die -------------------------------------------------

const publishMs = Math.round(eventCount * 1.5);  // 1.5 ms apart
await fetch(`http://127.0.0.1:${publisherPort}/control/publish?count=${eventCount}&gap_us=1500`);
let killed = 0;
const started_at = Date.now();
while (killed < kills) {
  // Spread the kills over the publishing time, at random moments.
  await sleep(Math.round((publishMs / (kills + 1)) * (0.5 + random())));
  // A node some client is on (its own stats request counts as one connection).
  const holding = [];
  for (const node of nodes) {
    try {
      const stats = await (await fetch(`http://127.0.0.1:${node.port}/control/stats`)).json();
      if (stats.connections > 1) holding.push(node);
    } catch { /* restarting */ }
  }
  const pool = holding.length > 0 ? holding : nodes;
  // The first kill is the node that served the second page: it must move on.
  const victim = killed === 0 ? nodes[0] : pool[Math.floor(random() * pool.length)];
  process.kill(victim.child.pid, 'SIGKILL');
  killed += 1;
  await sleep(50 + Math.round(random() * 200));
  const again = startNode(victim.name, victim.port);
  await waitListening(again);
  Object.assign(victim, again);
}
console.log(`killed ${killed} nodes with SIGKILL in ${Date.now() - started_at} ms`);

const deadline = Date.now() + 60000;
while (clients.some((c) => c.got.length < eventCount) && Date.now() < deadline) await sleep(50);
for (const { page } of pages) {
  await page.waitForFunction((n) => window.courierState.received.length >= n, eventCount,
    { timeout: Math.max(1000, deadline - Date.now()) }).catch(() => {});
}
await sleep(300);  // room for a wrong extra event, and the last acks
for (const { name, page } of pages) {
  const state = await page.evaluate(() => ({
    received: window.courierState.received, reconnects: window.courierState.reconnects,
    resumed: window.courierState.resumed, errors: window.courierState.errors,
  }));
  const inOrder = state.received.every((value, index) => value === index);
  check(state.received.length === eventCount && inOrder,
    `${name}: every one of ${eventCount} events shown once, in order (got ${state.received.length}${inOrder ? '' : ', out of order'})`);
  check(state.resumed === state.reconnects, `${name}: its session survived ${state.reconnects} reconnections (resumed ${state.resumed})`);
}
check(pages[1] && (await pages[1].page.evaluate(() => window.courierState.reconnects)) >= 1,
  'the page served by the first node moved on when it died');
await browser.close();
for (const client of clients) {
  client.done = true;
  const inOrder = client.got.every((value, index) => value === index);
  check(client.got.length === eventCount && inOrder,
    `${client.name}: every one of ${eventCount} events once, in order (got ${client.got.length}${inOrder ? '' : ', out of order'})`);
  check(client.lostSession === 0, `${client.name}: its session survived ${client.welcomes - 1} reconnections`);
  check(client.welcomes >= 2, `${client.name}: it was moved at least once (${client.welcomes - 1} times)`);
}
check(killed >= 5, `${killed} SIGKILLs (at least 5)`);

// Redis's own word, read with redis-cli: the stream holds the events, and
// each client's session has acked all of them (its checkpoint).
const cli = (...args) => execFileSync('redis-cli', ['-p', String(redisPort), ...args], { encoding: 'utf8' }).trim();
check(Number(cli('XLEN', `${prefix}:events`)) >= eventCount, `the stream holds the ${eventCount} events`);
for (const client of clients) {
  let acked = '';
  for (let i = 0; i < 100 && acked !== String(eventCount); i += 1) {
    acked = cli('HGET', `${prefix}:session:${client.session}`, 'acked');
    if (acked !== String(eventCount)) await sleep(50);
  }
  check(acked === String(eventCount), `${client.name}: Redis holds its session with acked ${acked} (of ${eventCount})`);
}
for (const client of clients) client.socket?.terminate();
endAll();
console.log(failures === 0 ? 'cluster kill: every check held' : `cluster kill: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
