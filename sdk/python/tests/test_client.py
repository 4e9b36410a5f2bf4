"""The client layer (HTTP, typed errors, exec/events/console/logs streams)
against a small fake daemon on a Unix socket: no real daemon needed.

The fake speaks the documented protocol (docs/api.md): JSON errors before the
upgrade, then [type u8][payload] binary WebSocket messages.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
import unittest
from collections.abc import Callable

import banger
from banger import _ws

from wsserver import ServerEnd

Handler = Callable[[ServerEnd, str, dict[str, str]], None]


def http_answer(s: ServerEnd, status: int, body: bytes, ctype: str = "application/json") -> None:
    s.sock.sendall(
        f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def read_body(s: ServerEnd, headers: dict[str, str]) -> bytes:
    n = int(headers.get("content-length", "0"))
    while len(s.buf) < n:
        s._fill()
    body = bytes(s.buf[:n])
    del s.buf[:n]
    return body


def upgrade(s: ServerEnd, headers: dict[str, str]) -> None:
    accept = _ws.accept_key(headers["sec-websocket-key"])
    s.sock.sendall(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )


def send_msg(s: ServerEnd, mtype: int, payload: bytes = b"") -> None:
    s.send_frame(_ws.OP_BINARY, bytes([mtype]) + payload)


class FakeDaemon:
    def __init__(self, handler: Handler) -> None:
        self.dir = tempfile.mkdtemp(prefix="pysdk-")
        self.path = os.path.join(self.dir, "bangerd.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.handler = handler
        self.errors: list[BaseException] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        s = ServerEnd(conn)
        try:
            line, headers = s.read_request()
            self.requests.append((line, headers, b""))
            self.handler(s, line, headers)
        except EOFError:
            pass
        except BaseException as e:
            self.errors.append(e)
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


VM = {"id": "a" * 64, "name": "v1", "state": "running", "labels": {"k": "v"}}


def handler(s: ServerEnd, line: str, headers: dict[str, str]) -> None:
    method, target, _ = line.split(" ")
    if target == "/v1/ping":
        http_answer(s, 200, b'{"api": 1, "version": "0.1.0"}')
    elif method == "POST" and target == "/v1/vms":
        body = json.loads(read_body(s, headers))
        if body.get("name") == "Bad_Name":
            http_answer(s, 400, b'{"error":{"code":"invalid_argument","message":"invalid vm name \\"Bad_Name\\": no"}}')
        else:
            http_answer(s, 201, json.dumps({**VM, "name": body.get("name", "v1"), "echo": body}).encode())
    elif target.startswith("/v1/vms/nope"):
        http_answer(s, 404, b'{"error":{"code":"not_found","message":"no vm named nope"}}')
    elif target == "/v1/vms/" + "a" * 64 + "/exec":
        upgrade(s, headers)
        op, req = s.read_message()
        if op != _ws.OP_TEXT:
            raise AssertionError("exec: the first message must be text")
        argv = json.loads(req)["argv"]
        stdin = b""
        while True:
            op, msg = s.read_message()
            if msg[0] == 1:
                stdin += msg[1:]
            elif msg[0] == 4:
                break
        if argv == ["fail"]:
            send_msg(s, 8, b'{"code":"conflict","message":"vm v1 is stopped: start it"}')
        elif argv == ["hang"]:
            try:
                s.read_message()  # until the client hangs up
            except (EOFError, OSError):
                pass
            return
        else:
            send_msg(s, 2, b"out:" + stdin)
            s.send_frame(_ws.OP_PING, b"p")
            send_msg(s, 3, b"err:" + json.dumps(argv).encode())
            send_msg(s, 5, b'{"code": 3, "signaled": false, "signo": 0, "core": false}')
        s.send_close()
        try:
            s.read_message()
        except (EOFError, OSError):
            pass
    elif target.startswith("/v1/events/stream?after="):
        after = int(target.split("=")[1])
        upgrade(s, headers)
        for seq in range(after + 1, after + 4):
            ev = {"seq": seq, "at": "t", "type": "vm.created", "vm_id": "x", "vm_name": f"n{seq}", "data": {"a": 1}}
            send_msg(s, 11, json.dumps(ev).encode())
        try:
            s.read_message()
        except (EOFError, OSError):
            pass
    elif "/console?offset=" in target:
        upgrade(s, headers)
        send_msg(s, 2, b"boot ")
        send_msg(s, 2, b"log")
        send_msg(s, 10, b'{"next_offset": 8, "state": "stopped"}')
        s.send_close()
    else:
        http_answer(s, 404, b'{"error":{"code":"not_found","message":"no such endpoint"}}')


class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.daemon = FakeDaemon(handler)
        self.client = banger.connect(self.daemon.path, timeout=10)

    def tearDown(self) -> None:
        self.daemon.close()
        self.assertEqual(self.daemon.errors, [])

    def test_socket_lookup_order(self) -> None:
        from banger._http import default_socket_path

        saved = {k: os.environ.pop(k, None) for k in ("BANGER_SOCKET", "BANGER_HOME", "HOME")}
        try:
            os.environ["HOME"] = "/home/u"
            if os.geteuid() != 0:
                self.assertEqual(default_socket_path(), "/home/u/.local/share/banger/bangerd.sock")
            else:
                self.assertEqual(default_socket_path(), "/var/lib/banger/bangerd.sock")
            os.environ["BANGER_HOME"] = "/h"
            self.assertEqual(default_socket_path(), "/h/bangerd.sock")
            os.environ["BANGER_SOCKET"] = "/s.sock"
            self.assertEqual(default_socket_path(), "/s.sock")
            self.assertEqual(banger.connect("/explicit.sock").socket_path, "/explicit.sock")
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None)
                if v is not None:
                    os.environ[k] = v

    def test_ping_and_create(self) -> None:
        self.assertEqual(self.client.ping()["api"], 1)
        vm = self.client.vms.create(name="v2", vcpus=2, memory_mib=512, labels={"a": "b"})
        self.assertEqual(vm.name, "v2")
        self.assertEqual(vm.raw["echo"], {"name": "v2", "vcpu_count": 2, "memory_mib": 512, "labels": {"a": "b"}})

    def test_typed_errors(self) -> None:
        with self.assertRaises(banger.InvalidArgumentError) as cm:
            self.client.vms.create(name="Bad_Name")
        self.assertEqual((cm.exception.code, cm.exception.status), ("invalid_argument", 400))
        self.assertEqual(cm.exception.message, 'invalid vm name "Bad_Name": no')
        with self.assertRaises(banger.NotFoundError) as nf:
            self.client.vms.get("nope")
        self.assertEqual(nf.exception.message, "no vm named nope")
        with self.assertRaises(banger.NotFoundError):
            banger.Vm(self.client, {"name": "nope"}).exec(["true"])  # before the upgrade
        with self.assertRaises(banger.UnavailableError):
            banger.connect(self.daemon.path + ".missing").ping()
        n = len(self.daemon.requests)
        for bad in (
            lambda: self.client.vms.create(vcpus=0),
            lambda: self.client.vms.create(memory_mib=True),  # type: ignore[arg-type]
            lambda: self.client.vms.create(labels={"a": 1}),  # type: ignore[dict-item]
            lambda: self.client.vms.get(""),
            lambda: banger.Vm(self.client, VM).exec("ls -l"),  # type: ignore[arg-type]
            lambda: banger.Vm(self.client, VM).exec(["ls"], timeout=-1),
            lambda: banger.Vm(self.client, VM).files.read("etc/passwd"),
            lambda: banger.Vm(self.client, VM).ports.unpublish(70000),
        ):
            with self.assertRaises(banger.InvalidArgumentError):
                bad()
        self.assertEqual(len(self.daemon.requests), n)  # none reached the daemon

    def test_exec_stream(self) -> None:
        vm = banger.Vm(self.client, VM)
        got: list[bytes] = []
        r = vm.exec(["cat"], stdin=b"in", on_stdout=got.append)
        self.assertEqual((r.exit_code, r.stdout, r.stderr), (3, b"out:in", b'err:["cat"]'))
        self.assertEqual(got, [b"out:in"])
        big = os.urandom(200_000)  # fed by the thread, in chunks
        self.assertEqual(vm.exec(["cat"], stdin=big).stdout, b"out:" + big)

    def test_exec_error_message_is_typed(self) -> None:
        with self.assertRaises(banger.ConflictError) as cm:
            banger.Vm(self.client, VM).exec(["fail"])
        self.assertEqual(cm.exception.message, "vm v1 is stopped: start it")

    def test_exec_timeout(self) -> None:
        t0 = time.monotonic()
        with self.assertRaises(banger.BangerTimeoutError):
            banger.Vm(self.client, VM).exec(["hang"], timeout=0.5)
        self.assertLess(time.monotonic() - t0, 5)

    def test_events(self) -> None:
        with self.client.events(after=10) as events:
            got = [events.next(timeout=5) for _ in range(3)]
        self.assertEqual([e.seq for e in got if e], [11, 12, 13])
        self.assertEqual(got[0].vm_name if got[0] else "", "n11")
        self.assertEqual(events.last_seq, 13)
        with self.assertRaises(banger.InvalidArgumentError):
            self.client.events(after=-1)

    def test_console(self) -> None:
        con = banger.Vm(self.client, VM).console()
        self.assertEqual(b"".join(con), b"boot log")
        self.assertEqual((con.next_offset, con.state), (8, "stopped"))


if __name__ == "__main__":
    unittest.main()
