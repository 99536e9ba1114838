-- wrk: stock changes cycling through ROWS ("product:warehouse,..."): a sale of 1 unit of
-- a row, then a return of that unit, so the levels (low ones included) stay put however
-- long it runs. Each thread counts the answers that were not 201; done() prints
-- them as "not_201=N".
local key = os.getenv("API_KEY")
local rows = {}
for product, warehouse in string.gmatch(os.getenv("ROWS"), "(%d+):(%d+)") do
    rows[#rows + 1] = string.format('{"product_id": %s, "warehouse_id": %s, "quantity": 1}',
        product, warehouse)
end
local threads, i = {}, 0
bad = 0  -- a global: done() reads it from each thread

function setup(thread)
    threads[#threads + 1] = thread
end

function request()
    i = i + 1
    local path = (i % 2 == 1) and "/api/stock/sales" or "/api/stock/returns"
    return wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. key,
    }, rows[(math.floor(i / 2) % #rows) + 1])
end

function response(status)
    if status ~= 201 then
        bad = bad + 1
    end
end

function done()
    local total = 0
    for _, thread in ipairs(threads) do
        total = total + thread:get("bad")
    end
    io.write(string.format("not_201=%d\n", total))
end
