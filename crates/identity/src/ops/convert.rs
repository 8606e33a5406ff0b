//! Stored rows and domain values to and from their protobuf forms.

use chrono::{DateTime, Utc};
use kuajing_proto::identity::v1 as pb;
use tonic::Status;

use crate::domain::account::{AccountType, RealNameStatus, Role};
use crate::domain::admission::{Membership, Program};
use crate::domain::code::{Channel, Purpose, State};
use crate::domain::events::EventType;
use crate::domain::linked::{LinkStatus, Marketplace};
use crate::domain::real_name::{DocumentType, SubjectType};
use crate::store::accounts::AccountRow;
use crate::store::codes::ChallengeRow;
use crate::store::events::EventRow;
use crate::store::linked::LinkedRow;
use crate::store::real_name::VerificationRow;
use crate::store::supplier::{ComplaintRow, ProfileRow};
use kuajing_platform::error::internal;

/// Timestamps to and from the wire form, the platform's one way.
pub use kuajing_platform::time::{from_proto as from_ts, opt_to_proto as opt_ts, to_proto as ts};

fn stored<T>(value: Option<T>, what: &str, raw: &str) -> Result<T, Status> {
    value.ok_or_else(|| internal(format!("unknown stored {what} {raw:?}")))
}

pub fn account_type_to_pb(t: AccountType) -> pb::AccountType {
    match t {
        AccountType::Personal => pb::AccountType::Personal,
        AccountType::Business => pb::AccountType::Business,
    }
}

pub fn account_type_from_pb(t: pb::AccountType) -> Option<AccountType> {
    match t {
        pb::AccountType::Personal => Some(AccountType::Personal),
        pb::AccountType::Business => Some(AccountType::Business),
        pb::AccountType::Unspecified => None,
    }
}

pub fn role_to_pb(r: Role) -> pb::AccountRole {
    match r {
        Role::Buyer => pb::AccountRole::Buyer,
        Role::Supplier => pb::AccountRole::Supplier,
        Role::Operator => pb::AccountRole::Operator,
    }
}

pub fn real_name_to_pb(s: RealNameStatus) -> pb::RealNameStatus {
    match s {
        RealNameStatus::NotSubmitted => pb::RealNameStatus::NotSubmitted,
        RealNameStatus::Pending => pb::RealNameStatus::Pending,
        RealNameStatus::Verified => pb::RealNameStatus::Verified,
        RealNameStatus::Rejected => pb::RealNameStatus::Rejected,
    }
}

pub fn channel_from_pb(c: pb::VerificationChannel) -> Option<Channel> {
    match c {
        pb::VerificationChannel::Email => Some(Channel::Email),
        pb::VerificationChannel::Sms => Some(Channel::Sms),
        pb::VerificationChannel::Unspecified => None,
    }
}

pub fn channel_to_pb(c: Channel) -> pb::VerificationChannel {
    match c {
        Channel::Email => pb::VerificationChannel::Email,
        Channel::Sms => pb::VerificationChannel::Sms,
    }
}

pub fn purpose_from_pb(p: pb::VerificationPurpose) -> Option<Purpose> {
    match p {
        pb::VerificationPurpose::ConfirmContact => Some(Purpose::ConfirmContact),
        pb::VerificationPurpose::SetPaymentPin => Some(Purpose::SetPaymentPin),
        pb::VerificationPurpose::ActivateMandate => Some(Purpose::ActivateMandate),
        pb::VerificationPurpose::ChangeContact => Some(Purpose::ChangeContact),
        pb::VerificationPurpose::ResetPassword => Some(Purpose::ResetPassword),
        pb::VerificationPurpose::EnrollOperatorFactor => Some(Purpose::EnrollOperatorFactor),
        pb::VerificationPurpose::Unspecified => None,
    }
}

pub fn purpose_to_pb(p: Purpose) -> pb::VerificationPurpose {
    match p {
        Purpose::ConfirmContact => pb::VerificationPurpose::ConfirmContact,
        Purpose::SetPaymentPin => pb::VerificationPurpose::SetPaymentPin,
        Purpose::ActivateMandate => pb::VerificationPurpose::ActivateMandate,
        Purpose::ChangeContact => pb::VerificationPurpose::ChangeContact,
        Purpose::ResetPassword => pb::VerificationPurpose::ResetPassword,
        Purpose::EnrollOperatorFactor => pb::VerificationPurpose::EnrollOperatorFactor,
    }
}

