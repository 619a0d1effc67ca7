-- wrk script for benchmarks/bench_webhook.py: replays pre-signed, distinct lead posts (one file line each:
-- timestamp TAB signature TAB idempotency key TAB JSON body), each thread taking every n-th line, and
-- stops a thread once its share is sent. Writes each 201 answer's body (the lead id) to <args[3]>.<thread>,
-- tallies answers by status, and prints one JSON result line.
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   requests_built = {}
   accepted, refused, sent, answered = 0, 0, 0, 0
   codes = {}
   accepted_file = io.open(args[3] .. "." .. id, "w")
   local i = 0
   for line in io.lines(path) do
      if i % tonumber(args[2]) == id then
         local ts, sig, key, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
         table.insert(requests_built, wrk.format("POST", "/webhooks/leads", {
            ["Content-Type"] = "application/json",
            ["X-Hyperdash-Timestamp"] = ts,
            ["X-Hyperdash-Signature"] = sig,
            ["Idempotency-Key"] = key,
         }, body))
      end
      i = i + 1
   end
   health = wrk.format("GET", "/healthz")
end

function request()
   sent = sent + 1
   if sent > #requests_built then
      return health
   end
   return requests_built[sent]
end

function response(status, headers, body)
   answered = answered + 1
   if answered > #requests_built then
      return  -- a /healthz filler sent while the last leads were in flight
   end
   codes[status] = (codes[status] or 0) + 1
   if status == 201 then
      accepted = accepted + 1
      accepted_file:write(body, "\n")
   else
      refused = refused + 1
   end
   if answered >= #requests_built then
      accepted_file:flush()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local acc, ref, tally = 0, 0, {}
   for _, thread in ipairs(threads) do
      acc = acc + thread:get("accepted")
      ref = ref + thread:get("refused")
      for status, n in pairs(thread:get("codes")) do
         table.insert(tally, string.format('"%d": %d', status, n))
      end
   end
   io.write(string.format(
      'WRK_RESULT {"accepted": %d, "refused": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
      '"requests": %d, "socket_errors": %d, "timeouts": %d, "codes": {%s}}\n',
      acc, ref, summary.duration, latency:percentile(50), latency:percentile(99), summary.requests,
      summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
      table.concat(tally, ", ")))
end
