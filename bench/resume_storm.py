#!/usr/bin/env python3
"""A resume storm against a lanchat server, for docs/BENCHMARKS.md.

    resume_storm.py fill PORT COUNT     # store COUNT messages of about 8 KB
    resume_storm.py storm PORT CONNECTIONS SECONDS

`fill` sends COUNT messages of 2,000 four-byte characters (8,000 bytes of
text, the most a message may hold) from one client and waits for each
echo, so the history is on disk when it returns.

`storm` is issue 10's attack, repeated for SECONDS: CONNECTIONS clients
from one address each send `hello` with `since: 0` (replay everything),
read nothing after that, and are closed after a second; then it starts
again. Run it beside lanchat-bench to see what it does to everyone else's
messages.
"""

import json
import socket
import sys
import time

TEXT = "\U0001F600" * 2000


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send(sock, message):
    sock.sendall((json.dumps(message, ensure_ascii=False) + "\n").encode())


def lines(sock):
    """Yields the server's lines as parsed JSON, forever."""
    pending = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield json.loads(line)


def fill(port, count):
    sock = connect(port)
    incoming = lines(sock)
    send(sock, {"type": "hello", "nick": "filler"})
    for message in incoming:
        if message.get("type") == "history_end":
            break
    for n in range(count):
        send(sock, {"type": "say", "text": TEXT, "client_id": f"fill-{n}"})
        for message in incoming:
            if message.get("type") == "message" and message.get("client_id") == f"fill-{n}":
                break
            if message.get("type") == "error":
                raise RuntimeError(f"message {n} refused: {message}")
    send(sock, {"type": "quit"})
    sock.close()
    print(f"stored {count} messages of {len(TEXT.encode())} bytes")


def storm(port, connections, seconds):
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        socks = []
        for n in range(connections):
            sock = connect(port)
            # The receive buffer stays small, as a client that stops reading has.
            send(sock, {"type": "hello", "nick": f"storm{rounds % 2}x{n}", "since": 0})
            socks.append(sock)
        time.sleep(1.0)
        for sock in socks:
            sock.close()
        rounds += 1
        # Let the server notice the closes and free the nicknames.
        time.sleep(0.2)
    print(f"{rounds} rounds of {connections} resumes")


def main():
    command, port = sys.argv[1], int(sys.argv[2])
    if command == "fill":
        fill(port, int(sys.argv[3]))
    elif command == "storm":
        storm(port, int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
