-- Polls random users of a line of `users` (filled by fill.lua) for wrk's
-- duration, and prints one RESULT line for bench/run.sh to read.
--
-- [BENCH_CHECK=Y] wrk -t T -c C -d 20s -s poll.lua URL -- users project
--
-- With BENCH_CHECK=Y, every answer is checked to be a 10100 ("still queued"), and
-- the count of other answers is reported as `wrong`: a poll that found its
-- user gone would be measuring another path. The check makes wrk copy every
-- body into Lua, so the timed runs leave it out and bench/run.sh runs a short
-- checked pass after each.

package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

function init(args)
   users = tonumber(args[1])
   enqueue = common.enqueue_builder(args[2])
   -- Each thread draws its own sequence.
   math.randomseed(os.time() * 100 + index)
   wrong = 0
end

-- wrk decides before any thread starts whether the script reads responses,
-- so the choice is made here, from the environment, not in init.
if os.getenv("BENCH_CHECK") == "Y" then
   function response(status, headers, body)
      if status ~= 200 or not body:find('"Code":10100', 1, true) then
         wrong = wrong + 1
      end
   end
end

function request()
   return enqueue(math.random(0, users - 1))
end

function done(summary, latency, requests)
   local wrong = 0
   for _, thread in ipairs(threads) do
      wrong = wrong + thread:get("wrong")
   end
   local errors = summary.errors
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d max_us=%d wrong=%d socket_errors=%d status_errors=%d\n",
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(99), latency.max, wrong,
      errors.connect + errors.read + errors.write + errors.timeout, errors.status))
end
