-- Seed 002's withdrawal table, row for row (账户类型 / 提现币种 / 提现账户 / 提现手续费 / 金额限制):
--   agent export  CNY  domestic corporate                none        unlimited       (...0001)
--   agent export  USD  domestic corporate                USD 15      USD 5,000,000   (...0002)
--   self-export   CNY  domestic corporate                none        unlimited       (...0004)
--   self-export   CNY  legal representative's personal   0.17 %      USD 50,000      (...0005)
-- and its notes: "港台客户仅支持美元提现" (Hong Kong and Taiwan customers withdraw USD only:
-- enforced by the wallet from the supplier's region) and "已认证免费会员人民币提现时，对公、对私
-- 手续费均为结汇金额（美金）*0.5%" (a verified free member's CNY withdrawals, corporate and
-- personal, cost 0.5 %). Self-export USD to a corporate account (...0003) stays: the same page
-- says "e收汇订单支持美金和人民币对公提现" (Direct Pay proceeds, which land in the self-export
-- account, go out in USD to a corporate account); the pool does not tell a Direct Pay
-- order's proceeds from others', so the route is open to the whole pool.
--
-- A rule no longer offered is kept (withdrawals made under it name it) but inactive.
ALTER TABLE withdrawal_fee_rules ADD COLUMN active boolean NOT NULL DEFAULT true;
-- No row withdraws to a person's own account: the sources are silent, so the route closes.
UPDATE withdrawal_fee_rules SET active = false
WHERE fee_rule_id = '01936a00-0000-7000-8000-000000000008';
-- The free member's 0.5 % applies to the agent-export account's CNY too.
INSERT INTO withdrawal_fee_rules
    (fee_rule_id, fund_pool, currency, bank_account_type, membership_tier, fixed_fee,
     fixed_fee_currency, fee_percent, limit_amount, limit_currency, min_business_days,
     max_business_days)
VALUES ('01936a00-0000-7000-8000-000000000009', 2, 'CNY', 1, 1, 0, 'CNY', 0.5, NULL, 'USD', 1, 1);
