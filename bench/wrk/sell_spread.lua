-- wrk: POST /api/stock/sales of 1 unit of a random product among PRODUCT_IDS (comma list).
local key = os.getenv("API_KEY")
local warehouse = os.getenv("WAREHOUSE_ID")
local ids = {}
for id in string.gmatch(os.getenv("PRODUCT_IDS"), "[^,]+") do
    ids[#ids + 1] = id
end

local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end

function init(args)
    math.randomseed(os.time() * 100 + tid)
end

function request()
    local body = string.format('{"product_id": %s, "warehouse_id": %s, "quantity": 1}',
        ids[math.random(#ids)], warehouse)
    return wrk.format("POST", "/api/stock/sales", {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. key,
    }, body)
end
