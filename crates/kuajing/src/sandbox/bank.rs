//! The sandbox bank: money in (a simulated payer's remittance, reported to wallet as the
//! bank adapter reports a real one) and money out (every withdrawal taken and settled,
//! after a delay or on command). It keeps nothing of its own: every report carries a
//! request id derived from what it reports, so a repeat, a restart or a second instance
//! replays instead of acting twice.

use std::time::Duration;

use kuajing_platform::FieldViolations;
use kuajing_platform::service::PeerChannel;
use kuajing_proto::sandbox::v1 as pb;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::Status;

use super::rules;

/// When the sandbox bank settles the withdrawals it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// This long after it took them (PROCESSING).
    After(Duration),
    /// Only on SettleWithdrawal.
    Manual,
}

impl std::str::FromStr for Settlement {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "manual" {
            return Ok(Settlement::Manual);
        }
        let secs: f64 = s
            .trim_end_matches('s')
            .parse()
            .map_err(|_| format!("{s:?}: seconds (e.g. 3 or 0.5) or `manual`"))?;
        Duration::try_from_secs_f64(secs)
            .map(Settlement::After)
            .map_err(|e| format!("{s:?}: {e}"))
    }
}

/// The bank, calling wallet as the bank adapter.
#[derive(Clone)]
pub struct Bank {
    wallet: WalletServiceClient<PeerChannel>,
}

impl Bank {
    /// A bank reporting to wallet over `channel` (carrying the bank adapter's credential).
    pub fn new(channel: PeerChannel) -> Bank {
        Bank {
            wallet: WalletServiceClient::new(channel),
        }
    }

    /// Remit: a simulated payer's transfer arrives.
    pub async fn remit(&self, req: pb::RemitRequest) -> Result<pb::RemitResponse, Status> {
        let mut v = FieldViolations::new();
        let request_id = v.uuid("request_id", &req.request_id);
        let value_time = match request_id {
            Some(id) => {
                let t = rules::value_time(id);
                if t.is_none() {
                    v.add(
                        "request_id",
                        "must be a UUIDv7: its time is the remittance's value time, so a repeated request is the same remittance",
                    );
                }
                t
            }
            None => None,
        };
        v.text("account_number", &req.account_number, 34);
        if req.account_number.is_empty() {
            v.add("account_number", "is required");
        }
        v.positive_money("amount", req.amount.as_ref());
        v.text("bank_reference", &req.bank_reference, 64);
        v.text("payer_name", &req.payer_name, 140);
        v.text("remittance_info", &req.remittance_info, 280);
        v.finish()?;
        let (Some(request_id), Some(value_time)) = (request_id, value_time) else {
            return Err(Status::internal("validated"));
        };
        let bank_reference = if req.bank_reference.is_empty() {
            rules::default_bank_reference(request_id)
        } else {
            req.bank_reference
        };
        let payer_name = if req.payer_name.is_empty() {
            rules::DEFAULT_PAYER.to_owned()
        } else {
            req.payer_name
        };
        let recorded = self
            .wallet
            .clone()
            .record_inbound_remittance(wpb::RecordInboundRemittanceRequest {
                request_id: request_id.to_string(),
                account_number: req.account_number,
                bank_reference,
                amount: req.amount,
                payer: Some(wpb::RemittancePayer {
                    name: payer_name,
                    account_number_masked: "****0000".to_owned(),
                    bank_name: "Kuajing Sandbox Bank".to_owned(),
                    country_code: String::new(),
                }),
                remittance_info: req.remittance_info,
                value_time: Some(kuajing_platform::time::to_proto(value_time)),
            })
            .await?
            .into_inner();
        Ok(pb::RemitResponse {
            remittance: recorded.remittance,
        })
    }

    /// SettleWithdrawal: settle one withdrawal now.
    pub async fn settle_withdrawal(
        &self,
        req: pb::SettleWithdrawalRequest,
    ) -> Result<pb::SettleWithdrawalResponse, Status> {
        let mut v = FieldViolations::new();
        v.uuid("request_id", &req.request_id);
        v.uuid("withdrawal_id", &req.withdrawal_id);
        let outcome = v.enum_value::<pb::SettlementOutcome>("outcome", req.outcome);
        v.text("failure_reason", &req.failure_reason, 500);
        v.finish()?;
        let failure = match outcome {
            Some(pb::SettlementOutcome::Failed) if req.failure_reason.is_empty() => {
                Some(rules::COMMANDED_FAILURE.to_owned())
            }
            Some(pb::SettlementOutcome::Failed) => Some(req.failure_reason),
            _ => None,
        };
        let current = self.withdrawal(&req.withdrawal_id).await?;
        if current.status == wpb::WithdrawalStatus::Requested as i32 {
            self.take(&current.withdrawal_id).await?;
        }
        let withdrawal = self
            .finish(&req.withdrawal_id, &req.request_id, failure)
            .await?;
        Ok(pb::SettleWithdrawalResponse {
            withdrawal: Some(withdrawal),
        })
    }

