-- wrk: POST /api/products with a SKU unique across threads and requests.
local key = os.getenv("API_KEY")
local counter = 0
local threads = 0
local tag = os.getenv("RUN_TAG") or "run"

function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end

function request()
    counter = counter + 1
    local body = string.format(
        '{"name": "Bench product", "sku": "%s-%d-%d", "price": "9.99"}', tag, tid, counter)
    return wrk.format("POST", "/api/products", {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. key,
    }, body)
end
