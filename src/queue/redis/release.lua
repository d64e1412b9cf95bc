-- Gives a lease back, only for the holder of its token; a lease that lapsed
-- and was taken by someone else is left alone. ARGV: prefix, project, token.
local lease = prefix .. 'lease:' .. ARGV[2]
if redis.call('GET', lease) == ARGV[3] then
  redis.call('DEL', lease)
end
return 0
