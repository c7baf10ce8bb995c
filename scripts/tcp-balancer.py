#!/usr/bin/env python3
"""A TCP round-robin load balancer for scripts/bench-rws.sh (NODES=2).

Usage: tcp-balancer.py LISTEN_PORT HOST:PORT [HOST:PORT ...]

What a plain TCP (layer 4) balancer does, and nothing more: each new client
connection goes to the next backend in turn and its bytes are copied both
ways until either side closes (half-closes are passed on). Nothing is parsed,
so HTTP keep-alive requests and WebSockets stay on the node their connection
reached, exactly as behind HAProxy in `mode tcp`. No health checks: the
benchmark starts every node and waits for its /healthz before sending load.
Prints "listening" on stdout once it accepts connections.
"""

import asyncio
import itertools
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def main():
    port = int(sys.argv[1])
    backends = []
    for b in sys.argv[2:]:
        host, _, p = b.rpartition(":")
        backends.append((host, int(p)))
    if not backends:
        sys.exit("tcp-balancer.py: give at least one HOST:PORT backend")
    turn = itertools.cycle(backends)

    async def handle(client_r, client_w):
        host, p = next(turn)
        try:
            node_r, node_w = await asyncio.open_connection(host, p)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(pipe(client_r, node_w), pipe(node_r, client_w))
        finally:
            node_w.close()
            client_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
