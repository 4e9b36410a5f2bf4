"""Unit tests of banger._ws against a socketpair server (no daemon)."""

from __future__ import annotations

import socket
import struct
import threading
import unittest
from collections.abc import Callable

from banger import _ws

from wsserver import ServerEnd


class Pair:
    """A client WebSocket and a scripted server running in a thread."""

    def __init__(self, script: Callable[[ServerEnd], object], **ws_args: int) -> None:
        a, b = socket.socketpair()
        self.client_sock = a
        self.ws = _ws.WebSocket(a, **ws_args)
        self.server = ServerEnd(b)
        self.error: BaseException | None = None

        def run() -> None:
            try:
                script(self.server)
            except BaseException as e:  # reported by join()
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join(10)
        if self.thread.is_alive():
            raise AssertionError("server script did not finish")
        self.server.close()
        self.client_sock.close()
        if self.error is not None:
            raise self.error


class HelpersTest(unittest.TestCase):
    def test_accept_key_rfc_example(self) -> None:
        self.assertEqual(_ws.accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

    def test_mask_round_trip(self) -> None:
        data = bytes(range(256)) * 3 + b"xyz"
        mask = b"\x01\x80\xfe\x33"
        masked = _ws.mask_bytes(mask, data)
        self.assertNotEqual(masked, data)
        self.assertEqual(masked[0], data[0] ^ 0x01)
        self.assertEqual(masked[5], data[5] ^ 0x80)
        self.assertEqual(_ws.mask_bytes(mask, masked), data)
        self.assertEqual(_ws.mask_bytes(mask, b""), b"")

    def test_encode_lengths(self) -> None:
        self.assertEqual(_ws.encode_frame(_ws.OP_BINARY, b"a" * 125)[1], 125)
        self.assertEqual(_ws.encode_frame(_ws.OP_BINARY, b"a" * 126)[1:4], b"\x7e\x00\x7e")
        f = _ws.encode_frame(_ws.OP_BINARY, b"a" * 70000)
        self.assertEqual(f[1], 127)
        self.assertEqual(struct.unpack("!Q", f[2:10])[0], 70000)


class HandshakeTest(unittest.TestCase):
    def test_handshake_sends_key_and_checks_accept(self) -> None:
        seen: dict[str, str] = {}

        def script(s: ServerEnd) -> None:
            line, headers = s.accept()
            seen["line"] = line
            seen.update(headers)

        p = Pair(script)
        p.ws.handshake("/v1/events/stream?after=3", headers={"X-Test": "1"})
        p.join()
        self.assertEqual(seen["line"], "GET /v1/events/stream?after=3 HTTP/1.1")
        self.assertEqual(seen["upgrade"], "websocket")
        self.assertEqual(seen["connection"], "Upgrade")
        self.assertEqual(seen["sec-websocket-version"], "13")
        self.assertEqual(seen["x-test"], "1")
        self.assertEqual(len(__import__("base64").b64decode(seen["sec-websocket-key"])), 16)

    def test_wrong_accept_is_refused(self) -> None:
        p = Pair(lambda s: s.accept(accept_override="d3Jvbmc="))
        with self.assertRaisesRegex(_ws.WebSocketError, "Sec-WebSocket-Accept"):
            p.ws.handshake("/x")
        p.join()

    def test_plain_http_answer_is_rejected_with_body(self) -> None:
        body = b'{"error":{"code":"not_found","message":"no vm named x"}}'
        p = Pair(lambda s: s.reject(404, body))
        with self.assertRaises(_ws.HandshakeRejected) as cm:
            p.ws.handshake("/v1/vms/x/exec")
        p.join()
        self.assertEqual(cm.exception.status, 404)
        self.assertEqual(cm.exception.body, body)

    def test_frames_right_after_the_101_are_kept(self) -> None:
        first = _ws.encode_frame(_ws.OP_BINARY, b"\x0bhello")
        p = Pair(lambda s: (s.accept(extra=first), s.send_close()))
        p.ws.handshake("/x")
        m = p.ws.recv(timeout=5)
        assert m is not None
        self.assertEqual(m.data, b"\x0bhello")
        self.assertIsNone(p.ws.recv(timeout=5))
        p.join()

    def test_header_injection_refused(self) -> None:
        a, b = socket.socketpair()
        with self.assertRaises(ValueError):
            _ws.WebSocket(a).handshake("/x", headers={"X": "a\r\nEvil: 1"})
        a.close()
        b.close()


class FramesTest(unittest.TestCase):
    def test_client_frames_are_masked_and_server_echo_arrives(self) -> None:
        got: list[tuple[int, bytes]] = []

        def script(s: ServerEnd) -> None:
            s.accept()
            for _ in range(2):
                fin, op, payload, masked = s.read_frame()
                if not masked:
                    raise AssertionError("unmasked client frame")
                got.append((op, payload))
                s.send_frame(op, payload)
            s.send_close()
            op, payload = s.read_message()
            got.append((op, payload))

        p = Pair(script)
        p.ws.handshake("/x")
        p.ws.send("{\"argv\":[\"true\"]}")
        p.ws.send(b"\x01stdin")
        m1, m2 = p.ws.recv(timeout=5), p.ws.recv(timeout=5)
        assert m1 is not None and m2 is not None
        self.assertTrue(m1.is_text)
        self.assertEqual(m1.text(), "{\"argv\":[\"true\"]}")
        self.assertEqual((m2.opcode, m2.data), (_ws.OP_BINARY, b"\x01stdin"))
        self.assertIsNone(p.ws.recv(timeout=5))
        p.join()
        self.assertEqual(got[2], (_ws.OP_CLOSE, struct.pack("!H", 1000)))  # the close was echoed
        self.assertEqual(p.ws.close_code, 1000)

    def test_lengths_16_and_64_bit(self) -> None:
        big = bytes(range(256)) * 300  # 76800 bytes: 64-bit length

        def script(s: ServerEnd) -> None:
            s.accept()
            s.send_frame(_ws.OP_BINARY, b"m" * 300)
            s.send_frame(_ws.OP_BINARY, big)
            op, data = s.read_message()
            s.send_frame(op, data[::-1])
            s.send_close()

        p = Pair(script)
        p.ws.handshake("/x")
        self.assertEqual(p.ws.recv(timeout=5), _ws.Message(_ws.OP_BINARY, b"m" * 300))
        self.assertEqual(p.ws.recv(timeout=5), _ws.Message(_ws.OP_BINARY, big))
        p.ws.send(big)
        self.assertEqual(p.ws.recv(timeout=5), _ws.Message(_ws.OP_BINARY, big[::-1]))
        self.assertIsNone(p.ws.recv(timeout=5))
        p.join()

    def test_fragmented_message_with_ping_in_between(self) -> None:
        pongs: list[bytes] = []

        def script(s: ServerEnd) -> None:
            s.accept()
            s.send_frame(_ws.OP_TEXT, "h\u00e9".encode()[:2], fin=False)  # splits the UTF-8 of é
            s.send_frame(_ws.OP_PING, b"are you there", fin=True)
            s.send_frame(_ws.OP_CONT, "h\u00e9".encode()[2:] + b" w", fin=False)
            s.send_frame(_ws.OP_CONT, b"orld", fin=True)
            fin, op, payload, masked = s.read_frame()
            if op != _ws.OP_PONG or not masked:
                raise AssertionError(f"expected a masked pong, got op {op}")
            pongs.append(payload)
            s.send_close()

        p = Pair(script)
        p.ws.handshake("/x")
        m = p.ws.recv(timeout=5)
        assert m is not None
        self.assertEqual(m.text(), "h\u00e9 world")
        self.assertIsNone(p.ws.recv(timeout=5))
        p.join()
        self.assertEqual(pongs, [b"are you there"])

    def test_client_fragments_long_messages(self) -> None:
        frames: list[tuple[bool, int, int]] = []

        def script(s: ServerEnd) -> None:
            s.accept()
            while True:
                fin, op, payload, _ = s.read_frame()
                frames.append((fin, op, len(payload)))
                if fin:
                    break

        p = Pair(script, fragment_size=4)
        p.ws.handshake("/x")
        p.ws.send(b"0123456789")
        p.join()
        self.assertEqual(frames, [(False, _ws.OP_BINARY, 4), (False, _ws.OP_CONT, 4), (True, _ws.OP_CONT, 2)])

    def test_message_too_big_closes_1009(self) -> None:
        seen: list[bytes] = []

        def script(s: ServerEnd) -> None:
            s.accept()
            s.send_frame(_ws.OP_BINARY, b"a" * 60, fin=False)
            s.send_frame(_ws.OP_CONT, b"b" * 60, fin=True)
            op, payload = s.read_message()
            seen.append(payload)

        p = Pair(script, max_message=100)
        p.ws.handshake("/x")
        with self.assertRaises(_ws.WebSocketError) as cm:
            p.ws.recv(timeout=5)
        self.assertEqual(cm.exception.close_code, 1009)
        p.join()
        self.assertEqual(seen[0][:2], struct.pack("!H", 1009))

    def _protocol_error(self, send: Callable[[ServerEnd], None], code: int) -> None:
        seen: list[bytes] = []

        def script(s: ServerEnd) -> None:
            s.accept()
            send(s)
            op, payload = s.read_message()
            if op != _ws.OP_CLOSE:
                raise AssertionError("expected a close frame")
            seen.append(payload)

        p = Pair(script)
        p.ws.handshake("/x")
        with self.assertRaises(_ws.WebSocketError) as cm:
            p.ws.recv(timeout=5)
        self.assertEqual(cm.exception.close_code, code)
        p.join()
        self.assertEqual(struct.unpack("!H", seen[0][:2])[0], code)
        self.assertIsNone(p.ws.recv(timeout=1))  # closed: no more messages

    def test_masked_server_frame_is_a_protocol_error(self) -> None:
        self._protocol_error(lambda s: s.send_frame(_ws.OP_BINARY, b"x", mask=b"abcd"), 1002)

    def test_reserved_bits_are_a_protocol_error(self) -> None:
        self._protocol_error(lambda s: s.send_frame(_ws.OP_BINARY, b"x", rsv=0x40), 1002)

    def test_orphan_continuation_is_a_protocol_error(self) -> None:
        self._protocol_error(lambda s: s.send_frame(_ws.OP_CONT, b"x"), 1002)

    def test_fragmented_control_frame_is_a_protocol_error(self) -> None:
        self._protocol_error(lambda s: s.send_frame(_ws.OP_PING, b"x", fin=False), 1002)

    def test_unknown_opcode_is_a_protocol_error(self) -> None:
        self._protocol_error(lambda s: s.send_frame(0x3, b"x"), 1002)

    def test_invalid_utf8_text_closes_1007(self) -> None:
        self._protocol_error(lambda s: s.send_frame(_ws.OP_TEXT, b"\xff\xfe"), 1007)

    def test_timeout_keeps_a_partial_frame(self) -> None:
        go = threading.Event()
        frame = _ws.encode_frame(_ws.OP_BINARY, b"split across a timeout")

        def script(s: ServerEnd) -> None:
            s.accept()
            s.sock.sendall(frame[:5])
            go.wait(5)
            s.sock.sendall(frame[5:])
            s.send_close()

        p = Pair(script)
        p.ws.handshake("/x")
        with self.assertRaises(_ws.WebSocketTimeout):
            p.ws.recv(timeout=0.2)
        go.set()
        self.assertEqual(p.ws.recv(timeout=5), _ws.Message(_ws.OP_BINARY, b"split across a timeout"))
        self.assertIsNone(p.ws.recv(timeout=5))
        p.join()

    def test_client_close_handshake(self) -> None:
        seen: list[tuple[int, bytes]] = []

        def script(s: ServerEnd) -> None:
            s.accept()
            seen.append(s.read_message())
            s.send_close(1000)

        p = Pair(script)
        p.ws.handshake("/x")
        p.ws.close(reason="bye")
        p.join()
        self.assertEqual(seen[0], (_ws.OP_CLOSE, struct.pack("!H", 1000) + b"bye"))
        self.assertTrue(p.ws.closed)
        self.assertEqual(p.client_sock.fileno(), -1)
        with self.assertRaises(_ws.WebSocketError):
            p.ws.send(b"late")

    def test_peer_vanishing_is_an_error_not_a_hang(self) -> None:
        p = Pair(lambda s: (s.accept(), s.sock.shutdown(socket.SHUT_RDWR)))
        p.ws.handshake("/x")
        with self.assertRaisesRegex(_ws.WebSocketError, "without a close frame"):
            p.ws.recv(timeout=5)
        p.join()


if __name__ == "__main__":
    unittest.main()
