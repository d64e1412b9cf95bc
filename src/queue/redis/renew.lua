-- Extends a lease, only for the holder of its token.
-- ARGV: prefix, project, token, lease time in ms.
local lease = prefix .. 'lease:' .. ARGV[2]
if redis.call('GET', lease) ~= ARGV[3] then
  return 0
end
redis.call('PEXPIRE', lease, ARGV[4])
return 1
