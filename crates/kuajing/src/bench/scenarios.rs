//! The scenarios: what is set up first and what one operation is.

use std::sync::Arc;

use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::fx::v1::{
    CreateQuoteRequest, ExecuteQuoteRequest, create_quote_request::FixedAmount,
};
use kuajing_proto::wallet::v1::CreateTransferRequest;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use std::sync::Mutex;

use kuajing_platform::balance::Balanced;
use kuajing_proto::edge::v1 as edge;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::order::v1::PaymentMethod;
use kuajing_proto::wallet::v1::{GetWalletRequest, get_wallet_request};

use super::load::Op;
pub use crate::parties::{Authed, channel};
use crate::parties::{Buyer, PASSWORD, PIN, Reach, acting, bearer, login_request, money, rid};
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;

/// Opens `n` wallets (each for a person of its own) and funds each with `amount` of
/// `currency` through the bank adapter, with the shared fixtures.
pub async fn funded_wallets(
    reach: &Reach,
    n: usize,
    currency: &str,
    amount: &str,
) -> anyhow::Result<Vec<String>> {
    let mut wallets = Vec::with_capacity(n);
    for _ in 0..n {
        let wallet = reach.open_wallet(&rid()).await?;
        reach.top_up(&wallet, currency, amount).await?;
        wallets.push(wallet);
    }
    Ok(wallets)
}

/// A deterministic mixer: the operation's sequence number picks its wallets and amount.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// `transfer` and `hot`: one wallet transfer between random wallets; with `hot_share`
/// per cent of them crediting the first wallet.
pub struct Transfers {
    /// The wallet client (acting as order, an allowed caller).
    pub client: WalletServiceClient<Authed>,
    /// The funded wallets.
    pub wallets: Arc<Vec<String>>,
    /// Per cent of transfers that credit wallet 0.
    pub hot_share: u64,
}

impl Op for Transfers {
    async fn run(&self, n: u64) -> Result<(), tonic::Code> {
        let r = mix(n);
        let len = self.wallets.len() as u64;
        let from = (r % len) as usize;
        let to = if (r >> 20) % 100 < self.hot_share {
            0
        } else {
            ((r >> 32) % len) as usize
        };
        let to = if to == from {
            (from + 1) % self.wallets.len()
        } else {
            to
        };
        let cents = 1 + (r >> 40) % 99;
        let req = CreateTransferRequest {
            request_id: rid(),
            source_wallet_id: self.wallets[from].clone(),
            destination_wallet_id: self.wallets[to].clone(),
            amount: money("USD", &format!("0.{cents:02}")),
            ..Default::default()
        };
        self.client
            .clone()
            .create_transfer(req)
            .await
            .map(drop)
            .map_err(|s| s.code())
    }
}

/// `quote`: an fx quote for a wallet, then its execution.
pub struct Quotes {
    /// The fx client (as order calls it in the payment saga: for no person).
    pub client: FxServiceClient<Authed>,
    /// The funded wallets.
    pub wallets: Arc<Vec<String>>,
}

impl Op for Quotes {
    async fn run(&self, n: u64) -> Result<(), tonic::Code> {
        let wallet = self.wallets[(mix(n) % self.wallets.len() as u64) as usize].clone();
        let mut fx = self.client.clone();
        let quote = fx
            .create_quote(CreateQuoteRequest {
                request_id: rid(),
                wallet_id: wallet.clone(),
                sell_currency_code: "USD".into(),
                buy_currency_code: "CNH".into(),
                fixed_amount: money("USD", "1.00").map(FixedAmount::SellAmount),
                ttl: None,
            })
            .await
            .map_err(|s| s.code())?
            .into_inner()
            .quote
            .ok_or(tonic::Code::Internal)?;
        fx.execute_quote(ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: quote.quote_id,
            wallet_id: wallet,
        })
        .await
        .map(|_| ())
        .map_err(|s| s.code())
    }
}

/// Picks one of `len` parties for request `n`: a closed loop's worker `w` numbers its
/// requests from `w << 40`, so each worker starts on a party of its own and moves on.
fn party(n: u64, len: usize) -> usize {
    (n.wrapping_add(n >> 40) % len.max(1) as u64) as usize
}

