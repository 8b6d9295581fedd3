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
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { resumingClient } from './resuming_client.mjs';
import { children, freePort, killAtSeededMoments, runOptions, seeded, sleep, startBalancer } from './cluster_processes.mjs';

const [binary, workDir, ...rest] = process.argv.slice(2);
const { text, number: option } = runOptions(rest);
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
const random = seeded(seed);

// --- the processes ---------------------------------------------------------

rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const processes = new children();

function startNode(name, port) {
  const dir = path.join(workDir, name);
  rmSync(path.join(dir, 'port'), { force: true });
  mkdirSync(dir, { recursive: true });
  const child = processes.spawn(binary, ['--port', String(port), '--state-dir', dir,
    '--redis', `127.0.0.1:${redisPort}`, '--redis-prefix', prefix], { stdio: ['ignore', 'ignore', 'inherit'] });
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

const publisher = startNode('publisher', 0);
const publisherPort = await waitListening(publisher);
const nodes = [];
for (let i = 0; i < 3; i += 1) {
  const node = startNode(`node${i}`, await freePort());
  await waitListening(node);
  nodes.push(node);
}
let balancerPort;
try {
  balancerPort = await startBalancer(processes, workDir, nodes, '/control/stats');
} catch (error) {
  console.error(`FAIL: ${error.message}`);
  process.exit(1);
}
console.log(`cluster: publisher :${publisherPort}, nodes ${nodes.map((n) => n.port).join(', ')}, haproxy :${balancerPort}, seed ${seed}`);

// --- the clients ------------------------------------------------------------

const clients = [];
// Through the balancer: after a loss, on whichever node it picks.
for (let i = 0; i < clientCount; i += 1) {
  clients.push(resumingClient(`ws://127.0.0.1:${balancerPort}/courier`, `kill-peer-${i}`, 'parcel.delivered'));
}
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
const started_at = Date.now();
// The first kill is the node that served the second page: it must move on.
const killed = await killAtSeededMoments({
  nodes, random, kills, spanMs: publishMs, first: nodes[0],
  restart: async (victim) => {
    const again = startNode(victim.name, victim.port);
    await waitListening(again);
    return again;
  },
});
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
processes.endAll();
console.log(failures === 0 ? 'cluster kill: every check held' : `cluster kill: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
