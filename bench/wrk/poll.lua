-- wrk: GET with the API key (API_KEY) and If-None-Match (ETAG), as a dashboard polls.
-- Each thread counts the answers that were not 304; done() prints them as "not_304=N".
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("API_KEY")
wrk.headers["If-None-Match"] = os.getenv("ETAG")
local threads = {}
bad = 0  -- a global: done() reads it from each thread

function setup(thread)
    threads[#threads + 1] = thread
end

function response(status)
    if status ~= 304 then
        bad = bad + 1
    end
end

function done()
    local total = 0
    for _, thread in ipairs(threads) do
        total = total + thread:get("bad")
    end
    io.write(string.format("not_304=%d\n", total))
end
