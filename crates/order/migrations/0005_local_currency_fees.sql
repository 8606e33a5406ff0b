-- Seed 002's method table gives the domestic wire's fee as "约1当地货币" (about one unit of
-- the payer's local currency), not USD 1: fee_currency LOCAL means the fixed fees are in the
-- currency the payer pays (the order's), converted from nothing.
UPDATE payment_method_schedules SET fee_currency = 'LOCAL' WHERE payment_method = 8;
