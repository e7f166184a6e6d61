"""A store that cannot be written (disk full, I/O error): no alert is ever
acknowledged that is not on disk, the daemon keeps answering with errors,
and it recovers by itself when the disk does.

The "disk" is the daemon's file size limit (RLIMIT_FSIZE, with SIGXFSZ
ignored so writes fail with EFBIG, as on a full disk); the test lifts it
from outside with prlimit(2) once the errors have been seen.
"""
import json
import resource
import signal

from harness import Harness, LineReader, wait_until


def limit_file_size(nbytes):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (nbytes, resource.RLIM_INFINITY))
    return pre


def test_disk_full_never_acks_and_recovers():
    h = Harness("disk")
    try:
        # a store that fills up after a few hundred kilobytes
        h.start(preexec_fn=limit_file_size(400 * 1024))
        s = h.connect()
        r = LineReader(s)
        acked, errors = [], []
        for i in range(4000):
            s.sendall(json.dumps({"title": "fill %d" % i,
                                  "text": "x" * 400}).encode() + b"\n")
            rep = json.loads(r.line())
            if rep["ok"]:
                acked.append(rep["id"])
            else:
                errors.append(rep["error"])
                if len(errors) >= 20:
                    break
        assert errors, "the store never filled up"
        assert all(e.startswith("store:") for e in errors), errors[:3]
        assert h.daemon.poll() is None, "daemon died on a full disk"

        # the disk has room again: the same connection works again
        resource.prlimit(h.daemon.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

        def accepted():
            s.sendall(b'{"title":"after","text":"room again"}\n')
            rep = json.loads(r.line())
            return rep["ok"] and rep["id"]
        late = wait_until(accepted, 15, 0.2, "store recovered")
        s.close()
        h.stop()
        stored = {row[0] for row in h.sql("SELECT id FROM alerts")}
        missing = [i for i in acked + [late] if i not in stored]
        assert not missing, "acknowledged but not stored: %r" % missing[:5]
        print("    [disk] %d acknowledged before the disk filled, %d errors, "
              "then recovered" % (len(acked), len(errors)))
    finally:
        h.close()
