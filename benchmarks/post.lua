-- wrk script of `make bench`: POST one JSON body with the headers lgsp needs,
-- then print one machine-readable line (prefixed BENCH_RESULT) for run.py.
--   BENCH_BODY_FILE  file holding the request body (required)
--   BENCH_TOKEN      bearer token; no Authorization header when empty
--   BENCH_PATH       the path to POST to (default: the URL's)
--   BENCH_PROVINCE   X-LGSP-Province, to call another province (none when empty)
-- No response() hook on purpose: defining one makes wrk parse every response
-- in Lua, which would slow the load generator itself. Non-2xx/3xx answers
-- are counted by wrk as errors.status.

local path = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local path_override = os.getenv("BENCH_PATH")
if path_override ~= nil and path_override ~= "" then
  wrk.path = path_override
end
local province = os.getenv("BENCH_PROVINCE")
if province ~= nil and province ~= "" then
  wrk.headers["X-LGSP-Province"] = province
end
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, '
      .. '"p50": %d, "p90": %d, "p99": %d, "p99.9": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
