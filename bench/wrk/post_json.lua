-- wrk: POST a fixed JSON body (BODY_FILE) with the API key (API_KEY) on every request.
-- Responses other than 2xx are counted by wrk as "Non-2xx or 3xx responses".
local key = os.getenv("API_KEY")
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
