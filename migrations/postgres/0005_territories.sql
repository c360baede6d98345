-- Territories: polygons (GeoJSON) that restrict or prefer engineers for sites inside them, and
-- limit what a dispatcher of that territory sees. Same in both dialects.
CREATE TABLE territories (
    org_id     TEXT NOT NULL,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('restrict', 'prefer')),
    area       TEXT NOT NULL, -- GeoJSON Polygon or MultiPolygon, [lon, lat] degrees
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX territories_name ON territories (org_id, name);

CREATE TABLE engineer_territories (
    org_id       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    territory_id TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, territory_id)
);

-- The territory containing the order's site (the first by name), kept by the projection.
ALTER TABLE work_orders ADD COLUMN territory_id TEXT;
CREATE INDEX work_orders_by_territory ON work_orders (org_id, territory_id, sla_due);
