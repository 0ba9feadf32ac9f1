-- POST /api/auth/signin as BENCH_USER / BENCH_PASSWORD.
wrk.method = "POST"
wrk.path = "/api/auth/signin"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}', os.getenv("BENCH_USER"), os.getenv("BENCH_PASSWORD"))

-- Spread the sign-ins over client addresses (the server trusts the loopback
-- proxy): one account from one address may have only 5 sign-ins in flight
-- (the bound on concurrent guesses), which is not what this measures.
request = function()
  wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format()
end
