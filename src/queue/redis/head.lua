-- The first user of a line and its record. ARGV: prefix, project.
local line = line_key(ARGV[2])
while true do
  local first = redis.call('ZRANGE', line, 0, 0)[1]
  if not first then
    return false
  end
  local record = redis.call('HGET', users_key, first)
  if record then
    return {first, record}
  end
  -- A place without a record (keys deleted by hand) would stall the line
  -- for good; drop it and look again.
  redis.call('ZREM', line, first)
  redis.call('ZREM', seen_key, first)
  if redis.call('EXISTS', line) == 0 then
    redis.call('SREM', lines_key, ARGV[2])
  end
end
