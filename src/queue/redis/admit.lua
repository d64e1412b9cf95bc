-- Moves a user from its line to the admitted users, only while the caller
-- holds the line's lease and the user still waits in that line.
-- ARGV: prefix, project, lease token, user, READY_TTL in ms.
local project, token, user = ARGV[2], ARGV[3], ARGV[4]

if redis.call('GET', prefix .. 'lease:' .. project) ~= token then
  return 0
end
if not redis.call('ZSCORE', line_key(project), user) then
  return 0
end

unqueue(user)
redis.call('SET', prefix .. 'admitted:' .. user, project, 'PX', ARGV[5])
return 1
