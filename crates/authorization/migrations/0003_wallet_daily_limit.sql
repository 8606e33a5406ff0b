-- Seed 003's daily limit (USD 100 million a day) is the buyer's, across every mandate on
-- its wallet, not each mandate's: a wallet with N authorised marketplace accounts got N
-- times the limit. The day's counters move from the mandate to the wallet it pays from;
-- days already counted carry over, summed per wallet.
CREATE TABLE wallet_limit_days (
    wallet_id     uuid NOT NULL,
    limit_date    date NOT NULL,
    reserved_usd  numeric(28, 4) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    confirmed_usd numeric(28, 4) NOT NULL DEFAULT 0 CHECK (confirmed_usd >= 0),
    PRIMARY KEY (wallet_id, limit_date)
);
INSERT INTO wallet_limit_days (wallet_id, limit_date, reserved_usd, confirmed_usd)
SELECT m.wallet_id, d.limit_date, sum(d.reserved_usd), sum(d.confirmed_usd)
FROM limit_days d JOIN mandates m USING (mandate_id)
GROUP BY m.wallet_id, d.limit_date;
DROP TABLE limit_days;
