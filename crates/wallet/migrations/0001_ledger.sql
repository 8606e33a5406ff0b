-- The wallet schema: wallets, the double-entry ledger, and what moves money through it.
-- Amounts are NUMERIC(28,4): exact, within rust_decimal's 28 digits, and wide enough for
-- every supported currency (at most 2 minor units) plus intermediate fee precision.

CREATE TABLE wallets (
    wallet_id        uuid PRIMARY KEY,
    owner_account_id uuid NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- One row per ledger account. Customer accounts belong to a wallet; platform accounts
-- (inbound clearing, escrow, FX position, fee revenue, outbound clearing) have the nil
-- wallet id and are split into shards, so no single row is updated by every movement:
-- an account's balance is the sum over its shards.
CREATE TABLE ledger_accounts (
    account_id uuid PRIMARY KEY,
    wallet_id  uuid NOT NULL,
    kind       smallint NOT NULL,      -- kuajing.wallet.v1.LedgerAccountKind
    currency   text NOT NULL,
    fund_pool  smallint NOT NULL,      -- kuajing.wallet.v1.FundPool; 0 where not applicable
    shard      smallint NOT NULL DEFAULT 0,
    balance    numeric(28, 4) NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    UNIQUE (wallet_id, kind, currency, fund_pool, shard),
    -- The last line of defence against overdraft: customer available and held balances
    -- never go below zero, and arrears (owed to the platform) never above it.
    CONSTRAINT customer_balance_sign CHECK (
        (kind IN (1, 2) AND balance >= 0) OR (kind = 3 AND balance <= 0) OR kind > 3
    )
);

CREATE TABLE journal_entries (
    entry_id           uuid PRIMARY KEY,
    type               smallint NOT NULL,  -- kuajing.wallet.v1.JournalEntryType
    request_id         uuid NOT NULL,
    order_id           text NOT NULL DEFAULT '',
    quote_id           text NOT NULL DEFAULT '',
    hold_id            uuid,
    transfer_id        uuid,
    remittance_id      uuid,
    remittance_link_id uuid,
    withdrawal_id      uuid,
    description        text NOT NULL DEFAULT '',
    reverses_entry_id  uuid REFERENCES journal_entries (entry_id),
    created_at         timestamptz NOT NULL
);
CREATE INDEX journal_entries_order ON journal_entries (order_id) WHERE order_id <> '';
CREATE INDEX journal_entries_created ON journal_entries (created_at, entry_id);
-- An entry is reversed at most once.
CREATE UNIQUE INDEX journal_entries_one_reversal ON journal_entries (reverses_entry_id)
    WHERE reverses_entry_id IS NOT NULL;

CREATE TABLE postings (
    posting_id    uuid PRIMARY KEY,
    entry_id      uuid NOT NULL REFERENCES journal_entries (entry_id),
    idx           smallint NOT NULL,
    account_id    uuid NOT NULL REFERENCES ledger_accounts (account_id),
    wallet_id     uuid NOT NULL,
    kind          smallint NOT NULL,
    fund_pool     smallint NOT NULL,
    currency      text NOT NULL,
    amount        numeric(28, 4) NOT NULL,
    balance_after numeric(28, 4) NOT NULL,
    entry_type    smallint NOT NULL,
    created_at    timestamptz NOT NULL,
    UNIQUE (entry_id, idx)
);
CREATE INDEX postings_account ON postings (account_id);
CREATE INDEX postings_wallet_statement ON postings (wallet_id, created_at, posting_id);

-- Entries and postings are immutable: corrections are reversing entries.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE receiving_accounts (
    receiving_account_id uuid PRIMARY KEY,
    wallet_id            uuid NOT NULL REFERENCES wallets (wallet_id),
    currency             text NOT NULL,
    display_name         text NOT NULL,
    purpose              smallint NOT NULL,
    account_number       text NOT NULL UNIQUE,
    holder_name          text NOT NULL,
    bank_name            text NOT NULL,
    bank_address         text NOT NULL,
    bank_country_code    text NOT NULL,
    swift_code           text NOT NULL,
    routing_code_type    smallint NOT NULL,
    routing_code         text NOT NULL,
    iban                 text NOT NULL,
    created_at           timestamptz NOT NULL
);
CREATE INDEX receiving_accounts_wallet ON receiving_accounts (wallet_id, created_at, receiving_account_id);

CREATE TABLE remittances (
    remittance_id        uuid PRIMARY KEY,
    receiving_account_id uuid NOT NULL REFERENCES receiving_accounts (receiving_account_id),
    wallet_id            uuid NOT NULL,
    bank_reference       text NOT NULL UNIQUE,
    currency             text NOT NULL,
    amount               numeric(28, 4) NOT NULL CHECK (amount > 0),
    unallocated          numeric(28, 4) NOT NULL CHECK (unallocated >= 0 AND unallocated <= amount),
    status               smallint NOT NULL,
    payer_name           text NOT NULL,
    payer_account_masked text NOT NULL,
    payer_bank_name      text NOT NULL,
    payer_country_code   text NOT NULL,
    remittance_info      text NOT NULL,
    value_time           timestamptz,
    entry_id             uuid NOT NULL,
    request_hash         bytea NOT NULL,
    created_at           timestamptz NOT NULL
);
CREATE INDEX remittances_wallet ON remittances (wallet_id, created_at DESC, remittance_id DESC);

CREATE TABLE holds (
    hold_id         uuid PRIMARY KEY,
    wallet_id       uuid NOT NULL REFERENCES wallets (wallet_id),
    purpose         smallint NOT NULL,
    currency        text NOT NULL,
    amount          numeric(28, 4) NOT NULL CHECK (amount > 0),
    fund_pool       smallint NOT NULL,
    state           smallint NOT NULL,
    order_id        text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    expire_at       timestamptz,
    created_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    payee_wallet_id uuid,
    captured_amount numeric(28, 4),
    released_amount numeric(28, 4),
    fee_legs        jsonb NOT NULL DEFAULT '[]',
    create_entry_id uuid NOT NULL,
    end_entry_id    uuid
);
CREATE INDEX holds_wallet ON holds (wallet_id, created_at DESC, hold_id DESC);
CREATE INDEX holds_order ON holds (order_id) WHERE order_id <> '';
CREATE INDEX holds_expiring ON holds (expire_at) WHERE state = 1 AND expire_at IS NOT NULL;

CREATE TABLE remittance_links (
    remittance_link_id uuid PRIMARY KEY,
    remittance_id      uuid NOT NULL REFERENCES remittances (remittance_id),
    order_id           text NOT NULL,
    payment_part       smallint NOT NULL,
    currency           text NOT NULL,
    amount             numeric(28, 4) NOT NULL CHECK (amount > 0),
    disposition        smallint NOT NULL,
    fund_pool          smallint NOT NULL,
    hold_id            uuid REFERENCES holds (hold_id),
    entry_id           uuid NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX remittance_links_remittance ON remittance_links (remittance_id, created_at);
-- Links are never changed or undone.
CREATE TRIGGER remittance_links_immutable BEFORE UPDATE OR DELETE ON remittance_links
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE transfers (
    transfer_id           uuid PRIMARY KEY,
    source_wallet_id      uuid NOT NULL,
    destination_wallet_id uuid NOT NULL,
    currency              text NOT NULL,
    amount                numeric(28, 4) NOT NULL,
    destination_fund_pool smallint NOT NULL,
    fee_legs              jsonb NOT NULL DEFAULT '[]',
    order_id              text NOT NULL DEFAULT '',
    description           text NOT NULL DEFAULT '',
    entry_id              uuid NOT NULL,
    created_at            timestamptz NOT NULL
);

-- One conversion entry per quote, ever.
CREATE TABLE conversions (
    quote_id   text PRIMARY KEY,
    wallet_id  uuid NOT NULL,
    request_id uuid NOT NULL,
    entry_id   uuid NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE bank_accounts (
    bank_account_id uuid PRIMARY KEY,
    wallet_id       uuid NOT NULL REFERENCES wallets (wallet_id),
    type            smallint NOT NULL,
    holder_name     text NOT NULL,
    bank_name       text NOT NULL,
    branch_name     text NOT NULL,
    -- Only a keyed fingerprint and the last four characters of the number are kept.
    account_fingerprint bytea NOT NULL,
    account_last4   text NOT NULL,
    swift_code      text NOT NULL,
    routing_code    text NOT NULL,
    country_code    text NOT NULL,
    currency        text NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (wallet_id, account_fingerprint, bank_name, currency)
);

-- The withdrawal fee schedule and limits: data, preloaded with seed 002's values.
CREATE TABLE withdrawal_fee_rules (
    fee_rule_id       uuid PRIMARY KEY,
    fund_pool         smallint NOT NULL,         -- 0: any pool
    currency          text NOT NULL,             -- '': any currency
    bank_account_type smallint NOT NULL,
    membership_tier   smallint NOT NULL,         -- 0: any tier
    fixed_fee         numeric(28, 4) NOT NULL,
    fixed_fee_currency text NOT NULL,
    fee_percent       numeric(10, 4) NOT NULL,
    limit_amount      numeric(28, 4),            -- NULL: no limit
    limit_currency    text NOT NULL DEFAULT 'USD',
    min_business_days int NOT NULL,
    max_business_days int NOT NULL,
    UNIQUE (fund_pool, currency, bank_account_type, membership_tier)
);
INSERT INTO withdrawal_fee_rules VALUES
 ('01936a00-0000-7000-8000-000000000001', 2, 'CNY', 1, 0,  0,  'CNY', 0,    NULL,    'USD', 1, 1),
 ('01936a00-0000-7000-8000-000000000002', 2, 'USD', 1, 0, 15,  'USD', 0,    5000000, 'USD', 1, 2),
 ('01936a00-0000-7000-8000-000000000003', 1, 'USD', 1, 0, 15,  'USD', 0,    5000000, 'USD', 1, 2),
 ('01936a00-0000-7000-8000-000000000004', 1, 'CNY', 1, 0,  0,  'CNY', 0,    NULL,    'USD', 1, 1),
 ('01936a00-0000-7000-8000-000000000005', 1, 'CNY', 2, 0,  0,  'CNY', 0.17, 50000,   'USD', 1, 4),
 ('01936a00-0000-7000-8000-000000000006', 1, 'CNY', 1, 1,  0,  'CNY', 0.5,  NULL,    'USD', 1, 1),
 ('01936a00-0000-7000-8000-000000000007', 1, 'CNY', 2, 1,  0,  'CNY', 0.5,  50000,   'USD', 1, 4),
 ('01936a00-0000-7000-8000-000000000008', 0, '',    3, 0,  0,  'USD', 0,    50000,   'USD', 1, 4);

CREATE TABLE withdrawals (
    withdrawal_id     uuid PRIMARY KEY,
    wallet_id         uuid NOT NULL REFERENCES wallets (wallet_id),
    bank_account_id   uuid NOT NULL REFERENCES bank_accounts (bank_account_id),
    source_fund_pool  smallint NOT NULL,
    currency          text NOT NULL,
    amount            numeric(28, 4) NOT NULL CHECK (amount > 0),
    fee               numeric(28, 4) NOT NULL CHECK (fee >= 0),
    fee_rule_id       uuid NOT NULL REFERENCES withdrawal_fee_rules (fee_rule_id),
    status            smallint NOT NULL,
    remark            text NOT NULL DEFAULT '',
    bank_reference    text NOT NULL DEFAULT '',
    failure_reason    text NOT NULL DEFAULT '',
    entry_id          uuid NOT NULL,
    reversal_entry_id uuid,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    finished_at       timestamptz
);
CREATE INDEX withdrawals_wallet ON withdrawals (wallet_id, created_at DESC, withdrawal_id DESC);
