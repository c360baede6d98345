-- Sync state per device (see docs/sync-protocol.md). Same in both dialects.

-- The token of the last response sent to each device: the device echoes it as `applied`.
CREATE TABLE sync_devices (
    org_id       TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    token        BIGINT NOT NULL,
    last_sync_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, device_id)
);

-- Per device and document: heads the device certainly has, and heads sent in response
-- `pending_token`, promoted when the device says it applied that response.
CREATE TABLE sync_device_docs (
    org_id        TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    doc_id        TEXT NOT NULL,
    acked_heads   TEXT NOT NULL,
    pending_heads TEXT,
    pending_token BIGINT,
    PRIMARY KEY (org_id, device_id, doc_id)
);

