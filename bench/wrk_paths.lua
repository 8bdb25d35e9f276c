-- wrk script of the HTTP bench: rotates the request paths listed in the file named by
-- BENCH_PATHS (one a line; the bearer header comes from wrk's -H), and at the end prints one
-- line "BENCHJSON {...}": requests, errors, duration and 100 latency quantiles (microseconds).
local requests = {}
local counter = 0

function init(args)
  local file = assert(io.open(os.getenv("BENCH_PATHS"), "r"))
  for line in file:lines() do
    if line ~= "" then requests[#requests + 1] = wrk.format("GET", line) end
  end
  file:close()
  counter = math.random(#requests) - 1
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end

function done(summary, latency, _)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local quantiles = {}
  for i = 1, 100 do
    quantiles[i] = string.format("%d", latency:percentile(i - 0.5))
  end
  io.write(string.format(
    'BENCHJSON {"requests": %d, "errors": %d, "duration_us": %d, "quantiles_us": [%s]}\n',
    summary.requests, errors, summary.duration, table.concat(quantiles, ", ")))
end
