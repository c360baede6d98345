-- Photos and signatures (see server/src/blobs). Same in both dialects.

-- Uploads in progress: how many bytes the server has of each (the parts are in the blob store).
CREATE TABLE blob_uploads (
    org_id       TEXT NOT NULL,
    hash         TEXT NOT NULL,          -- SHA-256, lower-case hex
    size         BIGINT NOT NULL,        -- announced total
    content_type TEXT NOT NULL,
    received     BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,        -- last append: the orphan sweep's clock
    PRIMARY KEY (org_id, hash)
);
-- The orphan sweep: uploads idle for longer than the grace period.
CREATE INDEX blob_uploads_by_idle ON blob_uploads (updated_at);

-- Stored blobs: verified against their hash, decoded as images, with a thumbnail.
CREATE TABLE blobs (
    org_id       TEXT NOT NULL,
    hash         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,          -- from the bytes: image/jpeg or image/png
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    thumb_size   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, hash)
);
