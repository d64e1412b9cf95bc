-- Fills one project's line with exactly `users` users: wrk thread i of t
-- sends users i, i+t, i+2t, ... Once a thread has sent all of its users it
-- re-polls them (which adds nobody) and soon stops; bench/run.sh watches the
-- line's length and ends wrk once it is full.
--
-- wrk -t T -c C -d 1h -s fill.lua URL -- users project threads connections

package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local next_index = 0

function setup(thread)
   thread:set("index", next_index)
   next_index = next_index + 1
end

function init(args)
   users = tonumber(args[1])
   enqueue = common.enqueue_builder(args[2])
   threads = tonumber(args[3])
   local connections = tonumber(args[4])
   -- This thread's users: index, index + threads, ... below `users`.
   mine = 0
   if index < users then
      mine = math.floor((users - 1 - index) / threads) + 1
   end
   -- Each connection has one request in flight, so once `mine` plus this
   -- thread's connections have been answered, every new user was answered.
   enough = mine + math.ceil(connections / threads)
   sent = 0
   answered = 0
end

function request()
   local nth = sent
   sent = sent + 1
   if mine == 0 then
      return enqueue(0)
   end
   return enqueue(index + (nth % mine) * threads)
end

function response(status, headers, body)
   answered = answered + 1
   if answered >= enough then
      wrk.thread:stop()
   end
end
