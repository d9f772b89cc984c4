-- POST /stats batches of 200 events (what current plugins send), counting the batches the
-- server acknowledged so the run can check every acknowledged event is stored.
local app = os.getenv("BENCH_APP") or "com.bench.app"
local threads = {}
local actions = { "download_zip_start", "download_complete", "set", "app_moved_to_foreground", "app_moved_to_background" }

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  acked = 0
  other = 0
  local events = {}
  local seed = tonumber(tostring({}):sub(8)) or 0
  for i = 1, 200 do
    local id = string.format("%08x-5e1f-4a2b-8c3d-%012x", (seed + i) % 4294967296, i)
    events[i] = '{"platform":"android","device_id":"' .. id .. '","app_id":"' .. app ..
      '","custom_id":"","version_build":"1.0.0","version_code":"100","version_os":"14",' ..
      '"version_name":"1.0.1","old_version_name":"builtin","plugin_version":"8.51.14",' ..
      '"is_emulator":false,"is_prod":true,"action":"' .. actions[(i % #actions) + 1] ..
      '","timestamp":1760000000000,"metadata":{"duration_ms":"812"}}'
  end
  body = "[" .. table.concat(events, ",") .. "]"
end

function request()
  return wrk.format("POST", "/stats", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, response_body)
  if status == 200 then acked = acked + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total, failed = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("acked")
    failed = failed + thread:get("other")
  end
  io.write(string.format("ACKED_BATCHES=%d\nOTHER_STATUS=%d\n", total, failed))
end
