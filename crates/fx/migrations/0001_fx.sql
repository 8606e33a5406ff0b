-- The fx schema: mid rates and their audit trail, quotes, and conversions.
-- Rates are NUMERIC(28,12): 12 decimal places, as the contract states.

CREATE TABLE rates (
    base_currency  text NOT NULL,
    quote_currency text NOT NULL,
    mid_rate       numeric(28, 12) NOT NULL CHECK (mid_rate > 0),
    set_at         timestamptz NOT NULL,
    source         smallint NOT NULL,  -- kuajing.fx.v1.RateSource
    PRIMARY KEY (base_currency, quote_currency),
    CHECK (base_currency <> quote_currency)
);

CREATE TABLE rate_changes (
    rate_change_id    uuid PRIMARY KEY,
    base_currency     text NOT NULL,
    quote_currency    text NOT NULL,
    previous_mid_rate numeric(28, 12),
    mid_rate          numeric(28, 12) NOT NULL,
    source            smallint NOT NULL,
    actor_account_id  text NOT NULL DEFAULT '',
    reason            text NOT NULL,
    request_id        uuid,
    changed_at        timestamptz NOT NULL
);
CREATE INDEX rate_changes_pair ON rate_changes (base_currency, quote_currency, changed_at DESC);

CREATE TABLE quotes (
    quote_id        uuid PRIMARY KEY,
    wallet_id       uuid NOT NULL,
    sell_currency   text NOT NULL,
    buy_currency    text NOT NULL,
    fixed_side      smallint NOT NULL,
    sell_amount     numeric(28, 4) NOT NULL CHECK (sell_amount > 0),
    buy_amount      numeric(28, 4) NOT NULL CHECK (buy_amount > 0),
    fee             numeric(28, 4) NOT NULL CHECK (fee >= 0),
    mid_rate        numeric(28, 12) NOT NULL,
    spread_bps      integer NOT NULL,
    applied_rate    numeric(28, 12) NOT NULL,
    rate_set_at     timestamptz NOT NULL,
    derivation      smallint NOT NULL,
    cross_currency  text NOT NULL DEFAULT '',
    state           smallint NOT NULL,     -- kuajing.fx.v1.QuoteState (EXPIRED is derived on read)
    executing_request_id uuid,             -- the one request allowed to execute it
    conversion_id   uuid,
    created_at      timestamptz NOT NULL,
    expire_at       timestamptz NOT NULL
);

CREATE TABLE conversions (
    conversion_id uuid PRIMARY KEY,
    quote_id      uuid NOT NULL UNIQUE REFERENCES quotes (quote_id),
    wallet_id     uuid NOT NULL,
    sell_amount   numeric(28, 4) NOT NULL,
    buy_amount    numeric(28, 4) NOT NULL,
    fee           numeric(28, 4) NOT NULL,
    applied_rate  numeric(28, 12) NOT NULL,
    entry_id      uuid NOT NULL,
    request_id    uuid NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX conversions_wallet ON conversions (wallet_id, created_at DESC, conversion_id DESC);
