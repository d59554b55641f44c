"""app_offline.htm (issue 6, first part): while the file is in the app root the app's
processes are stopped and every request gets 503 with the file's bytes; removing it brings
the app back. Requests sent throughout the toggle never get a 502."""

import os
import threading
import time

from test_supervision import app_pid, backend_pids, get_ok, standin
from rigutil import wait_until

PAGE = b"<html><body><h1>Down for a deploy</h1>\n<p>back soon</p></body></html>\n"


def test_app_offline_toggle(apache):
    srv = apache.start(standin())
    first = app_pid(srv)
    statuses = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            r = srv.get("/pid", timeout=10)
            statuses.append(r.status)

    t = threading.Thread(target=load)
    t.start()
    try:
        path = os.path.join(srv.app, "app_offline.htm")
        with open(path + ".tmp", "wb") as f:
            f.write(PAGE)
        os.rename(path + ".tmp", path)            # appears at once, whole

        def offline_page():
            r = srv.get("/pid", timeout=10)
            return r if r.status == 503 else None
        r = wait_until(offline_page, 3, "the offline page within a second or so")
        assert r.body == PAGE
        assert (r.header("content-type") or "").startswith("text/html"), r.headers
        assert r.header("cache-control") == "no-store", r.headers
        assert r.header("retry-after"), r.headers
        # the app's processes stop (gracefully: the stand-in exits 0)
        wait_until(lambda: not backend_pids(srv), 15, "the app's process to stop")
        srv.wait_for_log(r"\] process %d stopped \(exited with code 0\)" % first, timeout=5)
        # and stay stopped while the file is there
        r = srv.get("/pid", timeout=10)
        assert r.status == 503 and r.body == PAGE
        assert not backend_pids(srv)

        os.unlink(path)
        second = wait_until(lambda: (lambda r: r.status == 200 and int(r.body))(
            srv.get("/pid", timeout=30)), 10, "the app back after removing the file")
        assert second != first
    finally:
        stop.set()
        t.join(30)
    # the whole way through: the app, or the offline page; never a 502
    assert statuses and set(statuses) <= {200, 503}, sorted(set(statuses))
    assert statuses.count(503) >= 1 and statuses.count(200) >= 1
