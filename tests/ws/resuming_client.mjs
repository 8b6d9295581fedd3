// A courier.v1 client as docs/protocol.md describes one, written with Node's
// `ws` package (nobody here wrote it): it keeps the highest seq it
// processed, skips (and acks) what comes again, and comes back with its
// resume token and `acked` 20 ms after any loss, to `url` again, which may
// be a load balancer that sends it to another node. Used by the cluster
// kill test and by the kill run beside Socket.IO (bench/ws_kill_compare.mjs).
//
// The returned object is the client's record: `got` (each event's
// data.parcel, in the order processed), `welcomes`, `lostSession` (welcomes
// that did not resume a session it had), `subscribed`, `session`; set `done`
// to keep it from reconnecting.
import WebSocket from 'ws';

export function resumingClient(url, name, topic) {
  const client = { name, token: null, session: null, lastSeq: 0, got: [], welcomes: 0, lostSession: 0, socket: null, done: false };
  const connect = () => {
    if (client.done) return;
    const socket = new WebSocket(url, 'courier.v1');
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
        if (!frame.topics.includes(topic)) {
          socket.send(JSON.stringify({ op: 'subscribe', topics: [topic], ref: 'sub' }));
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
