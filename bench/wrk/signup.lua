-- POST /api/auth/signup with a new username per request.
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(os.time() + (tid or 0))
  prefix = string.format("b%d_%d", tid or 0, math.random(1, 99999999))
end
request = function()
  counter = counter + 1
  local name = prefix .. "_" .. counter
  return wrk.format("POST", "/api/auth/signup", { ["Content-Type"] = "application/json" },
    string.format('{"username":"%s","email":"%s@example.com","password":"bench password 123"}', name, name))
end
