"""harness.py - runs the real opsbot daemon against the Bot API emulator.

A Harness owns a temp dir, an emulator process, a config file and a daemon
process; tests use it to send alerts over the socket, kill and restart the
daemon, and read what the emulator's chats received. Every wait is bounded.
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))
from emuclient import EmuClient  # noqa: E402

TOKEN = "123456:TESTSECRET-abcdefghijklmnopqrstuvwxyz"
OPSBOT = os.environ.get("OPSBOT", os.path.join(ROOT, "build", "opsbot"))
# e.g. "valgrind --error-exitcode=99 ..." (make valgrind): runs the daemon
# under a checker; close() fails the test on any report it finds.
WRAPPER = shlex.split(os.environ.get("OPSBOT_WRAPPER", ""))
# ASan/UBSan build (make test SANITIZE=1): memory figures are inflated by
# the sanitizer's shadow memory and quarantine, so bounds on RSS are
# checked only on the plain build.
SANITIZED = os.environ.get("OPSBOT_SANITIZED") == "1"

# What a sanitizer or valgrind prints when it finds something.
# (valgrind -q prints nothing at all unless it finds something.)
CHECKER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
    r"^==\d+== \S")
CHECKER_EXIT = 99  # valgrind --error-exitcode
GROUP = -1001000000001
PRIVATE = 4242
ADMIN = 111


class Harness:
    def __init__(self, name, extra_conf="", chats=(GROUP,), admins=(ADMIN,),
                 telegram_extra="", start_emulator=True, poll_timeout=2):
        self.dir = tempfile.mkdtemp(prefix="opsbot-it-%s-" % name)
        self.sock = os.path.join(self.dir, "alerts.sock")
        self.db = os.path.join(self.dir, "opsbot.db")
        self.conf = os.path.join(self.dir, "bot.conf")
        self.logs = []
        self.daemon = None
        self.emu_proc = None
        self.emu = None
        self.chats = chats
        self.admins = admins
        self.extra_conf = extra_conf
        self.telegram_extra = telegram_extra
        self.poll_timeout = poll_timeout
        if start_emulator:
            self.start_emulator()
        self.write_conf()

    # --- emulator ---
    def start_emulator(self):
        pf = os.path.join(self.dir, "emu.port")
        log = open(os.path.join(self.dir, "emu.log"), "w")
        self.emu_proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "emulator", "tgemu.py"),
             "--port", "0", "--port-file", pf, "--token", TOKEN],
            stdout=log, stderr=log)
        self.emu = EmuClient.from_port_file(pf, token=TOKEN, wait=15.0)

    def write_conf(self):
        api = self.emu.api_url if self.emu else "http://127.0.0.1:9"
        chats = ", ".join("%dL" % c for c in self.chats)
        admins = ", ".join("%dL" % a for a in self.admins)
        with open(self.conf, "w") as f:
            f.write("""telegram = {
  api_url = "%s";
  token = "%s";
  chats = [ %s ];
  admins = [ %s ];
  poll_timeout = %d;
  connect_timeout = 2;
  request_timeout = 5;
  %s
};
socket = { path = "%s"; };
store = { path = "%s"; };
%s
""" % (api, TOKEN, chats, admins, self.poll_timeout, self.telegram_extra,
       self.sock, self.db, self.extra_conf))

    # --- daemon ---
    def start(self, wait=True, env=None, preexec_fn=None):
        n = len(self.logs)
        path = os.path.join(self.dir, "daemon.%d.log" % n)
        self.logs.append(path)
        e = dict(os.environ)
        e.pop("OPSBOT_TOKEN", None)
        if env:
            e.update(env)
        self.daemon = subprocess.Popen(WRAPPER + [OPSBOT, "-c", self.conf,
                                                  "run"],
                                       stdout=open(path, "w"),
                                       stderr=subprocess.STDOUT, env=e,
                                       preexec_fn=preexec_fn)
        if wait:
            self.wait_socket(60.0 if WRAPPER else 10.0)
        return self.daemon

    def wait_socket(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.daemon.poll() is not None:
                raise AssertionError("daemon exited %s:\n%s" %
                                     (self.daemon.returncode, self.log()))
            try:
                s = self.connect()
                s.close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("daemon socket did not come up:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.daemon is None or self.daemon.poll() is not None:
            return self.daemon.returncode if self.daemon else None
        self.daemon.send_signal(sig)
        try:
            return self.daemon.wait(timeout)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
            raise AssertionError("daemon did not stop on %s" % sig)

    def kill9(self):
        self.daemon.kill()
        self.daemon.wait()

    def log(self):
        out = []
        for p in self.logs:
            with open(p, errors="replace") as f:
                out.append(f.read())
        return "\n".join(out)

    def problems(self):
        """What the daemon's logs must never contain: the token's secret,
        or a sanitizer or valgrind report."""
        secret = TOKEN.split(":", 1)[1]
        bad = [l for l in self.log().splitlines()
               if secret in l or CHECKER_REPORT.search(l)]
        if WRAPPER and self.daemon and self.daemon.returncode == CHECKER_EXIT:
            bad.append("the daemon exited %d under %s" % (CHECKER_EXIT,
                                                          WRAPPER[0]))
        return bad

    def close(self):
        """Stops everything and cleans up; raises if the logs show a
        problem (after cleaning up)."""
        try:
            self.stop(timeout=60.0 if WRAPPER else 10.0)
        except AssertionError:
            pass
        try:
            bad = self.problems()
        except OSError:
            bad = []
        if bad:
            os.environ["KEEP_TMP"] = "1"  # keep the logs to look at
        self._cleanup()
        if bad:
            raise AssertionError("daemon log of %s shows:\n%s" %
                                 (self.dir, "\n".join(bad[:20])))

    def _cleanup(self):
        if self.emu_proc:
            self.emu_proc.terminate()
            try:
                self.emu_proc.wait(5)
            except subprocess.TimeoutExpired:
                self.emu_proc.kill()
        if os.environ.get("KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- socket clients ---
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.sock)
        return s

    def send(self, alert, s=None):
        """One alert (dict or raw bytes/str), one reply (dict)."""
        own = s is None
        s = s or self.connect()
        line = alert if isinstance(alert, (bytes, str)) else json.dumps(alert)
        if isinstance(line, str):
            line = line.encode()
        s.sendall(line + b"\n")
        r = read_line(s)
        if own:
            s.close()
        return json.loads(r)

    def send_many(self, alerts):
        """Pipelines alerts (dicts) on one connection; every one must be
        acknowledged. Returns the ids, in order."""
        s = self.connect()
        r = LineReader(s)
        s.sendall(b"".join(json.dumps(a).encode() + b"\n" for a in alerts))
        ids = []
        for _ in alerts:
            rep = json.loads(r.line())
            assert rep["ok"], rep
            ids.append(rep["id"])
        s.close()
        return ids

    def cli(self, *args, input=None, env=None):
        e = dict(os.environ)
        if env:
            e.update(env)
        return subprocess.run([OPSBOT, "-c", self.conf] + list(args),
                              input=input, capture_output=True, text=True,
                              timeout=30, env=e)

    def sql(self, query, args=()):
        import sqlite3
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()


class LineReader:
    """Buffered line reader over a socket (many replies per recv)."""

    def __init__(self, s):
        self.s = s
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            raise EOFError("connection closed, got %r" % buf)
        buf += c
    return buf[:-1]


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError("timed out after %.1fs waiting for %s" %
                                 (timeout, what))
        time.sleep(interval)
