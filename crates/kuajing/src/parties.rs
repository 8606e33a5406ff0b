//! The people a load run needs, set up the way the platform's own services would: a
//! verified buyer (email confirmed, real name approved by an operator, a 1688 member bound,
//! a payment PIN, a wallet, an active cross-border pay mandate, a signed-in session) and an
//! admitted supplier. Everything goes through the real services' RPCs; the only shortcut is
//! reading verification codes from identity's development outbox, as a person running
//! `kuajing up` would read them from the log.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use kuajing_platform::auth::{Keyring, SUBJECT_HEADER, TOKEN_HEADER, TOKEN_TTL};
use kuajing_platform::balance::{Balanced, Source};
use kuajing_proto::authorization::v1 as authz;
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::order::v1::order_service_client::OrderServiceClient;
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tonic::service::interceptor::InterceptedService;

/// The password every party signs in with.
pub const PASSWORD: &str = "Sunny-Day-42";
/// The payment PIN every buyer sets.
pub const PIN: &str = "135790";
/// The agreement version a mandate is activated under.
pub const AGREEMENT_VERSION: &str = "kjb-2023-02";

/// A channel whose requests carry one caller's service token for one audience, balanced
/// over every instance its URL setting names (one URL, or several comma-separated).
pub type Authed = InterceptedService<Balanced, Token>;

/// Adds a service token to each request: one given (an operator's, read from a file), or
/// minted from a keyring for a caller and audience and renewed before it expires (a
/// service's token may live ten minutes at most, so a long run keeps minting).
#[derive(Clone)]
pub struct Token(TokenSource);

#[derive(Clone)]
enum TokenSource {
    Given(tonic::metadata::MetadataValue<tonic::metadata::Ascii>),
    Minted(Arc<Minter>),
}

struct Minter {
    keyring: Keyring,
    caller: String,
    audience: String,
    current: std::sync::Mutex<Minted>,
}

type Minted = (tonic::metadata::MetadataValue<tonic::metadata::Ascii>, i64);

/// A token valid for [`TOKEN_TTL`] and the time it should be renewed (half-way).
fn mint(keyring: &Keyring, caller: &str, audience: &str) -> anyhow::Result<Minted> {
    let now = chrono::Utc::now();
    let token = keyring
        .token(caller, audience, now + TOKEN_TTL)
        .ok_or_else(|| anyhow::anyhow!("no key for {caller}"))?;
    Ok((token.parse()?, (now + TOKEN_TTL / 2).timestamp()))
}

impl Token {
    /// A token as metadata.
    pub fn new(token: &str) -> anyhow::Result<Token> {
        Ok(Token(TokenSource::Given(
            token.trim().parse().context("an ASCII token")?,
        )))
    }

    /// Tokens minted from `keyring` for `caller` calling `audience`.
    pub fn minted(keyring: &Keyring, caller: &str, audience: &str) -> anyhow::Result<Token> {
        let first = mint(keyring, caller, audience)?;
        Ok(Token(TokenSource::Minted(Arc::new(Minter {
            keyring: keyring.clone(),
            caller: caller.to_owned(),
            audience: audience.to_owned(),
            current: std::sync::Mutex::new(first),
        }))))
    }
}

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let value = match &self.0 {
            TokenSource::Given(v) => v.clone(),
            TokenSource::Minted(m) => {
                let mut current = m.current.lock().unwrap_or_else(|p| p.into_inner());
                if chrono::Utc::now().timestamp() >= current.1 {
                    *current = mint(&m.keyring, &m.caller, &m.audience)
                        .map_err(|e| tonic::Status::internal(format!("service token: {e}")))?;
                }
                current.0.clone()
            }
        };
        r.metadata_mut().insert(TOKEN_HEADER, value);
        Ok(r)
    }
}

