-- Argo CD health of iap-operator.dev/IapProtectedService (Lua 5.1, as Argo CD runs it).
-- It reads the status in kstatus' order (Flux), so both tools always agree:
--   being deleted                         -> Progressing (kstatus: Terminating), with the teardown's message
--   status stale (observedGeneration)     -> Progressing (kstatus: InProgress)
--   Reconciling True                      -> Progressing (kstatus: InProgress): the operator keeps retrying
--   Stalled True                          -> Degraded    (kstatus: Failed): the operator waits for a change
--   Ready True                            -> Healthy     (kstatus: Current)
--   Ready not True                        -> Progressing (kstatus: InProgress)
-- A missing Cloud Run service or Secret (Ready reason NotFound) is Progressing in both: the operator looks
-- again until it appears (the service may be deployed after the IapProtectedService).
local hs = {}

local function describe(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  if condition ~= nil and condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return fallback
end

local status = obj.status
local metadata = obj.metadata or {}
local generation = metadata.generation

local conditions = (status or {}).conditions or {}
local ready = nil
for _, condition in ipairs(conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
end

if metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  if ready ~= nil and ready.status ~= "True" then
    hs.message = describe(ready, "Deleting")
  else
    hs.message = "Deleting: the operator tears down what it created"
  end
  return hs
end
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report on this resource"
  return hs
end
if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
for _, condition in ipairs(conditions) do
  if condition.type == "Reconciling" and condition.status == "True" then
    hs.status = "Progressing"
    hs.message = describe(condition, "Reconciling")
    return hs
  end
  if condition.type == "Stalled" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = describe(condition, "Stalled")
    return hs
  end
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready, "Not ready yet")
else
  hs.message = "Waiting for the Ready condition"
end
return hs
