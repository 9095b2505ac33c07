#!/usr/bin/env python3
"""Helpers of bench/console-memory.sh (loopback only, bounded in time).

    console-memory.py sink PORT
        An SMTP listener on 127.0.0.1:PORT that takes sessions and refuses every
        RCPT with 451 4.7.1: mail relayed to it is deferred. Runs until killed.
    console-memory.py total SOCKET [STATE]
        Prints how many queued messages match (queue.search, limit 1).
    console-memory.py search SOCKET COUNT [LIMIT]
        COUNT queue.search requests over one control connection: a third unfiltered
        pages at offsets spread over the queue, a third by text, a third by state.
        Prints: searches=N total=T seconds=S ms_per_search=M (page P, text X, state Y) entries=E
    console-memory.py list SOCKET
        One queue.list (the whole queue as snapshots), for contrast.
        Prints: listed=N seconds=S
"""
import asyncio
import json
import socket
import sys
import time


async def sink(port):
    async def session(reader, writer):
        def say(line):
            writer.write(line.encode() + b"\r\n")
        say("220 tempfail.bench.test ESMTP")
        in_data = False
        try:
            while True:
                line = await asyncio.wait_for(reader.readline(), 300)
                if not line:
                    break
                if in_data:
                    if line in (b".\r\n", b".\n"):
                        in_data = False
                        say("250 2.0.0 ok")
                    continue
                verb = line[:4].upper()
                if verb == b"EHLO":
                    say("250-tempfail.bench.test")
                    say("250-PIPELINING")
                    say("250 8BITMIME")
                elif verb == b"RCPT":
                    say("451 4.7.1 bench: try again later")
                elif verb == b"DATA":
                    say("554 5.5.1 no valid recipients")
                elif verb == b"QUIT":
                    say("221 2.0.0 bye")
                    await writer.drain()
                    break
                else:
                    say("250 2.0.0 ok")
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


class Control:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def send(self, command, args=None):
        request = {"command": command}
        if args is not None:
            request["args"] = args
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        parts = []
        while True:
            line = self.file.readline()
            if not line:
                raise SystemExit("control connection closed")
            response = json.loads(line)
            if not response.get("ok"):
                raise SystemExit(f"{command}: {response.get('error')}")
            if response.get("more"):
                parts.append(response["result"])
            else:
                return parts, response.get("result")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode = sys.argv[1]
    if mode == "sink":
        asyncio.run(sink(int(sys.argv[2])))
        return 0
    control = Control(sys.argv[2])
    if mode == "total":
        args = {"limit": 1}
        if len(sys.argv) > 3:
            args["state"] = sys.argv[3]
        _, summary = control.send("queue.search", args)
        print(summary["total"])
        return 0
    if mode == "search":
        count = int(sys.argv[3])
        limit = int(sys.argv[4]) if len(sys.argv) > 4 else 50
        _, summary = control.send("queue.search", {"limit": 1})
        total = summary["total"]
        entries = 0
        spent = [0.0, 0.0, 0.0]
        started = time.monotonic()
        for i in range(count):
            kind = i % 3
            began = time.monotonic()
            if kind == 0:
                args = {"offset": (i * 7919) % max(total, 1), "limit": limit}
            elif kind == 1:
                # Matches every message (the recipient's domain): counting walks the whole queue.
                args = {"text": "DEFERRED.test", "offset": i, "limit": limit}
            else:
                args = {"state": "deferred", "offset": (i * 104729) % max(total, 1), "limit": limit}
            parts, _ = control.send("queue.search", args)
            spent[kind] += time.monotonic() - began
            entries += len(parts)
        seconds = time.monotonic() - started
        per = [1000 * spent[k] / max(1, len(range(k, count, 3))) for k in range(3)]
        print(f"searches={count} total={total} seconds={seconds:.2f} ms_per_search={1000 * seconds / count:.1f}"
              f" (page {per[0]:.1f}, text {per[1]:.1f}, state {per[2]:.1f}) entries={entries}")
        return 0
    if mode == "list":
        started = time.monotonic()
        parts, _ = control.send("queue.list")
        print(f"listed={len(parts)} seconds={time.monotonic() - started:.2f}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
