-- The on-time shipment rate (按时发货率, seed 002): each order's ship-by deadline and when
-- its first batch shipped, as filter columns (the document has both; orders written before
-- this migration get them on their next write).
ALTER TABLE orders ADD COLUMN ship_by_at timestamptz, ADD COLUMN first_shipped_at timestamptz;
