// The dashboard's WebSocket server seen by a peer nobody here wrote: Node's
// `ws` package, speaking courier.v1 from docs/protocol.md alone.
//   node node_peer.mjs PORT [tls]
// With tls: https:// and wss:// (the dashboard's certificate trusted through
// NODE_EXTRA_CA_CERTS, so Node checks it as it would any other).
// Scenarios: subscribe, events and acks; connections killed mid-stream and
// resumed with nothing lost or shown twice; publish with receipts and a
// retried key; bad input answered with error frames. Exit 0 when all held.
import WebSocket from 'ws';

const port = Number(process.argv[2]);
const tls = process.argv[3] === 'tls';
const base = `127.0.0.1:${port}`;
let failures = 0;
function check(condition, what) {
  if (!condition) { failures += 1; console.error(`FAIL: ${what}`); } else { console.log(`ok: ${what}`); }
}
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
async function control(path) {
  const response = await fetch(`${tls ? 'https' : 'http'}://${base}/control/${path}`);
  return response.json();
}

// One connection: frames arrive in `inbox`; next(op) waits for one.
function open(hello) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${tls ? 'wss' : 'ws'}://${base}/courier`, 'courier.v1');
    const connection = { socket, inbox: [], waiters: [], closed: null };
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      connection.inbox.push(frame);
      connection.waiters.splice(0).forEach((wake) => wake());
      if (frame.op === 'welcome') resolve(connection);
    });
    socket.on('close', (code) => { connection.closed = code; connection.waiters.splice(0).forEach((w) => w()); });
    socket.on('error', reject);
    socket.on('open', () => socket.send(JSON.stringify({ op: 'hello', client: 'node-peer', ...hello })));
  });
}
async function next(connection, op, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const at = connection.inbox.findIndex((frame) => frame.op === op);
    if (at >= 0) return connection.inbox.splice(at, 1)[0];
    if (connection.closed !== null || Date.now() > deadline) return null;
    await new Promise((wake) => { connection.waiters.push(wake); setTimeout(wake, 50); });
  }
}
const send = (connection, frame) => connection.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));

// --- events across killed connections ------------------------------------
{
  const count = 1500;
  let connection = await open({});
  const welcome = connection.inbox.find((frame) => frame.op === 'welcome');
  check(welcome.resumed === false && typeof welcome.resume === 'string', 'a new session with a resume token');
  send(connection, { op: 'subscribe', topics: ['parcel.delivered'], ref: 's1' });
  const subscribed = await next(connection, 'subscribed');
  check(subscribed && subscribed.ref === 's1' && subscribed.topics.includes('parcel.delivered'), 'subscribed');

  const stats = await control('stats');
  const first = stats.published;
  await control(`publish?count=${count}&gap_us=500`);
  const got = [];
  let lastSeq = 0;
  let kills = 0;
  let resumed = 0;
  const deadline = Date.now() + 30000;
  while (got.length < count && Date.now() < deadline) {
    const event = await next(connection, 'event', 2000);
    if (event === null) {
      // The connection died (we killed it): come back with the token.
      connection = await open({ resume: welcome.resume, acked: lastSeq });
      const again = connection.inbox.find((frame) => frame.op === 'welcome');
      if (again.resumed) resumed += 1;
      continue;
    }
    if (event.seq > lastSeq) {
      got.push(event.data.parcel);
      lastSeq = event.seq;
    }
    if (event.seq % 50 === 0) send(connection, { op: 'ack', upto: lastSeq });
    // Twice mid-stream, drop the TCP connection without a close frame.
    if ((got.length === 400 || got.length === 900) && kills < got.length / 400) {
      kills += 1;
      connection.socket.terminate();
    }
  }
  send(connection, { op: 'ack', upto: lastSeq });
  const expected = Array.from({ length: count }, (_, i) => first + i);
  check(got.length === count, `received ${got.length} of ${count} events`);
  check(JSON.stringify(got) === JSON.stringify(expected), 'every event once, in order, across 2 killed connections');
  check(resumed === kills && kills === 2, `resumed after each kill (${resumed} of ${kills})`);
  await sleep(200);
  const after = await control('stats');
  check(after.unacked === 0, `the server holds nothing unacked (${JSON.stringify(after)})`);
  // A session outlives its connection (session_ttl): leave nothing subscribed
  // behind for the next test on this server.
  send(connection, { op: 'unsubscribe', topics: ['parcel.delivered'], ref: 'bye' });
  check((await next(connection, 'unsubscribed'))?.topics.length === 0, 'unsubscribed');
  connection.socket.close(1000);
}