/// A lazily connected channel to `url` (one URL, or every instance's, comma-separated)
/// acting as `caller`.
pub fn channel(
    url: &str,
    keyring: &Keyring,
    caller: &str,
    audience: &str,
) -> anyhow::Result<Authed> {
    Ok(InterceptedService::new(
        balanced(audience, url)?,
        Token::minted(keyring, caller, audience)?,
    ))
}

/// A plain channel balanced over every instance `url` names (a person's app talking to
/// edge needs no service token).
pub fn balanced(name: &str, url: &str) -> anyhow::Result<Balanced> {
    Balanced::new(
        name,
        &Source::parse(url)?,
        kuajing_platform::balance::plain(),
    )
}

/// A request made on behalf of `subject` (an account id).
pub fn acting<T>(subject: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(SUBJECT_HEADER, subject.parse().context("subject")?);
    Ok(request)
}

/// A request carrying a person's access token, as a client of edge sends it.
pub fn bearer<T>(access_token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {access_token}").parse().context("token")?,
    );
    Ok(request)
}

/// A fresh request id.
pub fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `prefix` and a unique suffix.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

/// Money in the contracts' form.
pub fn money(currency: &str, amount: &str) -> Option<Money> {
    Some(Money {
        currency_code: currency.to_owned(),
        amount: amount.to_owned(),
    })
}

/// The marketplace goods every party buys: `quantity` thermoses at CNY `unit_price` each
/// (an allowed category).
pub fn thermos(quantity: i64, unit_price: &str) -> opb::OrderLine {
    opb::OrderLine {
        product_id: "624835221893".to_owned(),
        sku_id: "4561213579".to_owned(),
        product_name: "Stainless steel thermos 500 ml".to_owned(),
        category_code: "household_goods".to_owned(),
        quantity,
        unit_price: money("CNY", unit_price),
        ..Default::default()
    }
}

/// The Trade Assurance order a supplier drafts for `buyer`, shipped to `address`: 1,000 LED
/// panels at USD 5.00 plus USD 200.00 freight by sea (FOB), USD 1,560.00 (30 %) prepaid,
/// self-export, international wire, shipped within 30 days of the prepayment.
pub fn led_panels_draft(
    buyer: opb::BuyerContact,
    address: opb::ShippingAddress,
) -> kuajing_proto::edge::v1::DraftTradeAssuranceOrderRequest {
    kuajing_proto::edge::v1::DraftTradeAssuranceOrderRequest {
        request_id: rid(),
        supplier_account_id: String::new(),
        buyer_account_id: String::new(),
        buyer: Some(buyer),
        salesperson: "Li Wei".to_owned(),
        currency_code: "USD".to_owned(),
        lines: vec![opb::OrderLine {
            product_id: "1600123456789".to_owned(),
            product_name: "LED panel light 600x600".to_owned(),
            quantity: 1000,
            unit_price: money("USD", "5.00"),
            ..Default::default()
        }],
        contract: None,
        shipping_terms: Some(opb::ShippingTerms {
            address: Some(address),
            shipping_method: opb::ShippingMethod::Sea as i32,
            incoterm: opb::Incoterm::Fob as i32,
            freight: money("USD", "200.00"),
            insurance: money("USD", "0.00"),
            ship_by: Some(opb::ShipBy {
                rule: Some(opb::ship_by::Rule::DaysAfterPayment(30)),
            }),
            ship_by_time: None,
        }),
        export_method: opb::ExportMethod::SelfExport as i32,
        payment_terms: Some(opb::PaymentTerms {
            prepayment: money("USD", "1560.00"),
            ..Default::default()
        }),
        payment_method: opb::PaymentMethod::InternationalWire as i32,
        inspection: None,
        note: "Thank you for your order.".to_owned(),
    }
}

