//! The forward action of each saga step: verify the PIN, decide (authorization), convert
//! (fx), hold (wallet escrow), mark the orders paid (the point of no return, one local
//! transaction), confirm the reservations. Each answers an `Outcome`; the driver records it.

use kuajing_proto::reasons::order as reasons;
use std::collections::HashMap;

use kuajing_platform::Currency;
use kuajing_platform::error::internal;
use kuajing_platform::time;
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::authorization::v1::{
    ConfirmReservationRequest, DecidePaymentRequest, DecisionOutcome, decide_payment_request,
};
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::fx::v1::{CreateQuoteRequest, ExecuteQuoteRequest, create_quote_request};
use kuajing_proto::identity::v1::VerifyPaymentPinRequest;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::order::v1::{
    ActorType, FxConversionSummary, OrderEventType, OrderKind, OrderStatus, PaymentMethod,
    PaymentStepKind, PaymentStepState, PaymentTarget, RemittanceAllocation, order,
};
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    CaptureHoldRequest, CreateHoldRequest, GetWalletRequest, HoldPurpose, get_wallet_request,
};
use rust_decimal::Decimal;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{
    Apply, Driver, Failure, Outcome, PAYMENT_DECLINED, PAYMENT_INTERRUPTED, QUOTE_EXPIRED, failure,
    failure_of,
};
use crate::domain::saga::{self, Purpose};
use crate::domain::status::{self, Action, Facts};
use crate::ops::events::{self, Event};

/// How long an escrow hold a payment creates lives if nothing ends it (a payment whose
/// saga was abandoned, an order never shipped nor refunded): then wallet returns the money
/// to the buyer by itself. Far beyond any order's own timeline (shipping window, automatic
/// receipt, refunds), which captures or releases it long before.
pub const ESCROW_LIFETIME: chrono::Duration = chrono::Duration::days(180);
use crate::domain::fees;
use crate::ops::payment_record;
use crate::ops::peers;
use crate::ops::pricing::{Fx, amount_of, money};
use crate::ops::{INSUFFICIENT_FUNDS, actor, quotas, receipt, records, remittances};
use crate::rpc;
use kuajing_platform::outbound::is_transient as transient;

