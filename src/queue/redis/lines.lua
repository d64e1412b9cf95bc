-- The non-empty lines and their lengths, as a flat list. ARGV: prefix.
local found = {}
for _, project in ipairs(redis.call('SMEMBERS', lines_key)) do
  local length = redis.call('ZCARD', line_key(project))
  if length > 0 then
    found[#found + 1] = project
    found[#found + 1] = length
  else
    -- Only a key deleted by hand gets here; heal the set rather than
    -- offer an empty line to admission on every round.
    redis.call('SREM', lines_key, project)
  end
end
return found
