"""test_harden.py - the sender side of the socket limits: `opsbot send`
prints the daemon's refusal (not "Broken pipe") when the daemon refused
the connection before the alert was written."""
import socket
import threading

from harness import Harness

REFUSAL = ('{"ok":false,"error":"peer: uid 1000 has too many connections '
           '(max 32)"}\n')


def refusing_server(path, ready):
    """Accepts one connection, answers the refusal and closes it without
    reading, as the listener does over a limit."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    ready.set()
    srv.settimeout(10)
    conn, _ = srv.accept()
    conn.sendall(REFUSAL.encode())
    # Let the client's big write fill the socket first: its write then
    # fails (EPIPE) instead of succeeding before the close.
    threading.Event().wait(0.3)
    conn.close()
    srv.close()


def test_cli_send_prints_the_refusal_when_its_write_fails():
    h = Harness("refused", start_emulator=False)
    try:
        ready = threading.Event()
        t = threading.Thread(target=refusing_server, args=(h.sock, ready))
        t.start()
        assert ready.wait(5)
        # 1 MB: more than the socket buffers take (an argument can hold
        # only 128 KiB, so it goes as a --json line)
        p = h.cli("send", "--json",
                  input='{"text":"%s"}\n' % ("x" * 1000000))
        t.join(10)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "peer: uid 1000 has too many connections (max 32)" in \
            p.stderr, p.stderr
        assert "Broken pipe" not in p.stderr, p.stderr
    finally:
        h.close()


def test_one_uid_cannot_take_every_connection_slot():
    """40 connections of one uid on the defaults: 32 are kept, 8 get the
    per-uid refusal; another connection after they close is taken."""
    import json
    import os
    h = Harness("peruid", start_emulator=False)
    conns = []
    try:
        h.start()
        # the start probe's connection must be gone (closed, then reaped)
        threading.Event().wait(0.3)
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(h.sock)
            conns.append(s)
        refused = 0
        want = ("peer: uid %d has too many connections (max 32)"
                % os.getuid())
        threading.Event().wait(0.5)  # the refusals arrive
        for s in conns:
            try:
                data = s.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            assert json.loads(data) == {"ok": False, "error": want}, data
            refused += 1
        assert refused == 8, refused
        for s in conns:
            s.close()
        conns = []
        # the slots come back
        end = threading.Event()
        for _ in range(50):
            r = h.send({"text": "after"})
            if r.get("ok"):
                break
            end.wait(0.1)
        assert r.get("ok"), r
    finally:
        for s in conns:
            s.close()
        h.close()
