-- GET with an optional access token (BENCH_TOKEN) as Authorization: Bearer.
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
