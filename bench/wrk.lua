-- wrk script for bench/run.sh.
--
-- BENCH_POST_BYTES=N  (environment): send POST requests with an N-byte body
--                     (application/octet-stream) instead of GETs.
-- At the end, one machine-readable line is printed for run.sh:
--   BENCH requests=.. duration_us=.. bytes=.. rps=.. p50_us=.. p99_us=.. max_us=..
--         connect=.. read=.. write=.. status=.. timeout=..
-- (status = responses with a status above 399, i.e. wrk's "Non-2xx or 3xx").

local post_bytes = tonumber(os.getenv("BENCH_POST_BYTES") or "")
if post_bytes and post_bytes > 0 then
   wrk.method = "POST"
   wrk.body = string.rep("x", post_bytes)
   wrk.headers["Content-Type"] = "application/octet-stream"
end

done = function(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d duration_us=%d bytes=%d rps=%.2f p50_us=%d p99_us=%d max_us=%d " ..
      "connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, summary.bytes, summary.requests / secs,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