/// The real-name verification a buyer submits through edge: Tan Mei Ling's Singapore
/// passport, its photo at `photo`.
pub fn passport(photo: &str) -> kuajing_proto::edge::v1::SubmitRealNameVerificationRequest {
    kuajing_proto::edge::v1::SubmitRealNameVerificationRequest {
        request_id: rid(),
        subject_type: idp::RealNameSubjectType::Individual as i32,
        legal_name: "Tan Mei Ling".to_owned(),
        document_type: idp::IdentityDocumentType::Passport as i32,
        document_number: "E1234567K".to_owned(),
        document_region_code: "SG".to_owned(),
        birth_date: "1990-02-28".to_owned(),
        nationality_region_code: "SG".to_owned(),
        document_expire_date: "2099-12-31".to_owned(),
        document_photo_refs: vec![photo.to_owned()],
    }
}

/// Cross-border express to a buyer in Singapore, freight included in the price.
pub fn singapore_express() -> opb::CrossBorderLogistics {
    opb::CrossBorderLogistics {
        option_code: "CB-EXPRESS-SG".to_owned(),
        provider_name: "Cainiao".to_owned(),
        service_name: "Cross-border express".to_owned(),
        delivery_address: Some(opb::ShippingAddress {
            recipient_name: "Tan Mei Ling".to_owned(),
            region_code: "SG".to_owned(),
            locality: "Singapore".to_owned(),
            address_lines: vec!["1 Raffles Place #20-01".to_owned()],
            postal_code: "048616".to_owned(),
            ..Default::default()
        }),
        freight: money("CNY", "0.00"),
        estimated_transit_days: 7,
    }
}

/// A shipment of every line of `order` with `carrier`, final, shipped now.
pub fn shipment(order: &opb::Order, carrier: &str) -> opb::Shipment {
    opb::Shipment {
        items: order
            .lines
            .iter()
            .map(|l| opb::ShipmentItem {
                line_id: l.line_id.clone(),
                quantity: l.quantity,
            })
            .collect(),
        shipping_method: opb::ShippingMethod::Express as i32,
        carrier_name: carrier.to_owned(),
        tracking_number: unique("SF"),
        proof_file_refs: vec!["s3://logistics/waybill.pdf".to_owned()],
        final_batch: true,
        ship_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        ..Default::default()
    }
}

/// How to reach a running platform: each service's URL, the keys to call it as any caller,
/// and its database (for the development outbox and operator grants).
#[derive(Clone)]
pub struct Reach {
    /// Service URLs by short name.
    pub urls: BTreeMap<String, String>,
    /// The keys the services trust.
    pub keyring: Keyring,
    /// Administrative options on the platform's database.
    pub database: PgConnectOptions,
}

impl Reach {
    /// A channel to `service` acting as `caller`.
    pub fn channel(&self, service: &str, caller: &str) -> anyhow::Result<Authed> {
        let url = self
            .urls
            .get(service)
            .with_context(|| format!("no service {service}"))?;
        channel(url, &self.keyring, caller, service)
    }

    /// A proof from the sandbox's simulated 1688 that `member` signed in, for binding to
    /// `account` (BindMarketplaceAccount's member_proof).
    pub fn member_proof(&self, member: &str, account: &str) -> anyhow::Result<String> {
        crate::sandbox::marketplace::proof(
            &self.keyring,
            kuajing_identity::domain::linked::Marketplace::M1688,
            member,
            uuid::Uuid::try_parse(account).context("an account id")?,
        )
    }

    fn identity(&self, caller: &str) -> anyhow::Result<IdentityServiceClient<Authed>> {
        Ok(IdentityServiceClient::new(
            self.channel("identity", caller)?,
        ))
    }

    fn wallet(&self, caller: &str) -> anyhow::Result<WalletServiceClient<Authed>> {
        Ok(WalletServiceClient::new(self.channel("wallet", caller)?))
    }

    /// The order service as edge calls it.
    pub fn orders(&self) -> anyhow::Result<OrderServiceClient<Authed>> {
        Ok(OrderServiceClient::new(self.channel("order", "edge")?))
    }

