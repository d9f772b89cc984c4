-- POST /updates with realistic info objects from many distinct devices: each request picks one
-- of 200 000 device ids, half of them already on the published bundle (answer: up to date),
-- half on the store build (answer: the update offer).
local app = os.getenv("BENCH_APP") or "com.bench.app"
local version = os.getenv("BENCH_VERSION") or "1.0.1"
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

function request()
  local n = math.random(0, 199999)
  local id = string.format("%08x-7a1e-4c3b-9d2f-%012x", n * 2654435761 % 4294967296, n)
  local running = (n % 2 == 0) and version or "builtin"
  local platform = (n % 3 == 0) and "ios" or "android"
  local body = '{"platform":"' .. platform .. '","device_id":"' .. id .. '","app_id":"' .. app ..
    '","custom_id":"","version_build":"1.0.0","version_code":"100","version_os":"14",' ..
    '"version_name":"' .. running .. '","plugin_version":"8.51.14","is_emulator":false,"is_prod":true,' ..
    '"defaultChannel":"","install_source":"google_play"}'
  return wrk.format("POST", "/updates", headers, body)
end
