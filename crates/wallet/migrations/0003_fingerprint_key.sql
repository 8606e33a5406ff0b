-- The key of bank-account fingerprints, generated on first start when none is configured
-- (local use: `kuajing up`, tests). The kuajing-wallet binary refuses to start without
-- KJ_WALLET_FINGERPRINT_KEY, so in production nothing is kept here.
CREATE TABLE service_secrets (
    name       text        PRIMARY KEY,
    secret     bytea       NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL
);