    /// The code identity's development sender wrote for a challenge.
    pub async fn code_in_outbox(&self, challenge_id: &str) -> anyhow::Result<String> {
        let mut conn = self.database.connect().await?;
        let body: String =
            sqlx::query_scalar("SELECT body FROM identity.outbox WHERE challenge_id = $1::uuid")
                .bind(challenge_id)
                .fetch_one(&mut conn)
                .await
                .context("an outbox message for the challenge")?;
        conn.close().await?;
        crate::sandbox::mailbox::code_in(&body)
            .map(str::to_owned)
            .context("a six-digit code in the message")
    }

    /// Registers a person (email confirmed) and returns the account id.
    pub async fn register(&self, req: idp::RegisterAccountRequest) -> anyhow::Result<String> {
        let mut id = self.identity("edge")?;
        let account = id
            .register_account(req)
            .await?
            .into_inner()
            .account
            .context("account")?
            .account_id;
        let challenge = id
            .send_verification_code(idp::SendVerificationCodeRequest {
                request_id: rid(),
                account_id: account.clone(),
                channel: idp::VerificationChannel::Email as i32,
                purpose: idp::VerificationPurpose::ConfirmContact as i32,
                reference: String::new(),
            })
            .await?
            .into_inner()
            .challenge
            .context("challenge")?;
        let code = self.code_in_outbox(&challenge.challenge_id).await?;
        id.confirm_contact(idp::ConfirmContactRequest {
            request_id: rid(),
            account_id: account.clone(),
            challenge_id: challenge.challenge_id,
            code,
        })
        .await?;
        Ok(account)
    }

    /// An operator: an account with an operator grant (as KJ_IDENTITY_OPERATOR_ACCOUNT_IDS
    /// grants at start).
    pub async fn operator(&self) -> anyhow::Result<String> {
        self.operator_named(&unique("ops")).await
    }

    /// An operator registered under `member_name`.
    pub async fn operator_named(&self, member_name: &str) -> anyhow::Result<String> {
        let account = self.register(personal(member_name)).await?;
        let mut conn = self.database.connect().await?;
        sqlx::query(
            "INSERT INTO identity.operator_grants (account_id, granted_at) VALUES ($1::uuid, now())",
        )
        .bind(&account)
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(account)
    }

    /// Signs in with [`PASSWORD`]; returns the access token.
    pub async fn sign_in(&self, member_name: &str) -> anyhow::Result<String> {
        self.sign_in_with(member_name, PASSWORD).await
    }

    /// Signs in with `password`; returns the access token.
    pub async fn sign_in_with(&self, member_name: &str, password: &str) -> anyhow::Result<String> {
        Ok(self
            .identity("edge")?
            .login(login_request(member_name, password))
            .await?
            .into_inner()
            .tokens
            .context("tokens")?
            .access_token)
    }

    /// Opens a wallet for `owner`.
    pub async fn open_wallet(&self, owner: &str) -> anyhow::Result<String> {
        self.wallet("edge")?
            .open_wallet(acting(
                owner,
                wpb::OpenWalletRequest {
                    request_id: rid(),
                    owner_account_id: owner.to_owned(),
                },
            )?)
            .await?
            .into_inner()
            .wallet
            .map(|w| w.wallet_id)
            .context("wallet")
    }