fn state_to_pb(s: State) -> pb::ChallengeState {
    match s {
        State::Pending => pb::ChallengeState::Pending,
        State::Consumed => pb::ChallengeState::Consumed,
        State::Expired => pb::ChallengeState::Expired,
        State::Exhausted => pb::ChallengeState::Exhausted,
        State::Superseded => pb::ChallengeState::Superseded,
    }
}

pub fn marketplace_from_pb(m: pb::Marketplace) -> Option<Marketplace> {
    match m {
        pb::Marketplace::Marketplace1688 => Some(Marketplace::M1688),
        pb::Marketplace::AlibabaCom => Some(Marketplace::AlibabaCom),
        pb::Marketplace::Unspecified => None,
    }
}

fn marketplace_to_pb(m: Marketplace) -> pb::Marketplace {
    match m {
        Marketplace::M1688 => pb::Marketplace::Marketplace1688,
        Marketplace::AlibabaCom => pb::Marketplace::AlibabaCom,
    }
}

pub fn link_status_from_pb(s: pb::LinkStatus) -> Option<LinkStatus> {
    match s {
        pb::LinkStatus::BoundUnverified => Some(LinkStatus::BoundUnverified),
        pb::LinkStatus::BoundVerified => Some(LinkStatus::BoundVerified),
        pb::LinkStatus::Unbound => Some(LinkStatus::Unbound),
        pb::LinkStatus::Unspecified => None,
    }
}

fn link_status_to_pb(s: LinkStatus) -> pb::LinkStatus {
    match s {
        LinkStatus::BoundUnverified => pb::LinkStatus::BoundUnverified,
        LinkStatus::BoundVerified => pb::LinkStatus::BoundVerified,
        LinkStatus::Unbound => pb::LinkStatus::Unbound,
    }
}

pub fn subject_type_from_pb(s: pb::RealNameSubjectType) -> Option<SubjectType> {
    match s {
        pb::RealNameSubjectType::Individual => Some(SubjectType::Individual),
        pb::RealNameSubjectType::Enterprise => Some(SubjectType::Enterprise),
        pb::RealNameSubjectType::LegalRepresentative => Some(SubjectType::LegalRepresentative),
        pb::RealNameSubjectType::Unspecified => None,
    }
}

fn subject_type_to_pb(s: SubjectType) -> pb::RealNameSubjectType {
    match s {
        SubjectType::Individual => pb::RealNameSubjectType::Individual,
        SubjectType::Enterprise => pb::RealNameSubjectType::Enterprise,
        SubjectType::LegalRepresentative => pb::RealNameSubjectType::LegalRepresentative,
    }
}

pub fn document_type_from_pb(d: pb::IdentityDocumentType) -> Option<DocumentType> {
    match d {
        pb::IdentityDocumentType::Passport => Some(DocumentType::Passport),
        pb::IdentityDocumentType::NationalIdCard => Some(DocumentType::NationalIdCard),
        pb::IdentityDocumentType::ResidencePermit => Some(DocumentType::ResidencePermit),
        pb::IdentityDocumentType::DrivingLicence => Some(DocumentType::DrivingLicence),
        pb::IdentityDocumentType::BusinessLicence => Some(DocumentType::BusinessLicence),
        pb::IdentityDocumentType::Unspecified => None,
    }
}

fn document_type_to_pb(d: DocumentType) -> pb::IdentityDocumentType {
    match d {
        DocumentType::Passport => pb::IdentityDocumentType::Passport,
        DocumentType::NationalIdCard => pb::IdentityDocumentType::NationalIdCard,
        DocumentType::ResidencePermit => pb::IdentityDocumentType::ResidencePermit,
        DocumentType::DrivingLicence => pb::IdentityDocumentType::DrivingLicence,
        DocumentType::BusinessLicence => pb::IdentityDocumentType::BusinessLicence,
    }
}

pub fn membership_from_pb(m: pb::SupplierMembership) -> Option<Membership> {
    match m {
        pb::SupplierMembership::Free => Some(Membership::Free),
        pb::SupplierMembership::Paid => Some(Membership::Paid),
        pb::SupplierMembership::Unspecified => None,
    }
}

fn membership_to_pb(m: Membership) -> pb::SupplierMembership {
    match m {
        Membership::Free => pb::SupplierMembership::Free,
        Membership::Paid => pb::SupplierMembership::Paid,
    }
}

pub fn program_from_pb(p: pb::AdmissionProgram) -> Option<Program> {
    match p {
        pb::AdmissionProgram::TradeAssurance => Some(Program::TradeAssurance),
        pb::AdmissionProgram::DirectPay => Some(Program::DirectPay),
        pb::AdmissionProgram::CrossBorderPay => Some(Program::CrossBorderPay),
        pb::AdmissionProgram::Unspecified => None,
    }
}

