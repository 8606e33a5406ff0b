-- The authz schema: cross-border pay mandates, the daily limit counters, payment decisions
-- and their reservations, and the restricted goods categories with their audit trail.
-- Amounts are NUMERIC(28, 4) (Decimal's 28 digits; the API bounds amounts to 15 integer
-- digits); rates NUMERIC(28, 12). Enum columns hold the proto enum numbers.

-- A wallet owner's authorisation for a marketplace buyer account to pay from the wallet.
-- `state` is kuajing.authorization.v1.MandateState as stored; EXPIRED is also derived on
-- read from expire_at (the sweeper stores it later).
CREATE TABLE mandates (
    mandate_id            uuid PRIMARY KEY,
    wallet_id             uuid NOT NULL,
    owner_account_id      uuid NOT NULL,
    marketplace           smallint NOT NULL,     -- kuajing.identity.v1.Marketplace
    external_member_id    text NOT NULL,
    linked_account_id     uuid NOT NULL,
    payer_account_id      uuid NOT NULL,
    state                 smallint NOT NULL CHECK (state BETWEEN 1 AND 4),
    funding_currency      text NOT NULL,
    agreement_version     text NOT NULL DEFAULT '',
    agreement_accepted_at timestamptz,
    activated_at          timestamptz,
    expire_at             timestamptz NOT NULL,
    revoked_at            timestamptz,
    revoke_reason         text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
-- At most one stored-ACTIVE mandate per marketplace member (activation first stores EXPIRED
-- on the member's active mandates whose end has passed).
CREATE UNIQUE INDEX mandates_one_active ON mandates (marketplace, external_member_id) WHERE state = 2;
CREATE INDEX mandates_member ON mandates (marketplace, external_member_id, created_at DESC, mandate_id DESC);
CREATE INDEX mandates_owner ON mandates (owner_account_id, created_at DESC, mandate_id DESC);
CREATE INDEX mandates_wallet ON mandates (wallet_id, created_at DESC, mandate_id DESC);
CREATE INDEX mandates_live_expiry ON mandates (expire_at) WHERE state IN (1, 2);

-- The mandate id CreateMandate chose for a request_id, kept so that a retry of the same
-- request sends the activation code for the same mandate (identity replays it) instead of
-- a second code for a new one. Holds no mandate: a request that failed leaves only this.
CREATE TABLE create_mandate_ids (
    request_id uuid PRIMARY KEY,
    mandate_id uuid NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

-- One row per mandate and limit day: the USD amounts of that day's RESERVED and CONFIRMED
-- reservations. Reserving is one conditional upsert on this row, so concurrent decisions
-- on a mandate serialise here and never pass the daily limit.
CREATE TABLE limit_days (
    mandate_id    uuid NOT NULL REFERENCES mandates (mandate_id),
    limit_date    date NOT NULL,
    reserved_usd  numeric(28, 4) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    confirmed_usd numeric(28, 4) NOT NULL DEFAULT 0 CHECK (confirmed_usd >= 0),
    PRIMARY KEY (mandate_id, limit_date)
);

-- Every recorded payment decision: who asked, what, the answer and why.
CREATE TABLE decisions (
    decision_id         uuid PRIMARY KEY,
    request_id          uuid NOT NULL,
    mandate_id          uuid,                   -- NULL when no mandate was found
    marketplace         smallint NOT NULL DEFAULT 0,
    external_member_id  text NOT NULL DEFAULT '',
    payment_id          uuid NOT NULL,
    order_ids           uuid[] NOT NULL,
    currency            text NOT NULL,
    amount              numeric(28, 4) NOT NULL CHECK (amount > 0),
    usd_amount          numeric(28, 4),
    usd_rate            numeric(28, 12),
    usd_rate_set_at     timestamptz,
    supplier_account_id uuid NOT NULL,
    category_codes      text[] NOT NULL,
    outcome             smallint NOT NULL CHECK (outcome IN (1, 2)),  -- DecisionOutcome
    reason              text NOT NULL DEFAULT '',
    message             text NOT NULL DEFAULT '',
    details             jsonb NOT NULL DEFAULT '{}',
    caller_service      text NOT NULL DEFAULT '',
    subject_account_id  uuid,
    created_at          timestamptz NOT NULL
);
CREATE INDEX decisions_mandate ON decisions (mandate_id, created_at DESC, decision_id DESC);
CREATE INDEX decisions_payment ON decisions (payment_id, created_at DESC, decision_id DESC);
CREATE INDEX decisions_time ON decisions (created_at DESC, decision_id DESC);

-- The hold on a mandate's daily limit made by an approving decision. RESERVED ends in
-- exactly one of CONFIRMED or RELEASED (conditional updates on `state`).
CREATE TABLE reservations (
    reservation_id uuid PRIMARY KEY,
    decision_id    uuid NOT NULL UNIQUE REFERENCES decisions (decision_id),
    mandate_id     uuid NOT NULL REFERENCES mandates (mandate_id),
    payment_id     uuid NOT NULL,
    currency       text NOT NULL,
    amount         numeric(28, 4) NOT NULL CHECK (amount > 0),
    usd_amount     numeric(28, 4) NOT NULL CHECK (usd_amount >= 0),
    limit_date     date NOT NULL,
    state          smallint NOT NULL CHECK (state BETWEEN 1 AND 3),  -- ReservationState
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    released_at    timestamptz,
    release_reason text NOT NULL DEFAULT ''
);
CREATE INDEX reservations_mandate_day ON reservations (mandate_id, limit_date);

-- Goods categories cross-border pay may not pay for (a code also covers its "."-children).
CREATE TABLE restricted_categories (
    category_code     text PRIMARY KEY,
    display_name      text NOT NULL,
    restricted        boolean NOT NULL,
    reason            text NOT NULL DEFAULT '',
    update_account_id text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

-- Audit trail of SetRestrictedCategory: actor, time, previous and new values, reason.
CREATE TABLE restricted_category_changes (
    change_id             uuid PRIMARY KEY,
    category_code         text NOT NULL REFERENCES restricted_categories (category_code),
    previous_display_name text,
    display_name          text NOT NULL,
    previous_restricted   boolean,
    restricted            boolean NOT NULL,
    actor_account_id      uuid NOT NULL,
    reason                text NOT NULL,
    request_id            uuid NOT NULL,
    changed_at            timestamptz NOT NULL
);
CREATE INDEX restricted_category_changes_code ON restricted_category_changes (category_code, changed_at DESC);

-- The seed's list (003: "pornography, gambling, drug abuse, violence, terrorism, plant seeds,
-- nutrients, cigarette paper, harpoons").
INSERT INTO restricted_categories (category_code, display_name, restricted, reason, created_at, updated_at)
SELECT code, name, true, 'preloaded: cross-border pay restricted goods list', now(), now()
FROM (VALUES
    ('pornography',     'Pornography (色情)'),
    ('gambling',        'Gambling (赌博)'),
    ('drugs',           'Drugs (毒品)'),
    ('violence',        'Violence (暴力)'),
    ('terrorism',       'Terrorism (恐怖主义)'),
    ('plant_seeds',     'Plant seeds (植物种子)'),
    ('nutrients',       'Nutrients (营养液)'),
    ('cigarette_paper', 'Cigarette paper (卷烟纸)'),
    ('harpoons',        'Harpoons (鱼叉)')
) AS seed (code, name);
