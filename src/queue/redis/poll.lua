-- One Enqueue poll. ARGV: prefix, user, project, the user's record (JSON).
local user, project, record = ARGV[2], ARGV[3], ARGV[4]
local line = line_key(project)

-- The hot path first: a user already waiting in this line. A queued user is
-- never also admitted or refused (admit and refuse take it out of its line,
-- and it can only rejoin by a poll that finds neither), so those checks can
-- wait until it is not found here.
local index = redis.call('ZRANK', line, user)
if index then
  redis.call('ZADD', seen_key, now_ms(), user)
  redis.call('HSET', users_key, user, record)
  return {'queued', index, 0}
end

if redis.call('EXISTS', prefix .. 'admitted:' .. user) == 1 then
  return {'admitted'}
end

local refused_key = prefix .. 'refused:' .. user
local refusal = redis.call('GET', refused_key)
if refusal then
  -- Reported once: the next poll queues the user afresh.
  redis.call('DEL', refused_key)
  return {'refused', refusal}
end

-- New, or waiting for another project: either way it goes to the end.
unqueue(user)
local joined_empty_line = 0
if redis.call('EXISTS', line) == 0 then
  joined_empty_line = 1
end
redis.call('ZADD', line, redis.call('INCR', prefix .. 'arrivals'), user)
redis.call('SADD', lines_key, project)
redis.call('ZADD', seen_key, now_ms(), user)
redis.call('HSET', users_key, user, record)
return {'queued', redis.call('ZCARD', line) - 1, joined_empty_line}
