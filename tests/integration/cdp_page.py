#!/usr/bin/env python3
"""Drives one page of a headless Chromium over the DevTools protocol, with
the standard library only (a minimal WebSocket client), for tests that must
see what a page shows after it ran its scripts: `chromium --dump-dom` and
`--screenshot` take the page right after its load event, before a
server-sent-events page has had its first message.

Chromium must run with --remote-debugging-port=PORT (127.0.0.1 only).

  cdp_page.py PORT open URL                 navigate the first page to URL
  cdp_page.py PORT eval EXPR                print EXPR's value (JSON)
  cdp_page.py PORT wait SECONDS EXPR        poll EXPR every 50 ms until truthy; prints
                                            the seconds it took and the wall time then
                                            (ns since the epoch); exit 1 on timeout
  cdp_page.py PORT screenshot FILE W H      PNG of the page at W x H
"""
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.request


class Page:
    def __init__(self, port):
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise SystemExit("cdp_page: no page target")
        url = pages[0]["webSocketDebuggerUrl"]  # ws://127.0.0.1:PORT/devtools/page/ID
        hostport, path = url[len("ws://"):].split("/", 1)
        host, p = hostport.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"cdp_page: refusing non-loopback {url}")
        self.sock = socket.create_connection(("127.0.0.1", int(p)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise SystemExit("cdp_page: websocket handshake closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise SystemExit(f"cdp_page: websocket handshake refused: {head!r}")
        self.next_id = 0

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise SystemExit("cdp_page: websocket closed")
            out += chunk
        return out

    def _send(self, text):
        data = text.encode()
        head = bytes([0x81])  # FIN, text
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _recv_message(self):
        payload = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if b0 & 0x0F == 0x8:
                raise SystemExit("cdp_page: websocket closed by the browser")
            if b0 & 0x0F in (0x9, 0xA):  # ping/pong: nothing to answer for a short session
                continue
            payload += data
            if b0 & 0x80:
                return payload.decode()

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._recv_message())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise SystemExit(f"cdp_page: {method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise SystemExit(f"cdp_page: {expr}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")


def main():
    port, cmd, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    page = Page(port)
    if cmd == "open":
        page.call("Page.navigate", url=args[0])
    elif cmd == "eval":
        print(json.dumps(page.eval(args[0])))
    elif cmd == "wait":
        timeout, expr = float(args[0]), args[1]
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if page.eval(expr):
                print(f"{time.monotonic() - start:.3f} {time.time_ns()}")
                return 0
            time.sleep(0.05)
        print(f"cdp_page: after {timeout} s still false: {expr}", file=sys.stderr)
        return 1
    elif cmd == "screenshot":
        w, h = int(args[1]), int(args[2])
        page.call("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1, mobile=False)
        time.sleep(0.3)  # the chart redraws at the new width
        shot = page.call("Page.captureScreenshot", format="png")
        with open(args[0], "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    else:
        raise SystemExit(f"cdp_page: unknown command {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
