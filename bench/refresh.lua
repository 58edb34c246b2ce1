-- wrk script: refresh-token chains. Each thread owns a slice of the seeded
-- tokens; every successful response's new refresh token is queued for reuse,
-- so each chain walks forward one generation per request.
-- Environment: KT_TOKENS (file, one refresh token per line), KT_AUTH (Basic value),
-- KT_PATH (default /oauth/token), KT_MODE (refresh | introspect | trivial: GET /healthz).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  pool = {}
  head, tail = 1, 0
  errors = 0
  local nthreads = tonumber(os.getenv("KT_THREADS") or "1")
  local n = 0
  for line in io.lines(os.getenv("KT_TOKENS")) do
    if line ~= "" and n % nthreads == id - 1 then
      tail = tail + 1
      pool[tail] = line
    end
    n = n + 1
  end
  auth = "Basic " .. os.getenv("KT_AUTH")
  mode = os.getenv("KT_MODE") or "refresh"
  path = os.getenv("KT_PATH") or (mode == "refresh" and "/oauth/token" or "/oauth/introspect")
  headers = { ["Authorization"] = auth, ["Content-Type"] = "application/x-www-form-urlencoded" }
end

local function take()
  if head > tail then return nil end
  local token = pool[head]
  pool[head] = nil
  head = head + 1
  return token
end

local function give(token)
  tail = tail + 1
  pool[tail] = token
end

function request()
  local token = nil
  if mode ~= "trivial" then token = take() end
  if token == nil then
    return wrk.format("GET", "/healthz")
  end
  if mode == "refresh" then
    return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. token)
  end
  give(token)  -- introspection does not consume the token
  return wrk.format("POST", path, headers, "token=" .. token)
end

function response(status, hdrs, body)
  if mode ~= "refresh" then
    if status ~= 200 then errors = errors + 1 end
    return
  end
  if status == 200 then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then give(token) else errors = errors + 1 end
  else
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  local out = os.getenv("KT_OUT") and io.open(os.getenv("KT_OUT"), "w")
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("errors") or 0)
    if out then
      -- Hand the chains' current tokens to the next run instead of seeding again.
      local pool, first, last = thread:get("pool"), thread:get("head"), thread:get("tail")
      for i = first, last do
        if pool[i] then out:write(pool[i], "\n") end
      end
    end
  end
  if out then out:close() end
  io.write(string.format("KT_RESULT requests=%d errors=%d p50_us=%d p99_us=%d duration_us=%d\n",
    summary.requests, failed + summary.errors.status, latency:percentile(50),
    latency:percentile(99), summary.duration))
end
