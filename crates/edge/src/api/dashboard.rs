//! The composed views: the buyer dashboard and the supplier workbench. Their sections are
//! fetched in parallel; a section whose service fails is left empty and named in
//! `unavailable_sections`, and the call fails only when every section does.

use kuajing_proto::authorization::v1 as apb;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::types::PageRequest;
use kuajing_proto::wallet::v1 as wpb;
use tonic::Status;

use super::find_wallet;
use crate::Edge;
use crate::caller::Call;
use crate::domain::token::Role;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

use pb::DashboardSection as Section;

/// Mandates shown on the dashboard.
const DASHBOARD_MANDATES: usize = 50;
/// Pages of mandates read to find them.
const MANDATE_PAGES: usize = 5;
/// Default page size of the workbench's lists.
const WORKBENCH_PAGE: i32 = 10;

/// Collects which sections failed.
#[derive(Default)]
struct Sections {
    failed: Vec<Section>,
    services: Vec<&'static str>,
    total: usize,
}

impl Sections {
    /// The section's value, or its default when it failed (recording the failure).
    fn take<T: Default>(
        &mut self,
        section: Section,
        service: &'static str,
        result: Result<T, Status>,
    ) -> T {
        self.total += 1;
        result.unwrap_or_else(|e| {
            tracing::warn!(?section, service, code = ?e.code(), error = %e.message(), "dashboard section unavailable");
            if !self.failed.contains(&section) {
                self.failed.push(section);
            }
            if !self.services.contains(&service) {
                self.services.push(service);
            }
            T::default()
        })
    }

    /// UNAVAILABLE when every section failed, else the failed sections.
    fn finish(self) -> Result<Vec<i32>, Status> {
        if self.total > 0 && self.failed.len() == self.total {
            return Err(errors::upstream_unavailable(&self.services.join(",")));
        }
        Ok(self.failed.into_iter().map(|s| s as i32).collect())
    }
}

async fn open_mandates(edge: &Edge, call: &Call) -> Result<Vec<apb::Mandate>, Status> {
    let me = call.my_id()?.to_string();
    let mut shown = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MANDATE_PAGES {
        let r = call!(
            edge,
            call.out(),
            authorization.list_mandates(apb::ListMandatesRequest {
                owner_account_id: me.clone(),
                wallet_id: String::new(),
                marketplace_member: None,
                state: apb::MandateState::Unspecified as i32,
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                }),
            })
        )?;
        shown.extend(r.mandates.into_iter().filter(|m| {
            m.state == apb::MandateState::PendingVerification as i32
                || m.state == apb::MandateState::Active as i32
        }));
        page_token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if shown.len() >= DASHBOARD_MANDATES || page_token.is_empty() {
            break;
        }
    }
    shown.truncate(DASHBOARD_MANDATES);
    Ok(shown)
}

async fn order_counts(
    edge: &Edge,
    call: &Call,
    supplier_side: bool,
) -> Result<opb::CountOrdersByStatusResponse, Status> {
    let me = call.my_id()?.to_string();
    let (supplier_account_id, buyer_account_id) = if supplier_side {
        (me, String::new())
    } else {
        (String::new(), me)
    };
    call!(
        edge,
        call.out(),
        order.count_orders_by_status(opb::CountOrdersByStatusRequest {
            supplier_account_id,
            buyer_account_id,
            filter: None,
        })
    )
}

/// Balances, open mandates and orders to do, for a buyer.
pub async fn get_buyer_dashboard(
    edge: &Edge,
    call: &Call,
    _req: pb::GetBuyerDashboardRequest,
) -> Result<pb::GetBuyerDashboardResponse, Status> {
    call.require(Role::Buyer)?;
    let (wallet, mandates, counts) = tokio::join!(
        find_wallet(edge, call),
        open_mandates(edge, call),
        order_counts(edge, call, false),
    );
    let mut sections = Sections::default();
    let wallet = sections.take(Section::Wallet, "wallet", wallet);
    let mandates = sections.take(Section::Mandates, "authorization", mandates);
    let counts = sections.take(Section::OrderCounts, "order", counts);
    Ok(pb::GetBuyerDashboardResponse {
        wallet,
        mandates,
        order_status_counts: counts.status_counts,
        order_status_group_counts: counts.group_counts,
        order_total: counts.total,
        unavailable_sections: sections.finish()?,
        calculate_time: Some(kuajing_platform::time::to_proto(edge.clock.now())),
    })
}

/// The workbench's wallet sections (they need the wallet id first): the fund overview and
/// the first remittances awaiting linking; `None` each when the caller has no wallet.
async fn wallet_sections(
    edge: &Edge,
    call: &Call,
    page_size: i32,
) -> Result<
    (
        Option<Result<wpb::GetFundOverviewResponse, Status>>,
        Option<Result<wpb::ListRemittancesResponse, Status>>,
    ),
    Status,
> {
    let Some(wallet) = find_wallet(edge, call).await? else {
        return Ok((None, None));
    };
    let overview = call!(
        edge,
        call.out(),
        wallet.get_fund_overview(wpb::GetFundOverviewRequest {
            wallet_id: wallet.wallet_id.clone(),
            currency_codes: Vec::new(),
        })
    );
    let remittances = call!(
        edge,
        call.out(),
        wallet.list_remittances(wpb::ListRemittancesRequest {
            wallet_id: wallet.wallet_id.clone(),
            receiving_account_id: String::new(),
            statuses: vec![
                wpb::RemittanceStatus::Unallocated as i32,
                wpb::RemittanceStatus::PartiallyLinked as i32,
            ],
            value_time_range: None,
            page: Some(PageRequest {
                page_size,
                page_token: String::new(),
            }),
        })
    );
    Ok::<_, Status>((Some(overview), Some(remittances)))
}

