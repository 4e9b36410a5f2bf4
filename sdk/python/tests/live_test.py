"""The Python SDK against a live bangerd booting a real guest (QEMU TCG).

Run inside tests/live/with-daemon.sh (it exports BANGER_SOCKET and builds the
agent image "t", the default image). One VM is booted for the whole suite.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import unittest

import banger

LIVE = bool(os.environ.get("BANGER_SOCKET"))
VM_NAME = "py-sdk"


@unittest.skipUnless(LIVE, "needs a live daemon: run under tests/live/with-daemon.sh")
class LiveTest(unittest.TestCase):
    client: banger.Client
    vm: banger.Vm

    @classmethod
    def setUpClass(cls) -> None:
        cls.client = banger.connect()  # found through BANGER_SOCKET
        cls.vm = cls.client.vms.create(name=VM_NAME, labels={"suite": "python-sdk"})

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.vms.delete(VM_NAME, missing_ok=True)

    def test_ping(self) -> None:
        info = self.client.ping()
        self.assertEqual(info["api"], 1)
        self.assertIn("version", info)

    def test_create_list_get(self) -> None:
        self.assertEqual(self.vm.name, VM_NAME)
        self.assertEqual(self.vm.state, "running")
        self.assertEqual(self.vm.labels, {"suite": "python-sdk"})
        listed = self.client.vms.list(labels={"suite": "python-sdk"})
        self.assertEqual([v.id for v in listed], [self.vm.id])
        self.assertEqual(self.client.vms.list(labels={"suite": "nope"}), [])
        self.assertEqual(self.client.vms.get(VM_NAME).id, self.vm.id)
        self.assertEqual(self.client.vms.get(self.vm.id[:12]).name, VM_NAME)

    def test_exec_echo(self) -> None:
        r = self.vm.exec(["echo", "hello"], timeout=180)
        self.assertEqual((r.exit_code, r.stdout, r.stderr), (0, b"hello\n", b""))
        self.assertTrue(r.ok)
        self.assertEqual(r.stdout_text, "hello\n")

    def test_exec_stdin(self) -> None:
        self.assertEqual(self.vm.exec(["cat"], stdin=b"from stdin\n", timeout=180).stdout, b"from stdin\n")
        self.assertEqual(self.vm.exec(["cat"], stdin="text too", timeout=180).stdout, b"text too")
        # Larger than one chunk: fed by a thread while the output is read.
        data = os.urandom(300_000)
        r = self.vm.exec(["sha256sum"], stdin=data, timeout=180)
        self.assertEqual(r.stdout.split()[0].decode(), hashlib.sha256(data).hexdigest())
        # No stdin: EOF at once, cat ends.
        self.assertEqual(self.vm.exec(["cat"], timeout=180).exit_code, 0)

    def test_exec_nonzero_exit_and_stderr(self) -> None:
        seen: list[bytes] = []
        r = self.vm.exec(["sh", "-c", "echo out; echo oops >&2; exit 7"], on_stderr=seen.append, timeout=180)
        self.assertEqual(r.exit_code, 7)
        self.assertFalse(r.ok)
        self.assertEqual(r.stdout, b"out\n")
        self.assertEqual(r.stderr, b"oops\n")
        self.assertEqual(b"".join(seen), b"oops\n")

    def test_exec_env_cwd_user(self) -> None:
        r = self.vm.exec(["sh", "-c", 'echo "$FOO"; pwd; id -u'], env={"FOO": "bar baz"}, cwd="/tmp", timeout=180)
        self.assertEqual(r.stdout_text.splitlines(), ["bar baz", "/tmp", "0"])
        r = self.vm.exec(["id", "-u"], user="1234", timeout=180)
        self.assertEqual(r.stdout_text.strip(), "1234")

    def test_exec_timeout(self) -> None:
        self.vm.exec(["true"], timeout=180)  # the agent is up
        t0 = time.monotonic()
        with self.assertRaises(banger.BangerTimeoutError):
            self.vm.exec(["sleep", "60"], timeout=2)
        self.assertLess(time.monotonic() - t0, 15)

    def test_files(self) -> None:
        self.vm.exec(["mkdir", "-p", "/tmp/pysdk"], timeout=180)
        payload = bytes(range(256)) * 40
        self.assertEqual(self.vm.files.write("/tmp/pysdk/blob.bin", payload, mode=0o600), len(payload))
        self.vm.files.write("/tmp/pysdk/note.txt", "hello file\n")
        self.assertEqual(self.vm.files.read("/tmp/pysdk/blob.bin"), payload)
        self.assertEqual(self.vm.files.read_text("/tmp/pysdk/note.txt"), "hello file\n")
        entries = {e.name: e for e in self.vm.files.list("/tmp/pysdk")}
        self.assertEqual(sorted(entries), ["blob.bin", "note.txt"])
        self.assertEqual(entries["blob.bin"].type, "file")
        self.assertEqual(entries["blob.bin"].size, len(payload))
        self.assertEqual(entries["blob.bin"].mode & 0o777, 0o600)
        self.assertEqual(self.vm.files.stat("/tmp/pysdk").type, "dir")
        with self.assertRaises(banger.NotFoundError):
            self.vm.files.read("/tmp/pysdk/missing")
        with self.assertRaises(banger.InvalidArgumentError):
            self.vm.files.read("relative/path")  # checked client-side

    def test_ports(self) -> None:
        with socket.socket() as s:  # a free loopback port for the host side
            s.bind(("127.0.0.1", 0))
            host_port = s.getsockname()[1]
        self.assertEqual(self.vm.ports.list(), [])
        p = self.vm.ports.publish(f"127.0.0.1:{host_port}:8080")
        self.assertEqual((p.host_port, p.guest_port, p.protocol), (host_port, 8080, "tcp"))
        self.assertEqual([x.spec for x in self.vm.ports.list()], [f"127.0.0.1:{host_port}:8080/tcp"])
        with self.assertRaises(banger.ConflictError):
            self.vm.ports.publish(f"127.0.0.1:{host_port}:8081")
        self.assertEqual(self.vm.ports.unpublish(host_port), f"127.0.0.1:{host_port}/tcp")
        self.assertEqual(self.vm.ports.list(), [])
        with self.assertRaises(banger.NotFoundError):
            self.vm.ports.unpublish(host_port)

    def test_sessions(self) -> None:
        s = self.vm.sessions.create(["sh", "-c", "echo out; echo err >&2; sleep 1"], name="pys")
        self.assertEqual(s.name, "pys")
        self.assertIn("pys", [x.name for x in self.vm.sessions.list()])
        with s.logs(follow=True, timeout=60) as logs:
            out, err = logs.read_all()
        self.assertEqual((out, err), (b"out\n", b"err\n"))
        self.assertEqual(logs.exit_code, 0)
        deadline = time.monotonic() + 30
        while self.vm.sessions.get("pys").status != "exited" and time.monotonic() < deadline:
            time.sleep(0.5)
        got = self.vm.sessions.get("pys")
        self.assertEqual((got.status, got.exit_code), ("exited", 0))
        # stdin through attach: cat echoes it. Detaching leaves the session running.
        cat = self.vm.sessions.create(["cat"], name="pys-cat", stdin=True)
        with cat.attach(timeout=60) as att:
            att.write(b"through attach\n")
            self.assertEqual(next(att), banger.OutputChunk("stdout", b"through attach\n"))
        self.assertEqual(cat.refresh().status, "running")
        self.assertEqual(cat.logs(timeout=60).read_all(), (b"through attach\n", b""))
        self.assertIn(cat.stop().status, ("stopping", "exited", "failed"))
        long = self.vm.sessions.create(["sleep", "600"], name="pys-long")
        self.assertIn(long.stop().status, ("stopping", "exited", "failed"))
        with self.assertRaises(banger.NotFoundError):
            self.vm.sessions.get("no-such-session")

    def test_snapshots(self) -> None:
        self.vm.exec(["true"], timeout=180)
        snap = self.vm.snapshots.create("py-snap")
        self.assertEqual(snap.name, "py-snap")
        self.assertEqual([x.name for x in self.vm.snapshots.list()], ["py-snap"])
        with self.assertRaises(banger.ConflictError):
            self.vm.snapshots.create("py-snap")
        self.assertTrue(self.vm.snapshots.delete("py-snap"))
        self.assertEqual(self.vm.snapshots.list(), [])
        with self.assertRaises(banger.NotFoundError):
            self.vm.snapshots.delete("py-snap")

    def test_pause_resume(self) -> None:
        self.assertEqual(self.vm.pause().state, "paused")
        with self.assertRaises(banger.ConflictError) as cm:
            self.vm.pause()
        self.assertIn("already paused", cm.exception.message)
        self.assertEqual(self.vm.resume().state, "running")

    def test_events_see_vm_created(self) -> None:
        # after=None: every event the daemon holds (the VM was created before), then live.
        deadline = time.monotonic() + 30
        with self.client.events() as events:
            while True:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, "no vm.created event for the suite's VM")
                ev = events.next(timeout=left)
                assert ev is not None
                if ev.type == "vm.created" and ev.vm_id == self.vm.id:
                    self.assertEqual(ev.vm_name, VM_NAME)
                    self.assertGreater(ev.seq, 0)
                    break
            # Live: a pause after the stream opened arrives too.
            self.vm.pause()
            self.vm.resume()
            seen: list[str] = []
            while "vm.resumed" not in seen:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, f"no live vm.paused/vm.resumed events (saw {seen})")
                ev = events.next(timeout=left)
                assert ev is not None
                if ev.vm_id == self.vm.id:
                    seen.append(ev.type)
            self.assertIn("vm.paused", seen)

    def test_console(self) -> None:
        with self.vm.console() as con:
            first = next(iter(con))
        self.assertTrue(first)  # the boot log

    def test_typed_errors(self) -> None:
        with self.assertRaises(banger.InvalidArgumentError) as cm:
            self.client.vms.create(name="Bad_Name!")
        self.assertEqual(cm.exception.code, "invalid_argument")
        self.assertEqual(cm.exception.status, 400)
        self.assertIn('invalid vm name "Bad_Name!"', cm.exception.message)  # the API's message
        with self.assertRaises(banger.NotFoundError) as nf:
            self.client.vms.get("no-such-vm")
        self.assertEqual((nf.exception.code, nf.exception.status), ("not_found", 404))
        ghost = banger.Vm(self.client, {"name": "no-such-vm"})
        with self.assertRaises(banger.NotFoundError):
            ghost.exec(["true"])  # refused before the WebSocket upgrade
        with self.assertRaises(banger.ConflictError):
            self.client.vms.create(name=VM_NAME)  # taken
        # Checked before any request.
        with self.assertRaises(banger.InvalidArgumentError):
            self.vm.exec("echo hi")  # type: ignore[arg-type]
        with self.assertRaises(banger.InvalidArgumentError):
            self.client.vms.create(vcpus=0)
        with self.assertRaises(banger.InvalidArgumentError):
            self.vm.exec(["true"], env={"A": 1})  # type: ignore[dict-item]
        with self.assertRaises(banger.UnavailableError):
            banger.connect("/nonexistent/bangerd.sock").ping()

    def test_zz_delete(self) -> None:
        # Last (unittest runs a class's tests in name order).
        vm = self.client.vms.get(VM_NAME)
        self.assertTrue(vm.delete())
        with self.assertRaises(banger.NotFoundError):
            vm.refresh()
        self.assertFalse(self.client.vms.delete(VM_NAME, missing_ok=True))


if __name__ == "__main__":
    unittest.main()
