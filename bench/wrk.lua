-- wrk script for the Lowband bench: pre-signed Twilio webhooks, one connection per thread.
--
--   wrk -t N -c N -d S -s bench/wrk.lua http://127.0.0.1:PORT -- REQUEST_DIR
--
-- REQUEST_DIR holds conn-<i>.req (one request a line: expected piece of the answer,
-- the X-Twilio-Signature, the form body; tab-separated) and bad.txt (pieces no right
-- answer holds: the app's apology, the loop guard's note, one a line). Each wrk thread
-- has one connection, so its requests go out in file order, each after the previous
-- answer: a phone's conversation stays in order, and each answer is judged against the
-- request it answers. The signatures were computed by the bench (Python's twilio
-- library) for the URL the server sees, so the server checks them as it checks Twilio's.
--
-- At the end it prints one line, "WRKJSON {...}", with the counts and latencies.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local dir = args[1]
   requests, expects, bad = {}, {}, {}
   for line in io.lines(dir .. "/conn-" .. id .. ".req") do
      local expect, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {
         ["Content-Type"] = "application/x-www-form-urlencoded",
         ["X-Twilio-Signature"] = signature,
         ["User-Agent"] = "TwilioProxy/1.1",
      }
      table.insert(requests, wrk.format("POST", "/sms", headers, body))
      table.insert(expects, expect)
   end
   for line in io.lines(dir .. "/bad.txt") do
      if #line > 0 then table.insert(bad, line) end
   end
   sent, answered, ok, wrong, not_ok_status, wrapped = 0, 0, 0, 0, 0, 0
   sample = ""
end

-- The answer that comes back is to the request made last: wrk asks for a request again
-- when a write must be retried (as the first one often is while the connection is
-- still being made) and drops the one it had, and with one connection per thread it
-- asks for the next only after an answer.
local current = 1

function request()
   sent = sent + 1
   current = ((sent - 1) % #requests) + 1
   if sent > #requests then wrapped = wrapped + 1 end
   return requests[current]
end

local function judge(status, body, expect)
   if status ~= 200 then return false end
   if not body:find("<Response", 1, true) then return false end
   for _, piece in ipairs(bad) do
      if body:find(piece, 1, true) then return false end
   end
   return expect == "" or body:find(expect, 1, true) ~= nil
end

function response(status, headers, body)
   answered = answered + 1
   local expect = expects[current]
   if status ~= 200 then not_ok_status = not_ok_status + 1 end
   if judge(status, body, expect) then
      ok = ok + 1
   else
      wrong = wrong + 1
      if sample == "" then sample = "expected " .. expect .. ", got " .. status .. " " .. body:sub(1, 300) end
   end
end

local function quote(s)
   return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('%c', ' ') .. '"'
end

function done(summary, latency, requests)
   local totals = { sent = 0, answered = 0, ok = 0, wrong = 0, not_ok_status = 0, wrapped = 0 }
   local samples = {}
   for _, thread in ipairs(threads) do
      for key, _ in pairs(totals) do
         totals[key] = totals[key] + (thread:get(key) or 0)
      end
      local s = thread:get("sample")
      if s and s ~= "" and #samples < 3 then table.insert(samples, quote(s)) end
   end
   local e = summary.errors
   local parts = {
      '"requests":' .. summary.requests,
      '"duration_us":' .. summary.duration,
      '"socket_errors":' .. (e.connect + e.read + e.write + e.timeout),
      '"p50_us":' .. latency:percentile(50),
      '"p90_us":' .. latency:percentile(90),
      '"p99_us":' .. latency:percentile(99),
      '"max_us":' .. latency.max,
      '"mean_us":' .. latency.mean,
      '"samples":[' .. table.concat(samples, ",") .. ']',
   }
   for key, value in pairs(totals) do
      table.insert(parts, '"' .. key .. '":' .. value)
   end
   io.write("WRKJSON {" .. table.concat(parts, ",") .. "}\n")
end
