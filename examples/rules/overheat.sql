-- Example rule for docker-compose.yml (mounted as the rules dir, /rules). A rule file holds
-- CREATE RULE ... ; blocks, each ending with a semicolon.
--
-- A device publishes readings on <thing>/telemetry, e.g. {"temperature": 91} on pump-1/telemetry;
-- readings above 80 come back on the device's own topic <thing>/alerts, which the policy that
-- `kiot device create` attaches lets it subscribe to. republish needs nothing outside kiot.
CREATE RULE overheat
  DESCRIPTION 'Readings above 80 republished on the device topic <thing>/alerts'
AS SELECT temperature, topic(1) AS device, timestamp() AS ts
   FROM '+/telemetry'
   WHERE temperature > 80
DO republish(topic = '${topic(1)}/alerts', qos = 1)
ERROR DO republish(topic = 'kiot/rule-errors/overheat', qos = 1);
