-- wrk script: a sync invoke of an empty event, with the run's admin key.
-- The target URL is the function's invoke path; the key comes from FAAS_BENCH_KEY.
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FAAS_BENCH_KEY")
