wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"bench_user","password":"correct horse battery"}'
local counts = {}
response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status ~= 200 and not printed then printed = true; print(status, body) end
end
