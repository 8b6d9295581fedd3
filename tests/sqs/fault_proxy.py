"""A loopback HTTP proxy in front of an SQS endpoint that fails on purpose.

For each request, seeded and independent:
  --error-rate    answers 500 InternalError without forwarding
  --throttle-rate answers 400 ThrottlingException without forwarding
  --drop-rate     closes the connection without an answer: half of these
                  before forwarding (the request never arrived), half after
                  (it was applied, the answer was lost)
Everything else is forwarded and its answer relayed. Keep-alive works, so
a client's connection reuse is exercised too.

  fault_proxy.py start DIR UPSTREAM_DIR [rates...]  writes DIR/endpoint, DIR/upstream_endpoint, DIR/pid
  fault_proxy.py stop DIR
Only the Python standard library.
"""
import argparse
import asyncio
import os
import pathlib
import random
import signal
import subprocess
import sys
import time


async def read_message(reader):
    """One HTTP/1.1 message (request or response) with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head, body


def canned(status, reason, error_type, message):
    body = ('{"__type": "com.amazonaws.sqs#%s", "message": "%s"}' % (error_type, message)).encode()
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n"
            % (status, reason.encode(), len(body))) + body


def serve(args):
    upstream = (pathlib.Path(args.upstream_dir) / "endpoint").read_text().strip()
    host, port = upstream.removeprefix("http://").split(":")
    chance = random.Random(args.seed)

    async def handle(client_reader, client_writer):
        up_reader = up_writer = None
        try:
            while True:
                try:
                    head, body = await read_message(client_reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                roll = chance.random()
                if roll < args.error_rate:
                    client_writer.write(canned(500, "Internal Server Error", "InternalError", "injected by fault_proxy"))
                    await client_writer.drain()
                    continue
                roll -= args.error_rate
                if roll < args.throttle_rate:
                    client_writer.write(canned(400, "Bad Request", "ThrottlingException", "injected by fault_proxy"))
                    await client_writer.drain()
                    continue
                roll -= args.throttle_rate
                drop = roll < args.drop_rate
                if drop and chance.random() < 0.5:
                    return  # dropped before forwarding
                if up_writer is None:
                    up_reader, up_writer = await asyncio.open_connection(host, int(port))
                up_writer.write(head + body)
                await up_writer.drain()
                answer = b"".join(await read_message(up_reader))
                if drop:
                    return  # applied upstream, the answer lost
                client_writer.write(answer)
                await client_writer.drain()
        finally:
            client_writer.close()
            if up_writer is not None:
                up_writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        (pathlib.Path(args.dir) / "endpoint").write_text("http://127.0.0.1:%d\n" % port)
        # The server behind it, for tests that set up through it unharmed.
        (pathlib.Path(args.dir) / "upstream_endpoint").write_text(upstream + "\n")
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["start", "stop", "serve"])
    parser.add_argument("dir")
    parser.add_argument("upstream_dir", nargs="?")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    state = pathlib.Path(args.dir)
    state.mkdir(parents=True, exist_ok=True)
    if args.action == "serve":
        serve(args)
    elif args.action == "start":
        (state / "endpoint").unlink(missing_ok=True)
        child = subprocess.Popen([sys.executable, __file__, "serve"] + sys.argv[2:],
                                 stdout=open(state / "proxy.log", "w"), stderr=subprocess.STDOUT)
        (state / "pid").write_text(str(child.pid))
        for _ in range(100):
            if (state / "endpoint").exists() and (state / "endpoint").read_text().endswith("\n"):
                print("fault proxy up at", (state / "endpoint").read_text().strip(), "pid", child.pid)
                return
            if child.poll() is not None:
                sys.exit("fault_proxy: exited at start; see " + str(state / "proxy.log"))
            time.sleep(0.1)
        child.kill()
        sys.exit("fault_proxy: did not start within 10 s")
    else:
        pid_file = state / "pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass
            pid_file.unlink()


if __name__ == "__main__":
    main()
