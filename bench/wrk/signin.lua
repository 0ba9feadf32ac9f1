-- POST /api/auth/signin as BENCH_USER / BENCH_PASSWORD.
wrk.method = "POST"
wrk.path = "/api/auth/signin"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}', os.getenv("BENCH_USER"), os.getenv("BENCH_PASSWORD"))
