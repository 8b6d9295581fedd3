// The Socket.IO side of `courier_ws_bench --nodes 2 --store redis`: the same
// workload on Socket.IO 4 as a user would run it across nodes, with
// @socket.io/redis-streams-adapter on the same redis-server and connection
// state recovery on.
//
//   node ws_bench_socketio.mjs REDIS_PORT CLIENTS EVENTS [NODES]
//
// Each node is a process of its own (this script again, with `node` as its
// first argument); the clients run in this process, spread over the nodes
// in turn, as courier's clients run on one thread of courier_ws_bench. The
// first node publishes the events (io.emit: the adapter carries them to the
// other nodes through the Redis stream), at most 1,000 ahead of the slowest
// client's acks, as courier's publisher. A client acks cumulatively every 16
// events (an `ack` event to its node, which counts it), as courier's clients
// send `ack upto`. Prints one JSON line: acked events/s (events x clients,
// from the first event a client got to its last ack) and the latency from
// publish (a CLOCK_MONOTONIC timestamp in the event, the clock courier's
// side reads) to the ack covering it, p50 and p99 in microseconds.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { peers, startSocketIoNode } from './socketio_node.mjs';

const ackEvery = 16;
const publisherLead = 1000;
const now = () => Number(process.hrtime.bigint());  // CLOCK_MONOTONIC, as steady_clock

if (process.argv[2] === 'node') {
  // --- one Socket.IO node ---------------------------------------------------
  const [redisPort, prefix, publishing] = process.argv.slice(3);
  const { io, port } = await startSocketIoNode({ redisPort, prefix });
  let acks = 0;
  io.on('connection', (socket) => socket.on('ack', () => { acks += 1; }));
  let allowed = 0;
  let published = 0;
  let total = 0;
  const publish = () => {
    while (published < allowed && published < total) {
      io.emit('tick', { n: published, t: now() });
      published += 1;
    }
  };
  process.on('message', (message) => {
    if (message.allowed !== undefined) {
      allowed = message.allowed;
      total = message.total;
      if (publishing === 'yes') publish();
    }
    if (message.stop) process.exit(0);
  });
  process.send({ port });
} else {
  // --- the clients, and the nodes they talk to ---------------------------
  const { io: connect } = peers('socket.io-client');
  const [redisPort, clientCount, eventCount, nodeCount = '2'] = process.argv.slice(2).map(Number);
  const prefix = `courier-bench-socketio-${process.pid}`;
  const nodes = [];
  for (let i = 0; i < nodeCount; i += 1) {
    const child = fork(fileURLToPath(import.meta.url), ['node', String(redisPort), prefix, i === 0 ? 'yes' : 'no'],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise((resolve, reject) => {
      child.once('message', (message) => resolve(message.port));
      child.once('exit', (code) => reject(new Error(`a Socket.IO node exited (${code})`)));
    });
    nodes.push({ child, port });
  }
  const clients = [];
  for (let i = 0; i < clientCount; i += 1) {
    const node = nodes[i % nodes.length];
    const socket = connect(`http://127.0.0.1:${node.port}`, { transports: ['websocket'] });
    const client = { socket, acked: -1, last: -1, first: 0, done: 0, pending: [], latencies: [] };
    socket.on('tick', (event) => {
      if (client.first === 0) client.first = now();
      client.pending.push(event.t);
      client.last = event.n;
      if (client.pending.length >= ackEvery || event.n === eventCount - 1) {
        const sent = now();
        for (const t of client.pending) client.latencies.push(sent - t);
        client.pending = [];
        socket.emit('ack', client.last);
        client.acked = client.last;
        if (client.last === eventCount - 1) client.done = sent;
        moved();
      }
    });
    clients.push(client);
  }
  await Promise.all(clients.map((c) => new Promise((ready) => (c.socket.connected ? ready() : c.socket.once('connect', ready)))));
  await new Promise((ready) => setTimeout(ready, 200));  // every node's adapter has the others

  // Flow control: the publishing node may run publisherLead ahead of the
  // slowest client's acks.
  let allowedSent = 0;
  function moved() {
    const slowest = Math.min(...clients.map((c) => c.acked));
    const allowed = Math.min(eventCount, slowest + 1 + publisherLead);
    if (allowed > allowedSent) {
      allowedSent = allowed;
      nodes[0].child.send({ allowed, total: eventCount });
    }
  }
  const finished = new Promise((resolve) => {
    const check = setInterval(() => {
      if (clients.every((c) => c.done !== 0)) { clearInterval(check); resolve(); }
    }, 5);
  });
  moved();
  const giveUp = setTimeout(() => {
    console.error(`socket.io bench: not every client got every event (${clients.map((c) => c.last + 1).join(', ')} of ${eventCount})`);
    process.exit(1);
  }, 120000);
  await finished;
  clearTimeout(giveUp);
  const first = Math.min(...clients.map((c) => c.first));
  const last = Math.max(...clients.map((c) => c.done));
  const latencies = clients.flatMap((c) => c.latencies).sort((a, b) => a - b);
  console.log(JSON.stringify({
    acked_per_second: (eventCount * clientCount) / ((last - first) / 1e9),
    p50_us: latencies[Math.floor(latencies.length / 2)] / 1000,
    p99_us: latencies[Math.floor(latencies.length * 0.99)] / 1000,
  }));
  for (const c of clients) c.socket.close();
  for (const n of nodes) n.child.kill('SIGKILL');
  process.exit(0);
}
