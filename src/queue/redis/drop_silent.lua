-- Drops up to a batch of users silent for too long, wherever they stand.
-- ARGV: prefix, silence in ms, batch size. Returns how many last-seen times
-- it looked at, and the dropped users as a flat list of user, project. The
-- caller runs it again while it looks at a full batch, so that no single
-- call holds Redis for long.
local cutoff = now_ms() - tonumber(ARGV[2])
local silent = redis.call('ZRANGEBYSCORE', seen_key, '-inf', string.format('(%.0f', cutoff),
  'LIMIT', 0, tonumber(ARGV[3]))

local dropped = {}
for _, user in ipairs(silent) do
  local project = unqueue(user)
  if project then
    dropped[#dropped + 1] = user
    dropped[#dropped + 1] = project
  else
    -- A last-seen time without a record (keys deleted by hand): forget it
    -- so that it is not looked at again.
    redis.call('ZREM', seen_key, user)
  end
end
return {#silent, dropped}