pub fn event_type_from_pb(t: pb::SecurityEventType) -> Option<EventType> {
    EventType::parse(t.as_str_name().trim_start_matches("SECURITY_EVENT_TYPE_"))
}

fn event_type_to_pb(t: EventType) -> pb::SecurityEventType {
    pb::SecurityEventType::from_str_name(&format!("SECURITY_EVENT_TYPE_{}", t.as_str()))
        .unwrap_or(pb::SecurityEventType::Unspecified)
}

/// An account row as the contract's Account.
pub fn account(row: &AccountRow) -> Result<pb::Account, Status> {
    let account_type = stored(
        AccountType::parse(&row.account_type),
        "account type",
        &row.account_type,
    )?;
    let role = stored(Role::parse(&row.role), "role", &row.role)?;
    let real_name = stored(
        RealNameStatus::parse(&row.real_name_status),
        "real-name status",
        &row.real_name_status,
    )?;
    Ok(pb::Account {
        account_id: row.account_id.to_string(),
        member_name: row.member_name.clone(),
        account_type: account_type_to_pb(account_type) as i32,
        roles: crate::domain::account::roles(role, row.is_operator)
            .into_iter()
            .map(|r| role_to_pb(r) as i32)
            .collect(),
        region_code: row.region_code.clone(),
        display_name: row.display_name.clone(),
        email: row.email.clone().unwrap_or_default(),
        email_verified: row.email_verified,
        mobile: row.mobile.clone().unwrap_or_default(),
        mobile_verified: row.mobile_verified,
        real_name_status: real_name_to_pb(real_name) as i32,
        payment_pin_set: row.pin_set,
        create_time: Some(ts(row.created_at)),
        update_time: Some(ts(row.updated_at)),
    })
}

