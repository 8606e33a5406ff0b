-- Payment links: a token anyone holding it can open to see orders and their amounts; their
-- buyer pays them with a session. Only the token's SHA-256 is kept.
CREATE TABLE payment_links (
    payment_link_id    uuid        PRIMARY KEY,
    token_hash         bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    order_ids          uuid[]      NOT NULL CHECK (cardinality(order_ids) BETWEEN 1 AND 50),
    buyer_account_id   uuid        NOT NULL,
    creator_account_id uuid,
    total_amount       numeric     NOT NULL CHECK (total_amount >= 0),
    created_at         timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL CHECK (expires_at > created_at),
    revoked_at         timestamptz
);