impl Driver<'_> {
    pub(super) async fn verify_pin(&mut self, i: usize) -> Result<Outcome, Status> {
        let ctx = self.ctx;
        let Some(pin) = self.pin.clone() else {
            return Ok(Outcome::Failed(
                failure(
                    Code::Aborted,
                    PAYMENT_INTERRUPTED,
                    "the payment was interrupted before the PIN was verified; pay again",
                    HashMap::new(),
                    ctx.errors().0,
                ),
                Apply::None,
            ));
        };
        let req = VerifyPaymentPinRequest {
            request_id: self.p.steps[i].request_id.clone(),
            account_id: self.p.buyer_account_id.clone(),
            pin: pin.expose().to_owned(),
            operation_reference: format!("order.PayOrders:{}", self.p.payment_id),
        };
        Ok(
            match rpc!(
                ctx,
                "identity",
                IdentityServiceClient,
                verify_payment_pin,
                req
            ) {
                Ok(_) => Outcome::Succeeded(String::new(), Apply::None),
                // The PIN can't be kept for a later retry: no answer fails the payment, and
                // says so as what it is. Repeating the request replays this answer, so it
                // must not invite a repeat: the buyer pays again, with a new request id.
                Err(s) if transient(&s) => Outcome::Failed(
                    failure(
                        Code::Aborted,
                        PAYMENT_INTERRUPTED,
                        "identity did not answer while the PIN was verified; nothing was paid: \
                         pay again (a new request_id)",
                        HashMap::from([("service".to_owned(), "identity".to_owned())]),
                        ctx.errors().0,
                    ),
                    Apply::None,
                ),
                Err(s) => Outcome::Failed(failure_of(&s), Apply::None),
            },
        )
    }

    pub(super) fn decide_request(&self, i: usize) -> Result<DecidePaymentRequest, Status> {
        let step = &self.p.steps[i];
        let item = self
            .item_index(i)
            .map(|k| &self.p.items[k])
            .ok_or_else(|| internal("a decision step without its item"))?;
        let order = self
            .orders
            .get(&step.order_id)
            .ok_or_else(|| internal("a payment order was not loaded"))?;
        let mut categories: Vec<String> = Vec::new();
        for l in &order.lines {
            if !l.category_code.is_empty() && !categories.contains(&l.category_code) {
                categories.push(l.category_code.clone());
            }
        }
        Ok(DecidePaymentRequest {
            request_id: step.request_id.clone(),
            mandate_selector: Some(decide_payment_request::MandateSelector::MandateId(
                self.p.mandate_id.clone(),
            )),
            payment_id: self.p.payment_id.clone(),
            order_ids: vec![step.order_id.clone()],
            amount: item.hold_amount.clone(),
            supplier_account_id: order.supplier_account_id.clone(),
            category_codes: categories,
            validate_only: false,
        })
    }

    pub(super) async fn decide(&mut self, i: usize) -> Result<Outcome, Status> {
        let ctx = self.ctx;
        let req = self.decide_request(i)?;
        let decision = match rpc!(
            ctx,
            "authorization",
            AuthorizationServiceClient,
            decide_payment,
            req
        ) {
            Ok(r) => r
                .decision
                .ok_or_else(|| internal("authorization answered without a decision"))?,
            Err(s) if transient(&s) => return Ok(Outcome::Transient(s)),
            Err(s) => return Ok(Outcome::Failed(failure_of(&s), Apply::None)),
        };
        let reservation_id = decision
            .reservation
            .as_ref()
            .map(|r| r.reservation_id.clone())
            .unwrap_or_default();
        let apply = Apply::Decision {
            decision_id: decision.decision_id.clone(),
            reservation_id,
        };
        if decision.outcome == DecisionOutcome::Approved as i32 {
            return Ok(Outcome::Succeeded(decision.decision_id, apply));
        }
        let md = payment_record::md(&[
            ("order_id", self.p.steps[i].order_id.clone()),
            ("decision_id", decision.decision_id.clone()),
            ("decision_reason", decision.reason.clone()),
        ]);
        let message = if decision.message.is_empty() {
            format!("the payment was declined: {}", decision.reason)
        } else {
            decision.message.clone()
        };
        self.p.steps[i].result_id = decision.decision_id.clone();
        Ok(Outcome::Failed(
            failure(
                Code::FailedPrecondition,
                PAYMENT_DECLINED,
                message,
                md,
                ctx.errors().0,
            ),
            apply,
        ))
    }

    pub(super) async fn available(&self) -> Result<Decimal, Status> {
        let ctx = self.ctx;
        let req = GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::WalletId(
                self.p.wallet_id.clone(),
            )),
        };
        let wallet = rpc!(ctx, "wallet", WalletServiceClient, get_wallet, req)?
            .wallet
            .ok_or_else(|| internal("wallet answered without a wallet"))?;
        let code = self.settlement().code();
        Ok(wallet
            .balances
            .iter()
            .find(|b| b.currency_code == code)
            .map(|b| amount_of(b.available.as_ref()))
            .unwrap_or_default())
    }

    pub(super) fn insufficient(&self, currency: Currency, shortfall: Decimal) -> Failure {
        failure(
            Code::FailedPrecondition,
            INSUFFICIENT_FUNDS,
            format!(
                "the wallet is {currency} {} short",
                money(currency, shortfall).amount
            ),
            payment_record::md(&[
                ("currency_code", currency.code().to_owned()),
                ("shortfall", money(currency, shortfall).amount),
            ]),
            self.ctx.errors().0,
        )
    }

    pub(super) async fn convert(&mut self) -> Result<Outcome, Status> {
        let ctx = self.ctx;
        let settlement = self.settlement();
        let payment_id = self.payment_id();
        let shortfall = match self.shortfall().await? {
            Ok(s) => s,
            Err(outcome) => return Ok(outcome),
        };
        let mut summary = match self.quoted(shortfall).await? {
            Ok(s) => s,
            Err(outcome) => return Ok(outcome),
        };
        let source = self.p.fx_source_currency_code.clone();
        let req = ExecuteQuoteRequest {
            request_id: saga::request_id(
                payment_id,
                PaymentStepKind::FxConversion,
                None,
                Purpose::Execute,
            )
            .to_string(),
            quote_id: summary.quote_id.clone(),
            wallet_id: self.p.wallet_id.clone(),
        };
        match rpc!(ctx, "fx", FxServiceClient, execute_quote, req) {
            Ok(r) => {
                let c = r
                    .conversion
                    .ok_or_else(|| internal("fx answered without a conversion"))?;
                summary.conversion_id = c.conversion_id.clone();
                Ok(Outcome::Succeeded(
                    c.conversion_id,
                    Apply::Conversion(summary),
                ))
            }
            Err(s) if transient(&s) => Ok(Outcome::Transient(s)),
            Err(s) if peers::reason(&s) == QUOTE_EXPIRED => Ok(Outcome::Failed(
                failure(
                    Code::FailedPrecondition,
                    QUOTE_EXPIRED,
                    "the fx quote expired before it was executed; pay again with a new request_id",
                    payment_record::md(&[("quote_id", summary.quote_id.clone())]),
                    ctx.errors().0,
                ),
                Apply::None,
            )),
            Err(s) if peers::reason(&s) == INSUFFICIENT_FUNDS => {
                let sell = source.parse::<Currency>().unwrap_or(settlement);
                let need =
                    amount_of(summary.sell_amount.as_ref()) + amount_of(summary.fee.as_ref());
                Ok(Outcome::Failed(self.insufficient(sell, need), Apply::None))
            }
            Err(s) => Ok(Outcome::Failed(failure_of(&s), Apply::None)),
        }
    }

    /// What the wallet lacks in the settlement currency, decided once and recorded so a
    /// repeat sends the same quote; an outcome instead when nothing is lacking (skipped),
    /// or nothing may be converted from (insufficient funds), or another driver took over.
    async fn shortfall(&mut self) -> Result<Result<Decimal, Outcome>, Status> {
        let settlement = self.settlement();
        let total = amount_of(self.p.total_amount.as_ref());
        let decided = self
            .p
            .conversion
            .as_ref()
            .and_then(|c| c.buy_amount.as_ref())
            .map(|m| amount_of(Some(m)));
        if let Some(s) = decided {
            return Ok(Ok(s));
        }
        let available = match self.available().await {
            Ok(a) => a,
            Err(s) if transient(&s) => return Ok(Err(Outcome::Transient(s))),
            Err(s) => return Ok(Err(Outcome::Failed(failure_of(&s), Apply::None))),
        };
        let shortfall = total - available;
        if shortfall <= Decimal::ZERO {
            return Ok(Err(Outcome::Skipped));
        }
        let source = self
            .p
            .fx_source_currency_code
            .parse::<Currency>()
            .ok()
            .filter(|c| *c != settlement);
        if source.is_none() {
            let refused = self.insufficient(settlement, shortfall);
            return Ok(Err(Outcome::Failed(refused, Apply::None)));
        }
        self.p.conversion = Some(FxConversionSummary {
            buy_amount: Some(money(settlement, shortfall)),
            ..FxConversionSummary::default()
        });
        if !self.save().await? {
            return Ok(Err(Outcome::Lost));
        }
        Ok(Ok(shortfall))
    }

    /// The conversion's summary with fx's quote for `shortfall`, asked once and recorded.
    async fn quoted(
        &mut self,
        shortfall: Decimal,
    ) -> Result<Result<FxConversionSummary, Outcome>, Status> {
        let ctx = self.ctx;
        let settlement = self.settlement();
        let mut summary = self.p.conversion.clone().unwrap_or_default();
        if !summary.quote_id.is_empty() {
            return Ok(Ok(summary));
        }
        let req = CreateQuoteRequest {
            request_id: saga::request_id(
                self.payment_id(),
                PaymentStepKind::FxConversion,
                None,
                Purpose::Quote,
            )
            .to_string(),
            wallet_id: self.p.wallet_id.clone(),
            sell_currency_code: self.p.fx_source_currency_code.clone(),
            buy_currency_code: settlement.code().to_owned(),
            fixed_amount: Some(create_quote_request::FixedAmount::BuyAmount(money(
                settlement, shortfall,
            ))),
            ttl: None,
        };
        let quote = match rpc!(ctx, "fx", FxServiceClient, create_quote, req) {
            Ok(r) => r
                .quote
                .ok_or_else(|| internal("fx answered without a quote"))?,
            Err(s) if transient(&s) => return Ok(Err(Outcome::Transient(s))),
            Err(s) => return Ok(Err(Outcome::Failed(failure_of(&s), Apply::None))),
        };
        summary.quote_id = quote.quote_id.clone();
        summary.sell_amount = quote.sell_amount.clone();
        summary.rate = quote.applied_rate.clone();
        summary.fee = quote.fee.clone();
        self.p.conversion = Some(summary.clone());
        if !self.save().await? {
            return Ok(Err(Outcome::Lost));
        }
        Ok(Ok(summary))
    }

    pub(super) fn hold_request(&self, i: usize) -> Result<CreateHoldRequest, Status> {
        let step = &self.p.steps[i];
        let item = self
            .item_index(i)
            .map(|k| &self.p.items[k])
            .ok_or_else(|| internal("a hold step without its item"))?;
        let number = self
            .orders
            .get(&step.order_id)
            .map(|o| o.order_number.clone())
            .unwrap_or_default();
        Ok(CreateHoldRequest {
            request_id: step.request_id.clone(),
            wallet_id: self.p.wallet_id.clone(),
            amount: item.hold_amount.clone(),
            purpose: HoldPurpose::Escrow as i32,
            order_id: step.order_id.clone(),
            // From the payment's creation, so every repeat of the step asks the same.
            expire_time: self
                .p
                .create_time
                .as_ref()
                .and_then(time::from_proto)
                .map(|created| time::to_proto(created + ESCROW_LIFETIME)),
            description: format!("Escrow for order {number}"),
        })
    }

    pub(super) async fn hold(&mut self, i: usize) -> Result<Outcome, Status> {
        let ctx = self.ctx;
        let req = self.hold_request(i)?;
        match rpc!(ctx, "wallet", WalletServiceClient, create_hold, req.clone()) {
            Ok(r) => {
                let hold = r
                    .hold
                    .ok_or_else(|| internal("wallet answered without a hold"))?;
                Ok(Outcome::Succeeded(
                    hold.hold_id.clone(),
                    Apply::Hold {
                        hold_id: hold.hold_id,
                    },
                ))
            }
            Err(s) if transient(&s) => Ok(Outcome::Transient(s)),
            Err(s) if peers::reason(&s) == INSUFFICIENT_FUNDS => {
                let need = amount_of(req.amount.as_ref());
                let available = self.available().await.unwrap_or_default();
                Ok(Outcome::Failed(
                    self.insufficient(self.settlement(), need - available),
                    Apply::None,
                ))
            }
            Err(s) => Ok(Outcome::Failed(failure_of(&s), Apply::None)),
        }
    }

    /// Whether this driver still holds the payment's lease, its row locked in `tx`.
    async fn hold_lease(&self, tx: &mut sqlx::PgConnection) -> Result<bool, Status> {
        let owner = crate::store::payments::lease_owner_for_update(tx, self.payment_id())
            .await
            .map_err(internal)?;
        Ok(owner.flatten() == Some(self.lease))
    }

    /// The failure of an order that changed while it was being paid.
    fn order_changed(&self, order_id: &str) -> Outcome {
        Outcome::Failed(
            failure(
                Code::Aborted,
                reasons::ORDER_CHANGED,
                "an order changed while it was being paid",
                payment_record::md(&[("order_id", order_id.to_owned())]),
                self.ctx.errors().0,
            ),
            Apply::None,
        )
    }

    /// MARK_ORDERS_PAID: every order UNPAID -> PAID with the step, in one transaction (a
    /// trade order's payment: [`Self::mark_received`]).
    pub(super) async fn mark_paid(&mut self, i: usize) -> Result<Outcome, Status> {
        if self.p.target != PaymentTarget::Unspecified as i32 {
            return self.mark_received(i).await;
        }
        let ctx = self.ctx;
        let now = ctx.now();
        let payment_id = self.payment_id();
        let method =
            PaymentMethod::try_from(self.p.payment_method).unwrap_or(PaymentMethod::Unspecified);
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        if !self.hold_lease(&mut tx).await? {
            return Ok(Outcome::Lost);
        }
        // Orders are locked in one global order (by id), as PayOrders locks them.
        let mut items = self.p.items.clone();
        items.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        for item in items {
            let order_id = Uuid::try_parse(&item.order_id).map_err(internal)?;
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            let facts = Facts {
                kind: OrderKind::Marketplace,
                received_any: false,
            };
            let next = status::next(crate::ops::status_of(&o), facts, Action::MarkPaid);
            if o.pending_payment_id != self.p.payment_id || next.is_err() {
                tx.rollback().await.map_err(internal)?;
                return Ok(self.order_changed(&item.order_id));
            }
            let currency = Currency::CNY;
            let total = amount_of(o.total_amount.as_ref());
            // o.fees holds the fee fixed when the payment was made (its tier included).
            o.status = OrderStatus::Paid as i32;
            o.payment_method = method as i32;
            o.received_amount = Some(money(currency, total));
            o.paid_time = Some(time::to_proto(now));
            o.pending_payment_id.clear();
            o.expire_time = None;
            if let Some(order::Details::Marketplace(m)) = o.details.as_mut() {
                m.payment_id = self.p.payment_id.clone();
                m.escrow_hold_id = item.hold_id.clone();
                m.mandate_id = self.p.mandate_id.clone();
                m.wallet_id = self.p.wallet_id.clone();
                m.decision_id = item.decision_id.clone();
            }
            records::save(&mut tx, &mut o, now).await?;
            let event = Event::new(
                OrderEventType::PaymentSucceeded,
                actor(ActorType::System, None, ""),
                OrderStatus::Unpaid,
                OrderStatus::Paid,
                &self.p.request_id,
            )
            .related("payment_id", payment_id)
            .related("hold_id", &item.hold_id);
            events::append(&mut tx, &o, event, now).await?;
        }
        self.commit_mark(i, tx).await
    }

    /// Records MARK_ORDERS_PAID (and marks the next step) in the transaction that marked
    /// the orders, and commits it.
    async fn commit_mark(
        &mut self,
        i: usize,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    ) -> Result<Outcome, Status> {
        self.touch(i, PaymentStepState::Succeeded);
        self.mark_next();
        let keep = payment_record::Lease::Keep;
        if !payment_record::persist(
            &mut tx,
            self.ctx,
            &mut self.p,
            self.lease,
            &self.domain,
            keep,
        )
        .await?
        {
            return Ok(Outcome::Lost);
        }
        tx.commit().await.map_err(internal)?;
        Ok(Outcome::Committed)
    }

    /// MARK_ORDERS_PAID of a trade order's payment: the held amount recorded as received on
    /// the target (as a remittance link is), taking the supplier's quotas with the capture
    /// step's request id, in one transaction with the step.
    async fn mark_received(&mut self, i: usize) -> Result<Outcome, Status> {
        let ctx = self.ctx;
        let now = ctx.now();
        let payment_id = self.payment_id();
        let item = self
            .p
            .items
            .first()
            .cloned()
            .ok_or_else(|| internal("a trade payment without its order"))?;
        let order_id = Uuid::try_parse(&item.order_id).map_err(internal)?;
        let order = self
            .orders
            .get(&item.order_id)
            .ok_or_else(|| internal("a payment order was not loaded"))?;
        let supplier = Uuid::try_parse(&order.supplier_account_id).map_err(internal)?;
        let guaranteed_order = order.kind == OrderKind::TradeAssurance as i32;
        let currency = self.settlement();
        let amount = amount_of(item.hold_amount.as_ref());
        let capture = self
            .p
            .steps
            .iter()
            .find(|s| s.kind == PaymentStepKind::WalletCapture as i32)
            .ok_or_else(|| internal("a trade payment without its capture"))?;
        let capture_id = Uuid::try_parse(&capture.request_id).map_err(internal)?;
        // What the quotas need from other services, asked before the transaction.
        let usd = match Fx::new(ctx).convert(amount, currency, Currency::USD).await {
            Ok(v) => v,
            Err(s) if transient(&s) => return Ok(Outcome::Transient(s)),
            Err(s) => return Ok(Outcome::Failed(failure_of(&s), Apply::None)),
        };
        let suspended = if guaranteed_order {
            match quotas::credit_suspended(ctx, &order.supplier_account_id).await {
                Ok(v) => v,
                Err(s) if transient(&s) => return Ok(Outcome::Transient(s)),
                Err(s) => return Ok(Outcome::Failed(failure_of(&s), Apply::None)),
            }
        } else {
            false
        };
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        if !self.hold_lease(&mut tx).await? {
            return Ok(Outcome::Lost);
        }
        let mut o = records::lock(&mut tx, ctx, order_id).await?;
        let target = PaymentTarget::try_from(self.p.target).unwrap_or(PaymentTarget::Prepayment);
        let d = remittances::dues(&o);
        let legal = status::next(
            crate::ops::status_of(&o),
            crate::ops::receipt::facts(&o),
            remittances::action(&d, target, amount),
        );
        if o.pending_payment_id != self.p.payment_id || legal.is_err() || amount > d.due(target) {
            tx.rollback().await.map_err(internal)?;
            return Ok(self.order_changed(&item.order_id));
        }
        let took = match quotas::take(
            &mut tx,
            ctx,
            supplier,
            order_id,
            capture_id,
            guaranteed_order,
            usd,
            suspended,
            now,
        )
        .await
        {
            Ok(t) => t,
            Err(s) => {
                tx.rollback().await.map_err(internal)?;
                return Ok(if transient(&s) {
                    Outcome::Transient(s)
                } else {
                    Outcome::Failed(failure_of(&s), Apply::None)
                });
            }
        };
        let allocation = RemittanceAllocation {
            remittance_link_id: String::new(),
            remittance_id: String::new(),
            target: target as i32,
            amount: Some(money(currency, amount)),
            create_time: Some(time::to_proto(now)),
            guaranteed: took.guaranteed,
            guarantee_hold_id: String::new(),
            payment_id: self.p.payment_id.clone(),
        };
        let (from, to) = remittances::receive(&mut o, allocation, now);
        o.pending_payment_id.clear();
        records::save(&mut tx, &mut o, now).await?;
        let event = Event::new(
            OrderEventType::PaymentSucceeded,
            actor(ActorType::System, None, ""),
            from,
            to,
            &self.p.request_id,
        )
        .related("payment_id", payment_id)
        .related("hold_id", &item.hold_id);
        events::append(&mut tx, &o, event, now).await?;
        self.p.items[0].guaranteed = took.guaranteed;
        self.commit_mark(i, tx).await
    }

    /// WALLET_CAPTURE of a trade order's payment: the buyer's hold captured to the
    /// supplier, in the pool of the order's export method, as guarantee funds when the
    /// quotas said so at MARK_ORDERS_PAID (recorded then, so every repeat asks the same).
    /// Past the point of no return nothing is undone: a refusal is logged and the step
    /// paused for the recovery loop to repeat, never ended unpaid.
    pub(super) async fn capture(&mut self, i: usize) -> Result<Outcome, Status> {
        let ctx = self.ctx;
        let item = self
            .item_index(i)
            .map(|k| self.p.items[k].clone())
            .ok_or_else(|| internal("a capture step without its item"))?;
        let order_id = Uuid::try_parse(&item.order_id).map_err(internal)?;
        let order = {
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            records::load(&mut conn, ctx, order_id).await?
        };
        let export = crate::ops::pricing::trade(&order).map(|t| t.export_method);
        let sent = async {
            let payee = receipt::wallet_of(ctx, &order.supplier_account_id).await?;
            let req = CaptureHoldRequest {
                request_id: self.p.steps[i].request_id.clone(),
                hold_id: item.hold_id.clone(),
                payee_wallet_id: payee,
                amount: item.hold_amount.clone(),
                payee_fund_pool: fees::proceeds_pool(export) as i32,
                fee_legs: Vec::new(),
                payee_guarantee: item.guaranteed,
            };
            rpc!(ctx, "wallet", WalletServiceClient, capture_hold, req)
        };
        let r = match sent.await {
            Ok(r) => r,
            Err(s) => {
                if !transient(&s) {
                    tracing::error!(payment_id = %self.p.payment_id, order_id = %order_id,
                        reason = %peers::reason(&s), "a paid order's capture was refused; it is repeated until it is done");
                }
                return Ok(Outcome::Transient(s));
            }
        };
        let Some(g) = r.guarantee_hold else {
            return Ok(Outcome::Succeeded(item.hold_id, Apply::None));
        };
        // The guarantee hold, where completion and refunds will find it; released at once
        // when the order ended before the capture (nothing else would release it).
        let now = ctx.now();
        let op = Uuid::try_parse(&self.p.steps[i].request_id).map_err(internal)?;
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        let mut o = records::lock(&mut tx, ctx, order_id).await?;
        quotas::held(&mut tx, op, &g.hold_id).await?;
        if let Some(t) = crate::ops::pricing::trade_mut(&mut o) {
            for a in t
                .remittance_allocations
                .iter_mut()
                .filter(|a| a.payment_id == self.p.payment_id)
            {
                a.guarantee_hold_id = g.hold_id.clone();
            }
        }
        records::save(&mut tx, &mut o, now).await?;
        quotas::release_if_ended(&mut tx, &o, now).await?;
        tx.commit().await.map_err(internal)?;
        Ok(Outcome::Succeeded(
            item.hold_id,
            Apply::Guarantee { hold_id: g.hold_id },
        ))
    }

    pub(super) async fn confirm(&mut self, i: usize) -> Result<Outcome, Status> {
        let ctx = self.ctx;
        let reservation_id = self
            .item_index(i)
            .map(|k| self.p.items[k].reservation_id.clone())
            .unwrap_or_default();
        if reservation_id.is_empty() {
            return Ok(Outcome::Skipped);
        }
        let req = ConfirmReservationRequest {
            request_id: self.p.steps[i].request_id.clone(),
            reservation_id: reservation_id.clone(),
        };
        Ok(
            match rpc!(
                ctx,
                "authorization",
                AuthorizationServiceClient,
                confirm_reservation,
                req
            ) {
                Ok(_) => Outcome::Succeeded(reservation_id, Apply::None),
                Err(s) if transient(&s) => Outcome::Transient(s),
                Err(s) => Outcome::Failed(failure_of(&s), Apply::None),
            },
        )
    }
}
