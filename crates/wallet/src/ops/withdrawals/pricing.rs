//! What a withdrawal costs and may be: the fee schedule (data rows), the owner's membership
//! tier and region, limits in their currency, and the price of one withdrawal.

use kuajing_platform::error::internal;
use kuajing_platform::outbound;
use kuajing_platform::page::Page;
use kuajing_platform::{Currency, FieldViolations, Money};
use kuajing_proto::fx::v1::{GetEquivalentRequest, fx_service_client::FxServiceClient};
use kuajing_proto::identity::v1::{
    GetSupplierProfileRequest, SupplierMembership, identity_service_client::IdentityServiceClient,
};
use kuajing_proto::wallet::v1::{
    EstimateWithdrawalFeeRequest, EstimateWithdrawalFeeResponse, FundPool,
    ListWithdrawalFeeRulesRequest, ListWithdrawalFeeRulesResponse, MembershipTier,
    WithdrawalFeeRule,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{
    WITHDRAWAL_AMOUNT_BELOW_FEE, WITHDRAWAL_CURRENCY_NOT_ALLOWED, WITHDRAWAL_ROUTE_NOT_SUPPORTED,
};
use crate::domain::ledger::AccountKey;
use crate::domain::withdrawal::{self, FeeRule, Route};
use crate::ops::{Ctx, balance_of, currency_mismatch, require_wallet};
use crate::store::{self, withdrawals::FeeRuleRow};

pub(super) async fn load_rules(
    conn: &mut PgConnection,
) -> Result<Vec<(FeeRule, FeeRuleRow)>, Status> {
    let rows = store::withdrawals::active_rules(conn)
        .await
        .map_err(internal)?;
    rows.into_iter()
        .map(|r| {
            let rule = FeeRule {
                id: r.fee_rule_id,
                fund_pool: i32::from(r.fund_pool),
                currency: if r.currency.is_empty() {
                    None
                } else {
                    Some(r.currency.parse().map_err(internal)?)
                },
                bank_account_type: i32::from(r.bank_account_type),
                membership_tier: i32::from(r.membership_tier),
                fixed_fee: r.fixed_fee,
                fee_percent: r.fee_percent,
                limit: r.limit_amount,
                limit_currency: r.limit_currency.parse().map_err(internal)?,
            };
            Ok((rule, r))
        })
        .collect()
}

pub(super) fn rule_proto(rule: &FeeRule, row: &FeeRuleRow) -> Result<WithdrawalFeeRule, Status> {
    let fixed_currency: Currency = row.fixed_fee_currency.parse().map_err(internal)?;
    Ok(WithdrawalFeeRule {
        fee_rule_id: rule.id.to_string(),
        fund_pool: rule.fund_pool,
        currency_code: rule
            .currency
            .map(|c| c.code().to_owned())
            .unwrap_or_default(),
        bank_account_type: rule.bank_account_type,
        membership_tier: rule.membership_tier,
        fixed_fee: Some(
            Money::rounded(fixed_currency, rule.fixed_fee)
                .map_err(internal)?
                .to_proto(),
        ),
        fee_percent: rule.fee_percent.normalize().to_string(),
        per_withdrawal_limit: match rule.limit {
            Some(l) => Some(
                Money::rounded(rule.limit_currency, l)
                    .map_err(internal)?
                    .to_proto(),
            ),
            None => None,
        },
        min_business_days: row.min_business_days,
        max_business_days: row.max_business_days,
    })
}

/// ListWithdrawalFeeRules (the schedule is small: one page).
pub async fn list_fee_rules(
    ctx: &Ctx,
    req: ListWithdrawalFeeRulesRequest,
) -> Result<ListWithdrawalFeeRulesResponse, Status> {
    let mut v = FieldViolations::new();
    let _ = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let rules = load_rules(&mut conn).await?;
    let fee_rules = rules
        .iter()
        .map(|(r, row)| rule_proto(r, row))
        .collect::<Result<_, _>>()?;
    Ok(ListWithdrawalFeeRulesResponse {
        fee_rules,
        page: Some(Default::default()),
    })
}

/// The wallet's owner, its membership tier and region (from identity's supplier profile; a
/// buyer without one counts as any tier, of no region).
pub(super) async fn owner_and_tier(
    ctx: &Ctx,
    conn: &mut PgConnection,
    wallet_id: Uuid,
) -> Result<(Uuid, MembershipTier, String), Status> {
    let owner = store::owners::of_wallet(&mut *conn, wallet_id)
        .await
        .map_err(internal)?
        .into_iter()
        .next()
        .ok_or_else(|| ctx.errors().not_found("wallet", wallet_id.to_string()))?;
    let identity = IdentityServiceClient::new(ctx.svc.peers.channel("identity").map_err(internal)?);
    let request = GetSupplierProfileRequest {
        account_id: owner.to_string(),
    };
    let profile = match outbound::unary(&identity, request, |mut c, r| async move {
        c.get_supplier_profile(r).await
    })
    .await
    {
        Ok(r) => r.supplier_profile,
        Err(s) if s.code() == Code::NotFound => None,
        Err(s) => return Err(s),
    };
    let tier = match profile.as_ref().map(|p| p.membership()) {
        Some(SupplierMembership::Free) => MembershipTier::Free,
        Some(SupplierMembership::Paid) => MembershipTier::Paid,
        _ => MembershipTier::Unspecified,
    };
    let region = profile.map(|p| p.region_code).unwrap_or_default();
    Ok((owner, tier, region))
}

/// `amount` in the limit's currency (asks fx when they differ), unrounded: fx's rounded
/// equivalent could hide up to half a minor unit over the limit.
pub(super) async fn in_limit_currency(
    ctx: &Ctx,
    amount: Money,
    limit_currency: Currency,
) -> Result<Decimal, Status> {
    if amount.currency() == limit_currency {
        return Ok(amount.amount());
    }
    let fx = FxServiceClient::new(ctx.svc.peers.channel("fx").map_err(internal)?);
    let request = GetEquivalentRequest {
        amount: Some(amount.to_proto()),
        target_currency_code: limit_currency.code().to_owned(),
    };
    let eq = outbound::unary(
        &fx,
        request,
        |mut c, r| async move { c.get_equivalent(r).await },
    )
    .await?;
    let eq = eq
        .equivalent
        .ok_or_else(|| internal("fx answered no equivalent"))?;
    let rate = kuajing_platform::money::parse_decimal(&eq.rate).map_err(internal)?;
    amount
        .amount()
        .checked_mul(rate)
        .ok_or_else(|| internal("equivalent out of range"))
}

/// A priced withdrawal.
pub(super) struct Priced {
    pub(super) rule: FeeRule,
    pub(super) rule_proto: WithdrawalFeeRule,
    pub(super) fee: Decimal,
    pub(super) within_limit: bool,
    pub(super) tier: MembershipTier,
    pub(super) owner: Uuid,
}

pub(super) async fn price(
    ctx: &Ctx,
    conn: &mut PgConnection,
    wallet_id: Uuid,
    bank_account_id: Uuid,
    pool: FundPool,
    amount: Money,
) -> Result<Priced, Status> {
    let bank = store::bank_accounts::type_and_currency(&mut *conn, bank_account_id, wallet_id)
        .await
        .map_err(internal)?;
    let Some((ty, currency)) = bank else {
        return Err(ctx
            .errors()
            .not_found("bank_account", bank_account_id.to_string()));
    };
    let currency: Currency = currency.parse().map_err(internal)?;
    if currency != amount.currency() {
        return Err(currency_mismatch(
            ctx.errors(),
            &format!("bank_account/{bank_account_id}"),
            currency,
            amount.currency(),
        ));
    }
    let (owner, tier, region) = owner_and_tier(ctx, conn, wallet_id).await?;
    if !withdrawal::currency_allowed_in(&region, currency) {
        return Err(ctx.errors().precondition(
            WITHDRAWAL_CURRENCY_NOT_ALLOWED,
            format!("bank_account/{bank_account_id}"),
            format!("customers in {region} withdraw in USD only (seed 002)"),
        ));
    }
    let route = Route {
        fund_pool: pool as i32,
        currency,
        bank_account_type: i32::from(ty),
        membership_tier: tier as i32,
    };
    let rules = load_rules(conn).await?;
    let only_rules: Vec<FeeRule> = rules.iter().map(|(r, _)| r.clone()).collect();
    let Some(picked) = withdrawal::pick_rule(&only_rules, &route) else {
        return Err(ctx.errors().precondition(
            WITHDRAWAL_ROUTE_NOT_SUPPORTED,
            format!("bank_account/{bank_account_id}"),
            format!(
                "withdrawals of {currency} from this fund pool to this account type are not \
                 offered (seed 002's withdrawal table has no such row)"
            ),
        ));
    };
    let (rule, rule_row) = rules
        .iter()
        .find(|(r, _)| r.id == picked.id)
        .ok_or_else(|| internal("picked rule vanished"))?;
    let within_limit = match rule.limit {
        None => true,
        Some(_) => withdrawal::within_limit(
            rule,
            in_limit_currency(ctx, amount, rule.limit_currency).await?,
        ),
    };
    let fee = rule.fee(amount.amount(), currency);
    if !withdrawal::leaves_something_after_fee(amount.amount(), fee) {
        return Err(ctx.errors().precondition(
            WITHDRAWAL_AMOUNT_BELOW_FEE,
            format!("bank_account/{bank_account_id}"),
            format!(
                "the fee of {fee} {currency} would take the whole amount: withdraw more than the fee"
            ),
        ));
    }
    let rule_proto = rule_proto(rule, rule_row)?;
    Ok(Priced {
        rule: rule.clone(),
        rule_proto,
        fee,
        within_limit,
        tier,
        owner,
    })
}

/// EstimateWithdrawalFee: prices without writing.
pub async fn estimate(
    ctx: &Ctx,
    req: EstimateWithdrawalFeeRequest,
) -> Result<EstimateWithdrawalFeeResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let bank = v.uuid("bank_account_id", &req.bank_account_id);
    let pool = v.enum_or("source_fund_pool", req.source_fund_pool, FundPool::Standard);
    let amount = v.positive_money("amount", req.amount.as_ref());
    v.finish()?;
    let (wallet_id, bank, pool, amount) = (
        wallet_id.expect("ok"),
        bank.expect("ok"),
        pool,
        amount.expect("ok"),
    );
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let p = price(ctx, &mut conn, wallet_id, bank, pool, amount).await?;
    let available = balance_of(
        &mut conn,
        &AccountKey::available(wallet_id, amount.currency(), pool),
    )
    .await?;
    let c = amount.currency();
    Ok(EstimateWithdrawalFeeResponse {
        fee: Some(Money::rounded(c, p.fee).map_err(internal)?.to_proto()),
        net_amount: Some(
            Money::rounded(c, amount.amount() - p.fee)
                .map_err(internal)?
                .to_proto(),
        ),
        fee_rule: Some(p.rule_proto),
        within_limit: p.within_limit,
        sufficient_funds: available >= amount.amount(),
        membership_tier: p.tier as i32,
    })
}
