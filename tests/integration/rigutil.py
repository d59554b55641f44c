"""Small shared helpers for the integration rig: bounded polling, free ports, paths."""

import os
import socket
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


class WaitTimeout(AssertionError):
    """Raised by wait_until when the condition did not become true in time."""


def wait_until(cond, timeout, what, interval=0.05, max_interval=0.25):
    """Poll ``cond()`` until it returns a truthy value; return that value.

    Bounded: after ``timeout`` seconds raise WaitTimeout naming ``what`` (a string, or
    a callable returning a string evaluated at failure time, for extra diagnostics).
    Exceptions raised by ``cond`` count as "not yet" and the last one is reported.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    delay = interval
    while True:
        try:
            value = cond()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            msg = "timed out after %.1fs waiting for %s" % (timeout, desc)
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise WaitTimeout(msg)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_interval)


def free_port(host="127.0.0.1"):
    """A TCP port on ``host`` that was free a moment ago (bind port 0, read, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_accepts(port, host="127.0.0.1", timeout=0.5):
    """True if a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(text, lines=80):
    parts = text.splitlines()
    return "\n".join(parts[-lines:])


def expect_status(resp, status, what, srv=None):
    """resp, if its status is `status`; else an AssertionError saying what was asked, what came
    back, and (with srv) the tail of httpd's error log."""
    if resp.status != status:
        raise AssertionError("%s: expected %s, got %s %s: %r%s" % (
            what, status, resp.status, resp.reason, resp.body[:600],
            ("\n--- error.log tail ---\n" + srv.log_tail(30)) if srv else ""))
    return resp
