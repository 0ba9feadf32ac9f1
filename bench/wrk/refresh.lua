-- POST /api/auth/refreshtoken, one session per wrk thread (run with -c equal
-- to -t): each response's new refresh token is used for the next request.
local tokens = {}
for t in string.gmatch(os.getenv("BENCH_REFRESH_TOKENS") or "", "[^,]+") do
  table.insert(tokens, t)
end
local index = 0
function setup(thread)
  index = index + 1
  thread:set("token", tokens[index])
end
request = function()
  return wrk.format("POST", "/api/auth/refreshtoken", { ["Content-Type"] = "application/json" },
    string.format('{"refreshToken":"%s"}', token))
end
response = function(status, headers, body)
  local next_token = string.match(body, '"refreshToken":"([^"]+)"')
  if next_token then
    token = next_token
  end
end
