-- Seed 002's two supplier quotas, in USD. What an operator granted (SetSupplierQuotas): a
-- supplier with no row has USD 0 of credit quota and no FX quota limit.
CREATE TABLE supplier_quotas (
    supplier_account_id uuid PRIMARY KEY,
    credit_quota        numeric(28, 4) NOT NULL CHECK (credit_quota >= 0),
    fx_quota            numeric(28, 4) CHECK (fx_quota >= 0),  -- NULL: not limited
    updated_at          timestamptz NOT NULL
);

-- What each remittance link takes of its supplier's quotas, written in the transaction that
-- records the link's wallet operation (so links of one supplier, serialised by an advisory
-- lock, always see each other) and deleted if wallet refuses the link. What is in use is
-- derived from the order's status: credit until the order completes or closes, FX until it
-- has shipped in full.
CREATE TABLE quota_uses (
    operation_id          uuid PRIMARY KEY,          -- the link's wallet operation
    order_id              uuid NOT NULL REFERENCES orders,
    supplier_account_id   uuid NOT NULL,
    credit_usd            numeric(28, 4) NOT NULL,   -- credit quota frozen; 0 when guaranteed
    fx_usd                numeric(28, 4) NOT NULL,   -- pre-received FX counted
    guaranteed            boolean NOT NULL,          -- kept as guarantee funds
    guarantee_hold_id     uuid,                      -- wallet's GUARANTEE hold, once linked
    release_operation_id  uuid,                      -- the wallet operation releasing it
    created_at            timestamptz NOT NULL
);
CREATE INDEX quota_uses_by_supplier ON quota_uses (supplier_account_id);
CREATE INDEX quota_uses_by_order ON quota_uses (order_id);