// --- trace context: a publish's traceparent comes back on what it caused ---
// The pickup goes to the bus, into the dashboard's pickups channel, to its
// driver, whose delivery event is published under the pickup's trace.
{
  const connection = await open({});
  send(connection, { op: 'subscribe', ref: 't', topics: ['parcel.delivered', 'pickup'] });
  await next(connection, 'subscribed');
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const tracestate = 'congo=t61rcWkgMzE';
  const parcel = 900000 + (Date.now() % 1000);  // not a multiple of 4: the driver's first try succeeds
  send(connection, { op: 'publish', ref: 'traced', topic: 'pickup', key: `traced-${parcel}`, group: 'zeta',
                     traceparent, tracestate, data: { vendor: 'zeta', parcel: parcel % 4 === 0 ? parcel + 1 : parcel } });
  const receipt = await next(connection, 'receipt');
  check(receipt && receipt.ref === 'traced', 'the traced publish was accepted');
  const deadline = Date.now() + 10000;
  let pickup = null;
  let delivered = null;
  while ((!pickup || !delivered) && Date.now() < deadline) {
    const event = await next(connection, 'event', deadline - Date.now());
    if (!event) break;
    if (event.topic === 'pickup' && event.data.vendor === 'zeta') pickup = event;
    if (event.topic === 'parcel.delivered' && event.data.vendor === 'zeta') delivered = event;
    send(connection, { op: 'ack', ids: [event.id] });
  }
  check(pickup && pickup.traceparent === traceparent && pickup.tracestate === tracestate,
        `the pickup event carries the publish's trace (${pickup && pickup.traceparent})`);
  check(delivered && delivered.traceparent === traceparent,
        `the delivery it caused, through a channel and a consumer, carries it too (${delivered && delivered.traceparent})`);
  send(connection, { op: 'publish', ref: 'bad-trace', topic: 'pickup', key: `bad-trace-${parcel}`, group: 'zeta',
                     traceparent: 'not-a-traceparent', data: { vendor: 'yeti', parcel: 1 } });
  const accepted = await next(connection, 'receipt');
  check(accepted && accepted.ref === 'bad-trace', 'a malformed traceparent is ignored, the publish accepted');
  const untraced = await next(connection, 'event');
  check(untraced && untraced.traceparent === undefined, 'and its event carries none');
  connection.socket.close(1000);
}

// --- publish, receipts, a retried key, bad input --------------------------
{
  const connection = await open({});
  const key = `node-${Date.now()}`;
  send(connection, { op: 'publish', ref: 'p1', topic: 'pickup', key, group: 'acme', data: { vendor: 'acme', parcel: 5 } });
  const receipt = await next(connection, 'receipt');
  check(receipt && receipt.ref === 'p1' && receipt.duplicate === false && typeof receipt.id === 'string', 'a receipt');
  send(connection, { op: 'publish', ref: 'p2', topic: 'pickup', key, group: 'acme', data: { vendor: 'acme', parcel: 5 } });
  const retry = await next(connection, 'receipt');
  check(retry && retry.duplicate === true && retry.id === receipt.id, 'a retried key is a duplicate with the first id');

  const bad = [
    ['not json at all', 'malformed_json'],
    [{ op: 'levitate' }, 'unknown_op'],
    [{ op: 'subscribe' }, 'missing_field'],
    [{ op: 'ack', upto: 'soon' }, 'wrong_type'],
    [{ op: 'ack', ids: ['never-sent'] }, 'unknown_id'],
    [{ op: 'publish', topic: 'pickup', group: 'acme', data: { vendor: 3 } }, 'invalid_data'],
    [{ op: 'publish', topic: 'nowhere', data: {} }, 'unknown_topic'],
  ];
  for (const [frame, code] of bad) {
    send(connection, frame);
    const error = await next(connection, 'error');
    check(error && error.code === code && error.fatal === false, `${code} for ${JSON.stringify(frame)}`);
  }
  send(connection, { op: 'subscribe', topics: ['pickup'], ref: 'still' });
  const still = await next(connection, 'subscribed');
  check(still && still.ref === 'still', 'the connection still works after bad input');
  connection.socket.send(Buffer.from([1, 2, 3]), { binary: true });
  const binary = await next(connection, 'error');
  check(binary && binary.code === 'binary_frame' && binary.fatal === true, 'a binary frame is refused');
  await next(connection, 'never', 2000);
  check(connection.closed === 1003, `closed with 1003 (got ${connection.closed})`);
}

console.log(failures === 0 ? 'node peer: every scenario held' : `node peer: ${failures} failures`);
process.exit(failures === 0 ? 0 : 1);
