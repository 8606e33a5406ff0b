-- Supplier self-service and operators granted without a restart.

-- The programs a supplier opened itself (OpenSupplierProgram). Cross-border pay's agreement
-- is also the profile's cross_border_pay_enabled flag; this row records when it was signed.
CREATE TABLE supplier_programs (
    account_id uuid        NOT NULL REFERENCES supplier_profiles,
    program    text        NOT NULL
        CHECK (program IN ('TRADE_ASSURANCE', 'DIRECT_PAY', 'CROSS_BORDER_PAY')),
    opened_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, program)
);

-- Where a grant came from: CONFIG grants follow KJ_IDENTITY_OPERATOR_ACCOUNT_IDS at each
-- start; BOOTSTRAP is the first operator `kuajing up` provisions for a sandbox, kept across
-- restarts.
ALTER TABLE operator_grants
    ADD COLUMN source text NOT NULL DEFAULT 'CONFIG' CHECK (source IN ('CONFIG', 'BOOTSTRAP'));
