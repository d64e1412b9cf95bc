-- Dequeue, StartProject and StopProject. ARGV: prefix, user.
local user = ARGV[2]

redis.call('DEL', prefix .. 'refused:' .. user)

local admitted_key = prefix .. 'admitted:' .. user
local admitted = redis.call('GET', admitted_key)
if admitted then
  redis.call('DEL', admitted_key)
  return {'admitted', admitted}
end

local project = unqueue(user)
if project then
  return {'line', project}
end
return {'absent'}
