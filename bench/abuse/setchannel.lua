-- A flood of legacy setChannel calls (POST /channel_self from a plugin older than 7): each
-- request picks one of 20 000 device ids (the first 10 000 already have a stored choice) and
-- asks for one of two channels, so every call is either a change or a new override.
local app = os.getenv("BENCH_APP") or "com.bench.app"
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

function request()
  local n = math.random(0, 19999)
  local channel = (math.random(0, 1) == 0) and "beta" or "alpha"
  local body = '{"platform":"android","device_id":"legacy-' .. n .. '","app_id":"' .. app ..
    '","custom_id":"","version_build":"1.0.0","version_code":"100","version_os":"14",' ..
    '"version_name":"builtin","plugin_version":"6.27.0","is_emulator":false,"is_prod":true,' ..
    '"channel":"' .. channel .. '"}'
  return wrk.format("POST", "/channel_self", headers, body)
end
