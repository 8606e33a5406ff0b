CREATE TABLE IF NOT EXISTS idempotency_records (
    request_id   uuid        PRIMARY KEY,
    method       text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea,
    refusal      bytea,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS refusal bytea