    async fn withdrawal(&self, withdrawal_id: &str) -> Result<wpb::Withdrawal, Status> {
        self.wallet
            .clone()
            .get_withdrawal(wpb::GetWithdrawalRequest {
                withdrawal_id: withdrawal_id.to_owned(),
            })
            .await?
            .into_inner()
            .withdrawal
            .ok_or_else(|| Status::internal("wallet answered no withdrawal"))
    }

    /// REQUESTED -> PROCESSING, under the id every instance derives for it.
    async fn take(&self, withdrawal_id: &str) -> Result<wpb::Withdrawal, Status> {
        self.update(wpb::UpdateWithdrawalStatusRequest {
            request_id: rules::derived_request_id(&[withdrawal_id, "PROCESSING"]).to_string(),
            withdrawal_id: withdrawal_id.to_owned(),
            status: wpb::WithdrawalStatus::Processing as i32,
            bank_reference: rules::payout_reference(withdrawal_id),
            failure_reason: String::new(),
        })
        .await
    }

    /// PROCESSING -> COMPLETED, or FAILED with `failure` (wallet posts the reversal).
    async fn finish(
        &self,
        withdrawal_id: &str,
        request_id: &str,
        failure: Option<String>,
    ) -> Result<wpb::Withdrawal, Status> {
        let (status, failure_reason) = match failure {
            Some(reason) => (wpb::WithdrawalStatus::Failed, reason),
            None => (wpb::WithdrawalStatus::Completed, String::new()),
        };
        self.update(wpb::UpdateWithdrawalStatusRequest {
            request_id: request_id.to_owned(),
            withdrawal_id: withdrawal_id.to_owned(),
            status: status as i32,
            bank_reference: String::new(),
            failure_reason,
        })
        .await
    }

    async fn update(
        &self,
        req: wpb::UpdateWithdrawalStatusRequest,
    ) -> Result<wpb::Withdrawal, Status> {
        self.wallet
            .clone()
            .update_withdrawal_status(req)
            .await?
            .into_inner()
            .withdrawal
            .ok_or_else(|| Status::internal("wallet answered no withdrawal"))
    }

    async fn in_status(
        &self,
        status: wpb::WithdrawalStatus,
    ) -> Result<Vec<wpb::Withdrawal>, Status> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .wallet
                .clone()
                .list_withdrawals(wpb::ListWithdrawalsRequest {
                    statuses: vec![status as i32],
                    page: Some(kuajing_proto::types::PageRequest {
                        page_size: 200,
                        page_token,
                    }),
                    ..Default::default()
                })
                .await?
                .into_inner();
            all.extend(page.withdrawals);
            page_token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if page_token.is_empty() {
                return Ok(all);
            }
        }
    }

    /// One round of the bank's work: take every REQUESTED withdrawal, and settle every
    /// PROCESSING one taken at least `after` ago (a magic amount fails). Returns how many
    /// it settled.
    pub async fn work(&self, settlement: Settlement) -> Result<usize, Status> {
        for w in self.in_status(wpb::WithdrawalStatus::Requested).await? {
            self.take(&w.withdrawal_id).await?;
        }
        let Settlement::After(after) = settlement else {
            return Ok(0);
        };
        let due = chrono::Utc::now() - chrono::Duration::from_std(after).unwrap_or_default();
        let mut settled = 0;
        for w in self.in_status(wpb::WithdrawalStatus::Processing).await? {
            let taken = w
                .update_time
                .as_ref()
                .and_then(kuajing_platform::time::from_proto);
            if taken.is_some_and(|t| t > due) {
                continue;
            }
            let amount = w.amount.as_ref().map(|m| m.amount.as_str()).unwrap_or("");
            let failure = rules::automatic_failure(amount).map(str::to_owned);
            let request_id = rules::derived_request_id(&[&w.withdrawal_id, "SETTLED"]);
            match self
                .finish(&w.withdrawal_id, &request_id.to_string(), failure)
                .await
            {
                Ok(_) => settled += 1,
                // Settled another way meanwhile (SettleWithdrawal): nothing to do.
                Err(s) if s.code() == tonic::Code::FailedPrecondition => {}
                Err(s) => return Err(s),
            }
        }
        Ok(settled)
    }
}
