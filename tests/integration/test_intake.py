"""Alert intake end to end: the socket protocol, the CLI, durability."""
import json
import os
import random
import signal
import subprocess
import threading
import time

from harness import Harness, LineReader, OPSBOT


def pipeline(h, n, tag, acked, errors):
    s = h.connect()
    r = LineReader(s)
    out = []
    batch = 100
    for start in range(0, n, batch):
        lines = b"".join(json.dumps({"severity": "info", "source": tag,
                                     "text": "%s-%d" % (tag, i)}).encode()
                         + b"\n" for i in range(start, min(n, start + batch)))
        s.sendall(lines)
        for _ in range(start, min(n, start + batch)):
            rep = json.loads(r.line())
            if rep.get("ok"):
                out.append(rep["id"])
            else:
                errors.append(rep)
    s.close()
    acked.extend(out)


def test_four_clients_pipeline_2000_each_gets_unique_ids():
    h = Harness("pipe")
    try:
        h.start()
        acked, errors = [], []
        ts = [threading.Thread(target=pipeline,
                               args=(h, 2000, "c%d" % i, acked, errors))
              for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert not errors, errors[:3]
        assert len(acked) == 8000, len(acked)
        assert len(set(acked)) == 8000, "ids not unique"
        rows = h.sql("SELECT COUNT(*) FROM alerts")
        assert rows[0][0] == 8000, rows
    finally:
        h.close()


MALFORMED = [
    (b"{not json", "json"),
    (b"[1,2,3]", "line"),
    (b'{"severity":"urgent","text":"x"}', "severity"),
    (b'{"severity":"info"}', "text"),
    (b'{"text":5}', "text"),
    (b'{"text":"a","labels":{"x":{"y":"z"}}}', "labels"),
    (b'{"text":"a","labels":[1]}', "labels"),
    (b'{"text":"a","status":"open"}', "status"),
    (b'{"text":"a","status":"resolved"}', "key"),
    (b'{"text":"\xff\xfe"}', "line"),
    (b'{"text":"a","url":"javascript:alert(1)"}', "url"),
    (b'{"title":"' + b"x" * 2000 + b'"}', "title"),
]


def test_malformed_lines_get_errors_and_connection_stays_usable():
    h = Harness("bad")
    try:
        h.start()
        s = h.connect()
        r = LineReader(s)
        for line, field in MALFORMED:
            s.sendall(line + b"\n")
            rep = json.loads(r.line())
            assert rep["ok"] is False, (line, rep)
            assert rep["error"].startswith(field), (line, rep)
            s.sendall(b'{"text":"still fine"}\n')
            rep = json.loads(r.line())
            assert rep["ok"] is True and rep["id"] > 0, rep
        # an over-long line (default limit 64 KiB), then a good one
        s.sendall(b'{"text":"' + b"y" * 70000 + b'"}\n{"text":"after"}\n')
        rep = json.loads(r.line())
        assert rep["ok"] is False and rep["error"].startswith("line"), rep
        rep = json.loads(r.line())
        assert rep["ok"] is True, rep
        s.close()
        assert h.daemon.poll() is None, "daemon died"
    finally:
        h.close()


def streamer(h, stop, acked):
    """Streams alerts, recording each acknowledged id, until stopped or the
    daemon goes away."""
    try:
        s = h.connect()
        r = LineReader(s)
        i = 0
        while not stop.is_set():
            s.sendall(json.dumps({"text": "k-%d" % i, "key": "k%d" % i})
                      .encode() + b"\n")
            rep = json.loads(r.line())
            if rep.get("ok"):
                acked.append(rep["id"])
            i += 1
    except (OSError, EOFError, ValueError):
        pass


def test_kill9_while_streaming_loses_no_acknowledged_alert():
    h = Harness("kill9")
    try:
        all_acked = []
        for round_ in range(3):
            h.start()
            stop = threading.Event()
            acked = []
            ts = [threading.Thread(target=streamer, args=(h, stop, acked))
                  for _ in range(2)]
            for t in ts:
                t.start()
            time.sleep(0.3 + random.random() * 0.4)
            h.kill9()
            stop.set()
            for t in ts:
                t.join(10)
            assert acked, "no alert was acknowledged in round %d" % round_
            all_acked.extend(acked)
        h.start()
        h.stop()
        stored = {r[0] for r in h.sql("SELECT id FROM alerts")}
        missing = [i for i in all_acked if i not in stored]
        assert not missing, "acknowledged but lost: %r" % missing[:10]
        assert len(set(all_acked)) == len(all_acked)
    finally:
        h.close()


def test_cli_send_prints_id_and_rejects_with_daemon_error():
    h = Harness("cli")
    try:
        h.start()
        p = h.cli("send", "-s", "critical", "-S", "db1", "-t", "Lag",
                  "-k", "db1/lag", "--label", "env=prod", "lag", "120", "s")
        assert p.returncode == 0, p.stderr
        aid = int(p.stdout.strip())
        row = h.sql("SELECT severity, source, title, text, key, labels "
                    "FROM alerts WHERE id=?", (aid,))[0]
        assert row[0] == 0 and row[1] == "db1" and row[2] == "Lag"
        assert row[3] == "lag 120 s" and row[4] == "db1/lag"
        assert json.loads(row[5]) == {"env": "prod"}
        p = h.cli("send", "-s", "urgent", "x")
        assert p.returncode == 1
        assert "severity" in p.stderr and "urgent" in p.stderr, p.stderr
        p = h.cli("send", "--json", input='{"text":"a"}\n{"oops"\n')
        lines = p.stdout.strip().splitlines()
        assert p.returncode == 1 and len(lines) == 2, (p.stdout, p.stderr)
        assert json.loads(lines[0])["ok"] and not json.loads(lines[1])["ok"]
        p = h.cli("status")
        assert p.returncode == 0, p.stderr
        assert "alerts_stored" in p.stdout, p.stdout
        p = h.cli("status", "--json")
        st = json.loads(p.stdout)["status"]
        assert st["alerts_stored"] >= 2, st
    finally:
        h.close()


def test_cli_send_without_daemon_says_so():
    h = Harness("nodaemon", start_emulator=False)
    try:
        p = h.cli("send", "hello")
        assert p.returncode == 1
        assert "cannot connect to" in p.stderr, p.stderr
        assert "Is opsbot running?" in p.stderr, p.stderr
    finally:
        h.close()


def test_check_config_reports_file_line_and_exit_status():
    h = Harness("cc", start_emulator=False)
    try:
        p = h.cli("check-config")
        assert p.returncode == 0 and "configuration OK" in p.stdout, p.stderr
        with open(h.conf, "a") as f:
            f.write("\nlimits = { group_per_minute = 0; };\n")
            f.write("bogus = 1;\n")
        p = h.cli("check-config")
        assert p.returncode == 1, p.stdout
        assert h.conf + ":" in p.stderr, p.stderr
        assert "bogus" in p.stderr, p.stderr
        assert "group_per_minute" in p.stderr, p.stderr
        # every problem, each as FILE:LINE: message
        errs = [l for l in p.stderr.splitlines() if l.startswith(h.conf + ":")]
        assert len(errs) >= 2, p.stderr
    finally:
        h.close()


def test_second_daemon_on_same_socket_or_store_refuses():
    h = Harness("twice")
    try:
        h.start()
        # Same config: the store's lock refuses it before anything else.
        p = subprocess.run([OPSBOT, "-c", h.conf, "run"], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "is in use by another opsbot" in p.stderr, p.stderr
        assert "listening on" not in p.stderr, p.stderr
        # Another store, the same socket: the live listener refuses it.
        other = os.path.join(h.dir, "other.conf")
        with open(h.conf) as f:
            text = f.read()
        with open(other, "w") as f:
            f.write(text.replace(h.db, os.path.join(h.dir, "other.db")))
        p = subprocess.run([OPSBOT, "-c", other, "run"], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "another process is listening on " + h.sock in p.stderr, \
            p.stderr
        assert "listening on " + h.sock + "," not in p.stderr, p.stderr
        assert h.daemon.poll() is None
        assert os.path.exists(h.sock), "the refused daemon removed the socket"
    finally:
        h.close()


def test_sigterm_removes_socket_and_exits_zero():
    h = Harness("term")
    try:
        h.start()
        assert h.send({"text": "x"})["ok"]
        assert h.stop(signal.SIGTERM) == 0
        assert not os.path.exists(h.sock)
    finally:
        h.close()


def test_socket_mode_is_0660():
    h = Harness("mode")
    try:
        h.start()
        assert os.stat(h.sock).st_mode & 0o777 == 0o660
    finally:
        h.close()


def test_token_never_logged():
    from harness import TOKEN
    h = Harness("tok")
    try:
        h.start()
        h.send({"text": "x"})
        # and no core file could carry it to disk
        with open("/proc/%d/limits" % h.daemon.pid) as f:
            core = [l for l in f if l.startswith("Max core file size")][0]
        assert core.split()[4] == "0", core
        h.stop()
        secret = TOKEN.split(":", 1)[1]
        assert secret not in h.log(), "token secret in the daemon log"
    finally:
        h.close()
