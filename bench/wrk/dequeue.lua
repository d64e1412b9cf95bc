-- Dequeues a user who is in no line, over and over: the whole HTTP path and a
-- store call without changing any line. bench/run.sh warms the service up
-- with it before taking the memory baseline.
--
-- wrk -t T -c C -d 2s -s dequeue.lua URL

wrk.method = "POST"
wrk.path = "/Dequeue"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"UserId":"bench-nobody"}'
