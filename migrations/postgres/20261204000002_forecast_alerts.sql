-- Forecast alerts wait for the tenant's next Telegram alert (the alerting spec's group_interval):
-- pushed incident changes queue here, with when the tenant was last told. Keep in step with
-- ../sqlite/.
CREATE TABLE forecast_alert_pending (
    tenant_id   UUID NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    event_id    UUID NOT NULL,
    -- The alert job that took it (it deletes what it took once its messages are queued).
    claimed_by  UUID,
    PRIMARY KEY (tenant_id, event_id)
);

CREATE TABLE forecast_alert_sent (
    tenant_id  UUID PRIMARY KEY REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    sent_at    TIMESTAMPTZ NOT NULL
);
