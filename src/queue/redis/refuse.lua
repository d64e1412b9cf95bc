-- Drops a user from a line and keeps the cloud's refusal for its next poll.
-- ARGV: prefix, project, user, refusal (JSON), how long to keep it in ms.
local project, user = ARGV[2], ARGV[3]

if not redis.call('ZSCORE', line_key(project), user) then
  return 0
end

unqueue(user)
redis.call('SET', prefix .. 'refused:' .. user, ARGV[4], 'PX', ARGV[5])
return 1
