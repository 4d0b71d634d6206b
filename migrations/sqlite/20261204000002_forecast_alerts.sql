-- Forecast alerts wait for the tenant's next Telegram alert (the alerting spec's group_interval):
-- pushed incident changes queue here, with when the tenant was last told. Keep in step with
-- ../postgres/.
CREATE TABLE forecast_alert_pending (
    tenant_id   BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    event_id    BLOB NOT NULL,
    -- The alert job that took it (it deletes what it took once its messages are queued).
    claimed_by  BLOB,
    PRIMARY KEY (tenant_id, event_id)
) STRICT;

CREATE TABLE forecast_alert_sent (
    tenant_id  BLOB PRIMARY KEY REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    sent_at    TEXT NOT NULL
) STRICT;