/// A challenge row as the contract's VerificationChallenge, its state seen at `now`.
pub fn challenge(
    row: &ChallengeRow,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Result<pb::VerificationChallenge, Status> {
    let channel = stored(Channel::parse(&row.channel), "channel", &row.channel)?;
    let purpose = stored(Purpose::parse(&row.purpose), "purpose", &row.purpose)?;
    let state = stored(State::parse(&row.state), "challenge state", &row.state)?;
    Ok(pb::VerificationChallenge {
        challenge_id: row.challenge_id.to_string(),
        account_id: row.account_id.to_string(),
        channel: channel_to_pb(channel) as i32,
        purpose: purpose_to_pb(purpose) as i32,
        reference: row.reference.clone(),
        masked_destination: crate::sender::mask(channel, &row.destination),
        state: state_to_pb(state.at(row.expire_at, now)) as i32,
        attempts_remaining: (max_attempts - row.failed_attempts).max(0),
        create_time: Some(ts(row.created_at)),
        expire_time: Some(ts(row.expire_at)),
        resend_time: Some(ts(row.resend_at)),
        consume_time: opt_ts(row.consumed_at),
    })
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A verification row as the contract's RealNameVerification (document number masked).
pub fn verification(row: &VerificationRow) -> Result<pb::RealNameVerification, Status> {
    let subject = stored(
        SubjectType::parse(&row.subject_type),
        "subject type",
        &row.subject_type,
    )?;
    let document = stored(
        DocumentType::parse(&row.document_type),
        "document type",
        &row.document_type,
    )?;
    let status = stored(
        RealNameStatus::parse(&row.status),
        "real-name status",
        &row.status,
    )?;
    Ok(pb::RealNameVerification {
        real_name_verification_id: row.real_name_verification_id.to_string(),
        account_id: row.account_id.to_string(),
        subject_type: subject_type_to_pb(subject) as i32,
        legal_name: row.legal_name.clone(),
        document_type: document_type_to_pb(document) as i32,
        document_number: row.document_number_masked.clone(),
        document_region_code: row.document_region_code.clone(),
        birth_date: date(row.birth_date),
        nationality_region_code: row.nationality_region_code.clone(),
        document_expire_date: date(row.document_expire_date),
        document_photo_refs: row.document_photo_refs.clone(),
        status: real_name_to_pb(status) as i32,
        rejection_reason: row.rejection_reason.clone(),
        reviewer_account_id: row
            .reviewer_account_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        create_time: Some(ts(row.created_at)),
        review_time: opt_ts(row.review_time),
    })
}

/// A binding row as the contract's LinkedAccount.
pub fn linked(row: &LinkedRow) -> Result<pb::LinkedAccount, Status> {
    let marketplace = stored(
        Marketplace::parse(&row.marketplace),
        "marketplace",
        &row.marketplace,
    )?;
    let status = stored(LinkStatus::parse(&row.status), "link status", &row.status)?;
    let external_type = row
        .external_account_type
        .as_deref()
        .and_then(AccountType::parse)
        .map(|t| account_type_to_pb(t) as i32)
        .unwrap_or_default();
    Ok(pb::LinkedAccount {
        linked_account_id: row.linked_account_id.to_string(),
        account_id: row.account_id.to_string(),
        marketplace: marketplace_to_pb(marketplace) as i32,
        external_member_id: row.external_member_id.clone(),
        external_account_type: external_type,
        status: link_status_to_pb(status) as i32,
        create_time: Some(ts(row.created_at)),
        verify_time: opt_ts(row.verify_time),
        unbind_time: opt_ts(row.unbind_time),
        unbind_reason: row.unbind_reason.clone(),
    })
}

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A profile row as the contract's SupplierProfile.
pub fn profile(row: &ProfileRow) -> Result<pb::SupplierProfile, Status> {
    let membership = stored(
        Membership::parse(&row.membership),
        "membership",
        &row.membership,
    )?;
    let real_name = stored(
        RealNameStatus::parse(&row.real_name_status),
        "real-name status",
        &row.real_name_status,
    )?;
    Ok(pb::SupplierProfile {
        account_id: row.account_id.to_string(),
        company_id: row.company_id.to_string(),
        company_name: row.company_name.clone(),
        region_code: row.region_code.clone(),
        membership: membership_to_pb(membership) as i32,
        trustpass_active: row.trustpass_active,
        cross_border_pay_enabled: row.cross_border_pay_enabled,
        bad_credit_record: row.bad_credit_record,
        violation_points: row.violation_points,
        ip_complaint_count: count(row.ip_complaint_count),
        company_ip_complaint_count: count(row.company_ip_complaint_count),
        risk_flags: row.risk_flags.clone(),
        real_name_status: real_name_to_pb(real_name) as i32,
        create_time: Some(ts(row.created_at)),
        update_time: Some(ts(row.updated_at)),
        open_programs: row
            .open_programs
            .iter()
            .map(|p| {
                Program::parse(p)
                    .map(|p| program_to_pb(p) as i32)
                    .ok_or_else(|| internal(format!("stored program {p:?}")))
            })
            .collect::<Result<_, _>>()?,
    })
}

/// A program as the contract's AdmissionProgram.
pub fn program_to_pb(p: Program) -> pb::AdmissionProgram {
    match p {
        Program::TradeAssurance => pb::AdmissionProgram::TradeAssurance,
        Program::DirectPay => pb::AdmissionProgram::DirectPay,
        Program::CrossBorderPay => pb::AdmissionProgram::CrossBorderPay,
    }
}

/// A complaint row as the contract's IpComplaint.
pub fn complaint(row: &ComplaintRow) -> pb::IpComplaint {
    pb::IpComplaint {
        ip_complaint_id: row.ip_complaint_id.to_string(),
        account_id: row.account_id.to_string(),
        company_id: row.company_id.to_string(),
        complaint_reference: row.complaint_reference.clone(),
        serious: row.serious,
        description: row.description.clone(),
        complaint_time: Some(ts(row.complaint_time)),
        create_time: Some(ts(row.created_at)),
    }
}

/// An event row as the contract's SecurityEvent.
pub fn event(row: &EventRow) -> Result<pb::SecurityEvent, Status> {
    let t = stored(
        EventType::parse(&row.event_type),
        "event type",
        &row.event_type,
    )?;
    Ok(pb::SecurityEvent {
        security_event_id: row.security_event_id.to_string(),
        account_id: row.account_id.to_string(),
        r#type: event_type_to_pb(t) as i32,
        actor_account_id: row
            .actor_account_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        actor_service: row.actor_service.clone(),
        client_ip: row.client_ip.clone(),
        user_agent: row.user_agent.clone(),
        details: row.details.0.clone().into_iter().collect(),
        create_time: Some(ts(row.created_at)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Timestamp;

    #[test]
    fn event_types_map_both_ways() {
        for t in crate::domain::events::ALL {
            let p = event_type_to_pb(t);
            assert_ne!(p, pb::SecurityEventType::Unspecified, "{t:?}");
            assert_eq!(event_type_from_pb(p), Some(t));
        }
        assert_eq!(event_type_from_pb(pb::SecurityEventType::Unspecified), None);
    }

    #[test]
    fn timestamps_round_trip() {
        let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        assert_eq!(from_ts(&ts(now)), Some(now));
        assert_eq!(
            from_ts(&Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
    }
}
