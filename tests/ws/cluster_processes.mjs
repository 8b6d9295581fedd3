// The plumbing of a kill run, shared by the cluster kill test
// (tests/ws/cluster_kill.mjs) and the side-by-side kill run of courier and
// Socket.IO (bench/ws_kill_compare.mjs): WebSocket nodes as processes of
// their own, Debian's haproxy in front of them, and SIGKILLs at seeded
// moments with each victim started again on its port. What a node is
// (a courier dashboard, a Socket.IO server) is the caller's: it passes a
// function that starts one and waits until it listens.
import { spawn } from 'node:child_process';
import { writeFileSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// A run's `--name value` options (the arguments after the positional ones):
// text(name) as given, or undefined; number(name, fallback) as a number.
export function runOptions(rest) {
  const text = (name) => {
    const at = rest.indexOf(`--${name}`);
    return at >= 0 ? rest[at + 1] : undefined;
  };
  const number = (name, fallback) => (text(name) === undefined ? fallback : Number(text(name)));
  return { text, number };
}

// mulberry32: the kills' moments and victims from the seed, the same on
// every machine and for every system a run compares.
export function seeded(value) {
  let state = value >>> 0;
  return () => {
    state = (state + 0x6D2B79F5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Every child a run starts, so that all of them end by their own PIDs,
// whatever way the run ends.
export class children {
  #started = [];

  constructor() {
    process.on('exit', () => this.endAll());
  }

  spawn(command, args, options) {
    const child = spawn(command, args, options);
    this.#started.push(child);
    return child;
  }

  endAll() {
    for (const child of this.#started) {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone already */ }
      }
    }
  }
}

// haproxy in front of `nodes` ({name, port}), round robin, a node taken out
// after one failed health check (GET healthPath every 100 ms) and back after
// one good one. Its log goes to WORK_DIR/haproxy.log. Returns its port once
// it answers healthPath itself.
export async function startBalancer(processes, workDir, nodes, healthPath) {
  const port = await freePort();
  const config = path.join(workDir, 'haproxy.cfg');
  writeFileSync(config, `global
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
  bind 127.0.0.1:${port}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET ${healthPath}
${nodes.map((node) => `  server ${node.name} 127.0.0.1:${node.port} check inter 100 fall 1 rise 1`).join('\n')}
`);
  const log = openSync(path.join(workDir, 'haproxy.log'), 'w');
  const haproxy = processes.spawn('haproxy', ['-f', config, '-db'], { stdio: ['ignore', log, log] });
  for (let i = 0; ; i += 1) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}${healthPath}`);
      if (response.ok) return port;
    } catch { /* not yet */ }
    if (i > 200 || haproxy.exitCode !== null) throw new Error('haproxy did not start (see haproxy.log)');
    await sleep(25);
  }
}

// Resolves once child has exited (at once if it has).
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', resolve));
}

// `kills` SIGKILLs spread over `spanMs` at seeded moments. The victim is a
// node some client is connected to (its GET /control/stats says more than
// the one connection of that request), or any node when none is; `first`,
// when given, is the first victim. Each comes back on its port 50-250 ms
// after it has exited, through `restart(node)`, which resolves once it
// listens and returns what to merge into the node ({child, ...}). Returns
// the number of kills.
export async function killAtSeededMoments({ nodes, random, kills, spanMs, first, restart }) {
  let killed = 0;
  while (killed < kills) {
    await sleep(Math.round((spanMs / (kills + 1)) * (0.5 + random())));
    const holding = [];
    for (const node of nodes) {
      try {
        const stats = await (await fetch(`http://127.0.0.1:${node.port}/control/stats`)).json();
        if (stats.connections > 1) holding.push(node);
      } catch { /* restarting */ }
    }
    const pool = holding.length > 0 ? holding : nodes;
    const victim = killed === 0 && first ? first : pool[Math.floor(random() * pool.length)];
    process.kill(victim.child.pid, 'SIGKILL');
    killed += 1;
    // Its listening socket is free only once the process is gone; a
    // sanitizer build can take longer to die than the pause below, and its
    // successor then found the port in use.
    await exited(victim.child);
    await sleep(50 + Math.round(random() * 200));
    Object.assign(victim, await restart(victim));
  }
  return killed;
}
