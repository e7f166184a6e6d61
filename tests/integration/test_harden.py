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
