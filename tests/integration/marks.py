"""marks.py - test markers read by run.py."""


def serial(fn):
    """Run this test alone, after the parallel ones: it asserts a latency
    that CPU contention from other tests would distort."""
    fn.serial = True
    return fn


class Skip(Exception):
    """Raised by a test that cannot run here (a missing binary); run.py
    reports it as skipped with this message, not as a failure."""
