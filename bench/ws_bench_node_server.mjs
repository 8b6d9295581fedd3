// The peer baseline for courier_ws_bench: the same workload served by a
// Node `ws` server speaking the subset of courier.v1 the benchmark uses
// (hello/welcome, subscribe/subscribed, event, cumulative ack), with the same
// window per client (256 events in flight) and the same publisher rule (at
// most `lead` events ahead of the slowest client's acks).
//   node ws_bench_node_server.mjs PORT_FILE CLIENTS EVENTS [CERT KEY]
// With CERT and KEY (PEM files) it serves wss:// through Node's https server.
// Writes its port to PORT_FILE, waits for CLIENTS subscribed clients,
// publishes EVENTS events to all of them, exits once every client acked all.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';

// `ws` lives with the tests' peers (tests/ws/node_modules); the benchmark
// says where (COURIER_WS_PEERS, a file in that folder).
const require = createRequire(process.env.COURIER_WS_PEERS ?? import.meta.url);
const { WebSocketServer } = require('ws');

const [portFile, clientCount, eventCount] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const [certFile, keyFile] = [process.argv[5], process.argv[6]];
const window = 256;
const lead = 1000;

const clients = [];
let published = 0;
const payloads = [];  // index = seq - 1: the encoded data of each event

const handleProtocols = (protocols) => (protocols.has('courier.v1') ? 'courier.v1' : false);
let server;
if (certFile) {
  const secure = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  server = new WebSocketServer({ server: secure, path: '/courier', handleProtocols });
  secure.listen(0, '127.0.0.1', () => writeFileSync(portFile, `${secure.address().port}\n`));
} else {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/courier', handleProtocols });
  server.on('listening', () => writeFileSync(portFile, `${server.address().port}\n`));
}
server.on('connection', (socket) => {
  const client = { socket, sent: 0, acked: 0, subscribed: false };
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.op === 'hello') {
      socket.send(JSON.stringify({ op: 'welcome', session: `n-${clients.length}`, resume: 'x', resumed: false,
                                   acked: 0, topics: [], limits: { window } }));
    } else if (frame.op === 'subscribe') {
      socket.send(JSON.stringify({ op: 'subscribed', ref: frame.ref, topics: frame.topics }));
      client.subscribed = true;
      clients.push(client);
      if (clients.length === clientCount) setImmediate(publish);
    } else if (frame.op === 'ack') {
      if (typeof frame.upto === 'number' && frame.upto > client.acked) client.acked = frame.upto;
      pump(client);
      if (clients.every((each) => each.acked >= eventCount)) finish();
      else setImmediate(publish);
    }
  });
});

// Sends what the client's window allows.
function pump(client) {
  while (client.sent < published && client.sent - client.acked < window) {
    const seq = ++client.sent;
    client.socket.send(`{"op":"event","id":"n.${seq}","seq":${seq},"topic":"tick","data":${payloads[seq - 1]},"attempt":1}`);
  }
}

let publishing = false;
function publish() {
  if (publishing) return;
  publishing = true;
  let slowest = Infinity;
  for (const each of clients) slowest = Math.min(slowest, each.acked);
  while (published < eventCount && published - slowest < lead) {
    payloads.push(`{"n":${published},"t":${process.hrtime.bigint()}}`);
    published += 1;
    for (const each of clients) pump(each);
  }
  publishing = false;
}

function finish() {
  server.close();
  for (const each of clients) each.socket.terminate();
  process.exit(0);
}