    /// Tops a wallet up: a TOP_UP receiving account and a remittance from the bank adapter.
    pub async fn top_up(
        &self,
        wallet_id: &str,
        currency: &str,
        amount: &str,
    ) -> anyhow::Result<()> {
        // Edge opens the account for the wallet's owner.
        let owner = self
            .wallet("order")?
            .get_wallet(wpb::GetWalletRequest {
                lookup: Some(wpb::get_wallet_request::Lookup::WalletId(
                    wallet_id.to_owned(),
                )),
            })
            .await?
            .into_inner()
            .wallet
            .context("wallet")?
            .owner_account_id;
        let account = self
            .wallet("edge")?
            .create_receiving_account(acting(
                &owner,
                wpb::CreateReceivingAccountRequest {
                    request_id: rid(),
                    wallet_id: wallet_id.to_owned(),
                    currency_code: currency.to_owned(),
                    display_name: format!("{currency} top-up"),
                    purpose: wpb::ReceivingAccountPurpose::TopUp as i32,
                },
            )?)
            .await?
            .into_inner()
            .receiving_account
            .context("receiving account")?;
        self.wallet("bank")?
            .record_inbound_remittance(wpb::RecordInboundRemittanceRequest {
                request_id: rid(),
                account_number: account
                    .bank_details
                    .map(|b| b.account_number)
                    .unwrap_or_default(),
                bank_reference: unique("REF"),
                amount: money(currency, amount),
                value_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// A verified overseas buyer (journey 1), approved by operator `ops`: email confirmed,
    /// real name verified, a 1688 member bound and verified, a payment PIN ([`PIN`]), a
    /// wallet.
    pub async fn verified_buyer(&self, ops: &str) -> anyhow::Result<Person> {
        let name = unique("buyer");
        let me = self.register(personal(&name)).await?;
        let mut id = self.identity("edge")?;
        let submitted = id
            .submit_real_name_verification(acting(
                &me,
                idp::SubmitRealNameVerificationRequest {
                    request_id: rid(),
                    account_id: me.clone(),
                    subject_type: idp::RealNameSubjectType::Individual as i32,
                    legal_name: "Tan Mei Ling".to_owned(),
                    document_type: idp::IdentityDocumentType::Passport as i32,
                    document_number: "E12345678".to_owned(),
                    document_region_code: "SG".to_owned(),
                    birth_date: "1990-02-28".to_owned(),
                    nationality_region_code: "SG".to_owned(),
                    document_expire_date: "2099-12-31".to_owned(),
                    document_photo_refs: vec!["s3://kyc/front.jpg".to_owned()],
                },
            )?)
            .await?
            .into_inner()
            .real_name_verification
            .context("verification")?;
        self.identity("operator")?
            .review_real_name_verification(acting(
                ops,
                idp::ReviewRealNameVerificationRequest {
                    request_id: rid(),
                    real_name_verification_id: submitted.real_name_verification_id,
                    decision: idp::ReviewDecision::Approve as i32,
                    rejection_reason: String::new(),
                },
            )?)
            .await?;
        let member = unique("测试买家账号");
        let linked = id
            .bind_marketplace_account(acting(
                &me,
                idp::BindMarketplaceAccountRequest {
                    request_id: rid(),
                    account_id: me.clone(),
                    marketplace: idp::Marketplace::Marketplace1688 as i32,
                    external_member_id: member.clone(),
                    external_account_type: idp::AccountType::Personal as i32,
                    member_proof: self.member_proof(&member, &me)?,
                },
            )?)
            .await?
            .into_inner()
            .linked_account
            .context("linked account")?;
        anyhow::ensure!(
            linked.status == idp::LinkStatus::BoundVerified as i32,
            "the 1688 member is bound and verified: {linked:?}"
        );
        let challenge = id
            .send_verification_code(acting(
                &me,
                idp::SendVerificationCodeRequest {
                    request_id: rid(),
                    account_id: me.clone(),
                    channel: idp::VerificationChannel::Email as i32,
                    purpose: idp::VerificationPurpose::SetPaymentPin as i32,
                    reference: String::new(),
                },
            )?)
            .await?
            .into_inner()
            .challenge
            .context("challenge")?;
        let code = self.code_in_outbox(&challenge.challenge_id).await?;
        id.set_payment_pin(acting(
            &me,
            idp::SetPaymentPinRequest {
                request_id: rid(),
                account_id: me.clone(),
                pin: PIN.to_owned(),
                challenge_id: challenge.challenge_id,
                code,
            },
        )?)
        .await?;
        let wallet_id = self.open_wallet(&me).await?;
        Ok(Person {
            account_id: me,
            member_name: name,
            wallet_id,
            member,
            linked_account_id: linked.linked_account_id,
        })
    }

    /// The buyer authorises its 1688 member to pay from its wallet: a mandate, the
    /// agreement accepted and the code confirmed.
    pub async fn active_mandate(&self, b: &Person) -> anyhow::Result<authz::Mandate> {
        let mut authz = AuthorizationServiceClient::new(self.channel("authorization", "edge")?);
        let created = authz
            .create_mandate(acting(
                &b.account_id,
                authz::CreateMandateRequest {
                    request_id: rid(),
                    wallet_id: b.wallet_id.clone(),
                    owner_account_id: b.account_id.clone(),
                    marketplace_member: Some(idp::MarketplaceMember {
                        marketplace: idp::Marketplace::Marketplace1688 as i32,
                        external_member_id: b.member.clone(),
                    }),
                    expire_time: None,
                    funding_currency_code: String::new(),
                    verification_channel: idp::VerificationChannel::Email as i32,
                },
            )?)
            .await?
            .into_inner();
        let mandate = created.mandate.context("mandate")?;
        let challenge = created.challenge.context("challenge")?;
        let code = self.code_in_outbox(&challenge.challenge_id).await?;
        let active = authz
            .activate_mandate(acting(
                &b.account_id,
                authz::ActivateMandateRequest {
                    request_id: rid(),
                    mandate_id: mandate.mandate_id,
                    agreement_accepted: true,
                    agreement_version: AGREEMENT_VERSION.to_owned(),
                    challenge_id: challenge.challenge_id,
                    code,
                },
            )?)
            .await?
            .into_inner()
            .mandate
            .context("mandate")?;
        anyhow::ensure!(
            active.state == authz::MandateState::Active as i32,
            "the mandate is active: {active:?}"
        );
        Ok(active)
    }

    /// A verified buyer with an active mandate and a signed-in session.
    pub async fn buyer(&self, ops: &str) -> anyhow::Result<Buyer> {
        let person = self.verified_buyer(ops).await?;
        let mandate_id = self.active_mandate(&person).await?.mandate_id;
        let access_token = self.sign_in(&person.member_name).await?;
        Ok(Buyer {
            person,
            mandate_id,
            access_token,
        })
    }

    /// A supplier in mainland China with a wallet: a paid member (admitted to Trade
    /// Assurance and Direct Pay) when `paid`, and a TrustPass member enabled for
    /// cross-border pay when `cross_border`, as operator `ops` updated its profile.
    pub async fn supplier(
        &self,
        ops: &str,
        paid: bool,
        cross_border: bool,
    ) -> anyhow::Result<Person> {
        let name = unique("factory");
        let account_id = self
            .register(idp::RegisterAccountRequest {
                account_type: idp::AccountType::Business as i32,
                role: idp::AccountRole::Supplier as i32,
                region_code: "CN".to_owned(),
                display_name: format!("{name} Trading Co."),
                email: format!("{name}@example.cn"),
                ..personal(&name)
            })
            .await?;
        let mut profile = idp::SupplierProfile {
            account_id: account_id.clone(),
            ..Default::default()
        };
        let mut mask = prost_types::FieldMask::default();
        if paid {
            profile.membership = idp::SupplierMembership::Paid as i32;
            mask.paths.push("membership".to_owned());
        }
        if cross_border {
            profile.trustpass_active = true;
            profile.cross_border_pay_enabled = true;
            mask.paths.push("trustpass_active".to_owned());
            mask.paths.push("cross_border_pay_enabled".to_owned());
        }
        if !mask.paths.is_empty() {
            self.identity("operator")?
                .update_supplier_profile(acting(
                    ops,
                    idp::UpdateSupplierProfileRequest {
                        request_id: rid(),
                        supplier_profile: Some(profile),
                        update_mask: Some(mask),
                        reason: "TrustPass paid member; signed the cross-border pay agreement"
                            .to_owned(),
                    },
                )?)
                .await?;
        }
        let wallet_id = self.open_wallet(&account_id).await?;
        Ok(Person {
            account_id,
            member_name: name,
            wallet_id,
            member: String::new(),
            linked_account_id: String::new(),
        })
    }

    /// An operator, an admitted supplier and `n` verified buyers, each with an active
    /// mandate, a signed-in session and CNH 100,000,000 in its wallet (CNY orders settle in
    /// CNH at par).
    pub async fn people(&self, n: u32) -> anyhow::Result<(Supplier, Vec<Buyer>)> {
        let ops = self.operator().await?;
        let supplier = self.supplier(&ops, true, true).await?;
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n.max(1) {
            let (reach, ops) = (self.clone(), ops.clone());
            set.spawn(async move {
                let b = reach.buyer(&ops).await?;
                reach
                    .top_up(&b.person.wallet_id, "CNH", "100000000.00")
                    .await?;
                anyhow::Ok(b)
            });
        }
        let mut buyers = Vec::new();
        while let Some(b) = set.join_next().await {
            buyers.push(b??);
        }
        Ok((supplier, buyers))
    }

    /// A marketplace order of `buyer` from `supplier`: `quantity` household goods at
    /// `unit_price` CNY, shipped to Singapore.
    pub async fn marketplace_order(
        &self,
        buyer: &Person,
        supplier: &Supplier,
        quantity: i64,
        unit_price: &str,
    ) -> anyhow::Result<String> {
        self.orders()?
            .create_marketplace_order(acting(
                &buyer.account_id,
                opb::CreateMarketplaceOrderRequest {
                    request_id: rid(),
                    buyer_account_id: buyer.account_id.clone(),
                    supplier_account_id: supplier.account_id.clone(),
                    marketplace_code: idp::Marketplace::Marketplace1688 as i32,
                    external_order_id: unique("1688-"),
                    buyer_linked_account_id: buyer.linked_account_id.clone(),
                    supplier_member_id: unique("shop"),
                    lines: vec![thermos(quantity, unit_price)],
                    logistics: Some(singapore_express()),
                    transaction_method: opb::TransactionMethod::SecuredTransaction as i32,
                },
            )?)
            .await?
            .into_inner()
            .order
            .map(|o| o.order_id)
            .context("order")
    }
}

/// A person or company with a wallet; for buyers, the bound 1688 member.
#[derive(Clone, Debug)]
pub struct Person {
    /// The account.
    pub account_id: String,
    /// The member name it signs in with (its password is [`PASSWORD`]).
    pub member_name: String,
    /// Its wallet.
    pub wallet_id: String,
    /// The bound 1688 member id (buyers).
    pub member: String,
    /// The linked marketplace account (buyers).
    pub linked_account_id: String,
}

/// A supplier.
pub type Supplier = Person;

/// A verified buyer ready to pay by cross-border pay.
#[derive(Clone, Debug)]
pub struct Buyer {
    /// The person (the mandate pays from its wallet).
    pub person: Person,
    /// The active mandate.
    pub mandate_id: String,
    /// A signed-in session's access token (15 minutes by default).
    pub access_token: String,
}

/// identity Login for `identifier` (a member name, email or mobile) with `password`, as
/// edge asks it (a fresh request id; no client address or agent).
pub fn login_request(identifier: &str, password: &str) -> idp::LoginRequest {
    idp::LoginRequest {
        request_id: rid(),
        identifier: identifier.to_owned(),
        password: password.to_owned(),
        client_ip: String::new(),
        user_agent: String::new(),
    }
}

/// A personal buyer's registration in Singapore, with password [`PASSWORD`].
pub fn personal(name: &str) -> idp::RegisterAccountRequest {
    idp::RegisterAccountRequest {
        request_id: rid(),
        member_name: name.to_owned(),
        account_type: idp::AccountType::Personal as i32,
        role: idp::AccountRole::Buyer as i32,
        region_code: "SG".to_owned(),
        display_name: String::new(),
        email: format!("{name}@example.com"),
        mobile: String::new(),
        password: PASSWORD.to_owned(),
    }
}