/// `read`, straight at the service: wallet GetWallet as edge calls it, for a person.
pub struct DirectReads {
    /// The wallet client (acting as edge).
    pub client: WalletServiceClient<Authed>,
    /// The people whose wallets are read.
    pub buyers: Arc<Vec<Buyer>>,
}

impl Op for DirectReads {
    async fn run(&self, n: u64) -> Result<(), tonic::Code> {
        let b = &self.buyers[party(n, self.buyers.len())];
        let req = acting(
            &b.person.account_id,
            GetWalletRequest {
                lookup: Some(get_wallet_request::Lookup::OwnerAccountId(
                    b.person.account_id.clone(),
                )),
            },
        )
        .map_err(|_| tonic::Code::InvalidArgument)?;
        self.client
            .clone()
            .get_wallet(req)
            .await
            .map(drop)
            .map_err(|s| s.code())
    }
}

/// `read` through edge: the person's GetWallet with a bearer access token.
pub struct EdgeReads {
    /// The public edge client.
    pub client: EdgeServiceClient<Balanced>,
    /// The people reading their wallets.
    pub buyers: Arc<Vec<Buyer>>,
}

impl Op for EdgeReads {
    async fn run(&self, n: u64) -> Result<(), tonic::Code> {
        let b = &self.buyers[party(n, self.buyers.len())];
        let req = bearer(&b.access_token, edge::GetWalletRequest {})
            .map_err(|_| tonic::Code::InvalidArgument)?;
        self.client
            .clone()
            .get_wallet(req)
            .await
            .map(drop)
            .map_err(|s| s.code())
    }
}

/// `checkout`: a buyer pays one of its unpaid marketplace orders through edge (PayOrders:
/// the whole saga across order, identity, authorization, fx and wallet).
pub struct Checkouts {
    /// The public edge client.
    pub client: EdgeServiceClient<Balanced>,
    /// The buyers, each with its unpaid orders.
    pub buyers: Arc<Vec<(Buyer, Mutex<Vec<String>>)>>,
}

impl Checkouts {
    /// Unpaid orders left.
    pub fn unpaid(&self) -> usize {
        self.buyers
            .iter()
            .map(|(_, o)| o.lock().map(|o| o.len()).unwrap_or(0))
            .sum()
    }
}

impl Op for Checkouts {
    async fn run(&self, n: u64) -> Result<(), tonic::Code> {
        let (b, orders) = &self.buyers[party(n, self.buyers.len())];
        // Out of prepared orders: counted as an error, so the report says so.
        let order = orders
            .lock()
            .ok()
            .and_then(|mut o| o.pop())
            .ok_or(tonic::Code::ResourceExhausted)?;
        let req = bearer(
            &b.access_token,
            edge::PayOrdersRequest {
                request_id: rid(),
                order_ids: vec![order],
                payment_method: PaymentMethod::CrossBorderPay as i32,
                wallet_id: String::new(),
                mandate_id: b.mandate_id.clone(),
                fx_source_currency_code: String::new(),
                expected_total: None,
                payment_pin: PIN.to_owned(),
            },
        )
        .map_err(|_| tonic::Code::InvalidArgument)?;
        self.client
            .clone()
            .pay_orders(req)
            .await
            .map(drop)
            .map_err(|s| s.code())
    }
}

/// `login`: a person signs in with its password (identity Login, as edge calls it): one
/// argon2 hash each, the costliest thing identity does for memory and CPU.
pub struct Logins {
    /// identity, as edge.
    pub client: IdentityServiceClient<Authed>,
    /// The member names signing in (password [`PASSWORD`]).
    pub names: Arc<Vec<String>>,
}

impl Op for Logins {
    async fn run(&self, n: u64) -> Result<(), tonic::Code> {
        let name = &self.names[party(n, self.names.len())];
        self.client
            .clone()
            .login(login_request(name, PASSWORD))
            .await
            .map(drop)
            .map_err(|s| s.code())
    }
}