/// The first orders awaiting prepayment or balance.
async fn awaiting_payment(
    edge: &Edge,
    call: &Call,
    me: &str,
    page_size: i32,
) -> Result<opb::ListOrdersResponse, Status> {
    call!(
        edge,
        call.out(),
        order.list_orders(opb::ListOrdersRequest {
            supplier_account_id: me.to_owned(),
            buyer_account_id: String::new(),
            statuses: vec![
                opb::OrderStatus::AwaitingPrepayment as i32,
                opb::OrderStatus::AwaitingBalance as i32,
            ],
            status_group: opb::OrderStatusGroup::Unspecified as i32,
            filter: None,
            page: Some(PageRequest {
                page_size,
                page_token: String::new(),
            }),
        })
    )
}

/// The caller's admission answers for the three programs, in order.
async fn admissions(
    edge: &Edge,
    call: &Call,
    me: &str,
) -> Result<Vec<idp::SupplierAdmission>, Status> {
    let mut out = Vec::new();
    for program in [
        idp::AdmissionProgram::TradeAssurance,
        idp::AdmissionProgram::DirectPay,
        idp::AdmissionProgram::CrossBorderPay,
    ] {
        let r = call!(
            edge,
            call.out(),
            identity.check_supplier_admission(idp::CheckSupplierAdmissionRequest {
                account_id: me.to_owned(),
                program: program as i32,
            })
        )?;
        out.extend(r.admission);
    }
    Ok::<_, Status>(out)
}

/// The caller's credit and FX quotas.
async fn quotas(
    edge: &Edge,
    call: &Call,
    me: &str,
) -> Result<opb::GetSupplierQuotasResponse, Status> {
    call!(
        edge,
        call.out(),
        order.get_supplier_quotas(opb::GetSupplierQuotasRequest {
            supplier_account_id: me.to_owned(),
        })
    )
}

/// Funds, orders by status, remittances to link, orders awaiting payment and program
/// admissions, for a supplier.
pub async fn get_supplier_workbench(
    edge: &Edge,
    call: &Call,
    req: pb::GetSupplierWorkbenchRequest,
) -> Result<pb::GetSupplierWorkbenchResponse, Status> {
    call.require(Role::Supplier)?;
    let mut v = FieldViolations::new();
    v.range("remittance_page_size", req.remittance_page_size, 0, 50);
    v.range("order_page_size", req.order_page_size, 0, 50);
    errors::check(v)?;
    let or_default = |n: i32| if n == 0 { WORKBENCH_PAGE } else { n };
    let me = call.my_id()?.to_string();

    let (wallet_sections, counts, awaiting, admissions, quotas) = tokio::join!(
        wallet_sections(edge, call, or_default(req.remittance_page_size)),
        order_counts(edge, call, true),
        awaiting_payment(edge, call, &me, or_default(req.order_page_size)),
        admissions(edge, call, &me),
        quotas(edge, call, &me)
    );

    let mut sections = Sections::default();
    let (overview, remittances) = match wallet_sections {
        Ok(pair) => pair,
        Err(e) => (Some(Err(e.clone())), Some(Err(e))),
    };
    let overview = overview
        .map(|r| sections.take(Section::FundOverview, "wallet", r.map(|o| o.fund_overview)))
        .unwrap_or_default();
    let remittances = remittances
        .map(|r| sections.take(Section::UnallocatedRemittances, "wallet", r))
        .unwrap_or_default();
    let counts = sections.take(Section::OrderCounts, "order", counts);
    let awaiting = sections.take(Section::OrdersAwaitingPayment, "order", awaiting);
    let admissions = sections.take(Section::Admissions, "identity", admissions);
    let quotas = sections.take(Section::Quotas, "order", quotas.map(|r| r.quotas));
    Ok(pb::GetSupplierWorkbenchResponse {
        fund_overview: overview,
        order_status_counts: counts.status_counts,
        order_status_group_counts: counts.group_counts,
        order_total: counts.total,
        unallocated_remittances: remittances.remittances,
        unallocated_remittances_page: remittances.page,
        orders_awaiting_payment: awaiting.orders,
        orders_awaiting_payment_page: awaiting.page,
        admissions,
        on_time_shipment_rate: rate(counts.shipped_on_time, counts.shipped_late),
        shipped_on_time: counts.shipped_on_time,
        shipped_late: counts.shipped_late,
        quotas,
        unavailable_sections: sections.finish()?,
        calculate_time: Some(kuajing_platform::time::to_proto(edge.clock.now())),
    })
}

/// `on_time` over all shipped, to four places ("0.9500"); empty before any shipped.
fn rate(on_time: i64, late: i64) -> String {
    let all = on_time.saturating_add(late);
    if all <= 0 {
        return String::new();
    }
    // Rounded half up in ten-thousandths.
    let tenths = (on_time.saturating_mul(20_000) / all + 1) / 2;
    format!("{}.{:04}", tenths / 10_000, tenths % 10_000)
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn the_on_time_rate_has_four_places_and_none_before_a_shipment() {
        assert_eq!(rate(0, 0), "");
        assert_eq!(rate(19, 1), "0.9500");
        assert_eq!(rate(2, 1), "0.6667");
        assert_eq!(rate(3, 0), "1.0000");
        assert_eq!(rate(0, 4), "0.0000");
    }
}
