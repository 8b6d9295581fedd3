// One Socket.IO 4 node as a user runs one across several machines: the
// @socket.io/redis-streams-adapter on a redis-server, and connection state
// recovery on (the feature that is meant to give a reconnecting client what
// it missed). Used by the benchmark's Socket.IO side (ws_bench_socketio.mjs)
// and, as a process of its own, by the kill run beside courier
// (ws_kill_compare.mjs):
//
//   node socketio_node.mjs --port P --redis-port R --prefix NAME
//
// As a process it answers the same control requests as courier's dashboard,
// so one kill run drives both:
//   GET /control/stats                     {"connections": N}: its Socket.IO clients, plus this request
//   GET /control/publish?count=N&gap_us=U  emits N 'parcel.delivered' events ({parcel: i}), U us apart
// and writes its port to stdout as {"port": P} once it listens.
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// The packages live with the tests' peers (tests/ws/node_modules).
const here = path.dirname(fileURLToPath(import.meta.url));
export const peers = createRequire(process.env.COURIER_WS_PEERS ?? path.join(here, '../tests/ws/package.json'));

// Starts a node on `port` (0: any free one) of the cluster named `prefix`
// on the redis-server at 127.0.0.1:redisPort. `pages` answers plain HTTP
// requests (Socket.IO takes its own path). Resolves to {io, port}.
export async function startSocketIoNode({ redisPort, prefix, port = 0, pages = null }) {
  const { Server } = peers('socket.io');
  const { createAdapter } = peers('@socket.io/redis-streams-adapter');
  const { createClient } = peers('redis');
  const redis = createClient({ url: `redis://127.0.0.1:${redisPort}` });
  await redis.connect();
  const http = createServer((request, response) => {
    const answer = pages?.(request.url);
    if (answer === undefined || answer === null) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  const io = new Server(http, {
    adapter: createAdapter(redis, { streamName: `${prefix}:stream` }),
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
  });
  await new Promise((listening) => http.listen(port, '127.0.0.1', listening));
  return { io, port: http.address().port };
}

// Emits `count` events, numbered on from `next.value`, `gapUs` apart on
// average: each timer tick emits every event whose moment has come, so the
// pace holds although Node's timers fire no finer than a millisecond.
function publishPaced(io, count, gapUs, next) {
  const startedAt = process.hrtime.bigint();
  let emitted = 0;
  const tick = () => {
    const due = Math.min(count, Math.floor(Number(process.hrtime.bigint() - startedAt) / 1000 / gapUs) + 1);
    for (; emitted < due; emitted += 1) io.emit('parcel.delivered', { parcel: next.value++ });
    if (emitted < count) setTimeout(tick, 1);
  };
  tick();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argument = (name) => {
    const at = process.argv.indexOf(`--${name}`);
    return at >= 0 ? process.argv[at + 1] : undefined;
  };
  const next = { value: 0 };
  let node = null;
  const pages = (url) => {
    const target = new URL(url, 'http://node');
    if (target.pathname === '/control/stats') return { connections: node.io.engine.clientsCount + 1 };
    if (target.pathname === '/control/publish') {
      const count = Number(target.searchParams.get('count') ?? 100);
      publishPaced(node.io, count, Number(target.searchParams.get('gap_us') ?? 1000), next);
      return { publishing: count };
    }
    return null;
  };
  node = await startSocketIoNode({
    redisPort: Number(argument('redis-port')),
    prefix: argument('prefix'),
    port: Number(argument('port') ?? 0),
    pages,
  });
  console.log(JSON.stringify({ port: node.port }));
}
