-- Shared by the wrk scripts: the benchmark's users and their Enqueue requests.
--
-- A user is a number k; its UserId is "u" followed by k on 31 digits, 32
-- characters in all, about the length of the UUID-like ids pages use. All ids
-- having one length, every request has the same Content-Length, so a request
-- is built by pasting the id between a prepared head and tail: wrk spends
-- less of its core per request, and more of the measured time is the
-- server's.

local common = {}

common.ID_DIGITS = 31

-- Returns a function that builds the Enqueue request of user k.
function common.enqueue_builder(project)
   local sample = string.format('{"UserId":"u%0' .. common.ID_DIGITS .. 'd","ProjectId":"%s"}', 0, project)
   local request = wrk.format("POST", "/Enqueue", { ["Content-Type"] = "application/json" }, sample)
   local head = request:sub(1, #request - #sample) .. '{"UserId":"u'
   local tail = '","ProjectId":"' .. project .. '"}'
   local digits = "%0" .. common.ID_DIGITS .. "d"
   return function(k)
      return head .. string.format(digits, k) .. tail
   end
end

return common
