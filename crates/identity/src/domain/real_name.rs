//! Real-name verification: what a submission must contain, who may submit what, when a
//! new submission is allowed, and how document numbers are shown.

use chrono::NaiveDate;
use kuajing_proto::reasons::identity as reasons;

use super::account::{AccountType, RealNameStatus};
use super::{region, text};

/// Who is identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectType {
    /// A natural person.
    Individual,
    /// A company.
    Enterprise,
    /// A company's legal representative.
    LegalRepresentative,
}

impl SubjectType {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Individual => "INDIVIDUAL",
            SubjectType::Enterprise => "ENTERPRISE",
            SubjectType::LegalRepresentative => "LEGAL_REPRESENTATIVE",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<SubjectType> {
        match s {
            "INDIVIDUAL" => Some(SubjectType::Individual),
            "ENTERPRISE" => Some(SubjectType::Enterprise),
            "LEGAL_REPRESENTATIVE" => Some(SubjectType::LegalRepresentative),
            _ => None,
        }
    }

    /// A person (who has a birth date and a nationality), not a company.
    pub fn is_person(self) -> bool {
        !matches!(self, SubjectType::Enterprise)
    }
}

/// Kind of identity document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentType {
    /// Passport.
    Passport,
    /// National identity card.
    NationalIdCard,
    /// Residence permit.
    ResidencePermit,
    /// Driving licence.
    DrivingLicence,
    /// Business licence (companies only).
    BusinessLicence,
}

impl DocumentType {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::Passport => "PASSPORT",
            DocumentType::NationalIdCard => "NATIONAL_ID_CARD",
            DocumentType::ResidencePermit => "RESIDENCE_PERMIT",
            DocumentType::DrivingLicence => "DRIVING_LICENCE",
            DocumentType::BusinessLicence => "BUSINESS_LICENCE",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<DocumentType> {
        match s {
            "PASSPORT" => Some(DocumentType::Passport),
            "NATIONAL_ID_CARD" => Some(DocumentType::NationalIdCard),
            "RESIDENCE_PERMIT" => Some(DocumentType::ResidencePermit),
            "DRIVING_LICENCE" => Some(DocumentType::DrivingLicence),
            "BUSINESS_LICENCE" => Some(DocumentType::BusinessLicence),
            _ => None,
        }
    }
}

/// Personal accounts identify the individual; business accounts the enterprise or its
/// legal representative.
pub fn subject_allowed(account: AccountType, subject: SubjectType) -> Result<(), String> {
    match (account, subject) {
        (AccountType::Personal, SubjectType::Individual) => Ok(()),
        (AccountType::Business, SubjectType::Enterprise | SubjectType::LegalRepresentative) => {
            Ok(())
        }
        (AccountType::Personal, _) => Err("a personal account submits INDIVIDUAL".to_owned()),
        (AccountType::Business, _) => {
            Err("a business account submits ENTERPRISE or LEGAL_REPRESENTATIVE".to_owned())
        }
    }
}

/// A business licence identifies a company; a company is identified by its business
/// licence.
pub fn document_allowed(subject: SubjectType, document: DocumentType) -> Result<(), String> {
    match (subject, document) {
        (SubjectType::Enterprise, DocumentType::BusinessLicence) => Ok(()),
        (SubjectType::Enterprise, _) => Err("an ENTERPRISE submits a BUSINESS_LICENCE".to_owned()),
        (_, DocumentType::BusinessLicence) => {
            Err("BUSINESS_LICENCE is only for ENTERPRISE subjects".to_owned())
        }
        _ => Ok(()),
    }
}

/// Parses a "YYYY-MM-DD" date.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return Err("must be a date written YYYY-MM-DD".to_owned());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "is not a calendar date".to_owned())
}

/// A birth date: a date, not after `today`, and not more than 150 years before it.
pub fn validate_birth_date(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let date = parse_date(s)?;
    if date > today {
        return Err("must not be in the future".to_owned());
    }
    if today.years_since(date).is_some_and(|y| y > 150) {
        return Err("is more than 150 years ago".to_owned());
    }
    Ok(date)
}

/// A document expiry date: a date, not before `today`.
pub fn validate_expire_date(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let date = parse_date(s)?;
    if date < today {
        return Err("the document has expired".to_owned());
    }
    Ok(date)
}

/// Legal names: 1 to 200 characters.
pub fn validate_legal_name(s: &str) -> Result<(), String> {
    text::bounded(s, 1, 200)
}

/// Document numbers: 1 to 64 characters.
pub fn validate_document_number(s: &str) -> Result<(), String> {
    text::bounded(s, 1, 64)
}

/// Photo references: 1 to 5, each 1 to 512 characters. Returns (index, problem) pairs;
/// index `None` is about the list itself.
pub fn validate_photo_refs(refs: &[String]) -> Vec<(Option<usize>, String)> {
    let mut problems = Vec::new();
    if refs.is_empty() || refs.len() > 5 {
        problems.push((
            None,
            "must have 1 to 5 document photo references".to_owned(),
        ));
    }
    for (i, r) in refs.iter().enumerate() {
        if let Err(e) = text::bounded(r, 1, 512) {
            problems.push((Some(i), e));
        }
    }
    problems
}

/// Region codes on a submission.
pub fn validate_region(s: &str) -> Result<(), String> {
    region::validate(s)
}

/// Why a new submission is refused, given the latest verification's status.
pub fn may_submit(latest: Option<RealNameStatus>) -> Result<(), &'static str> {
    match latest {
        Some(RealNameStatus::Pending) => Err(reasons::REAL_NAME_VERIFICATION_PENDING),
        Some(RealNameStatus::Verified) => Err(reasons::REAL_NAME_ALREADY_VERIFIED),
        _ => Ok(()),
    }
}

/// Rejection reasons: 1 to 500 characters.
pub fn validate_rejection_reason(s: &str) -> Result<(), String> {
    text::bounded(s, 1, 500)
}

/// A document number for display: all but the last four characters replaced by "*".
pub fn mask_document_number(number: &str) -> String {
    let len = number.chars().count();
    number
        .chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < len { '*' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn subjects_and_documents() {
        assert!(subject_allowed(AccountType::Personal, SubjectType::Individual).is_ok());
        assert!(subject_allowed(AccountType::Personal, SubjectType::Enterprise).is_err());
        assert!(subject_allowed(AccountType::Business, SubjectType::LegalRepresentative).is_ok());
        assert!(subject_allowed(AccountType::Business, SubjectType::Individual).is_err());
        assert!(document_allowed(SubjectType::Enterprise, DocumentType::BusinessLicence).is_ok());
        assert!(document_allowed(SubjectType::Enterprise, DocumentType::Passport).is_err());
        assert!(document_allowed(SubjectType::Individual, DocumentType::BusinessLicence).is_err());
        assert!(
            document_allowed(
                SubjectType::LegalRepresentative,
                DocumentType::NationalIdCard
            )
            .is_ok()
        );
    }

    #[test]
    fn dates() {
        let today = day("2025-06-15");
        assert_eq!(
            validate_birth_date("1990-02-28", today),
            Ok(day("1990-02-28"))
        );
        assert!(validate_birth_date("1990-02-30", today).is_err());
        assert!(validate_birth_date("2025-06-16", today).is_err());
        assert!(validate_birth_date("1850-01-01", today).is_err());
        assert!(validate_birth_date("90-02-28", today).is_err());
        assert!(validate_birth_date("+1990-02-2", today).is_err());
        assert!(validate_expire_date("2025-06-15", today).is_ok());
        assert!(validate_expire_date("2025-06-14", today).is_err());
    }

    #[test]
    fn photos_and_masks() {
        assert_eq!(validate_photo_refs(&["s3://a".into()]), vec![]);
        assert_eq!(validate_photo_refs(&[]).len(), 1);
        assert_eq!(validate_photo_refs(&vec!["x".to_owned(); 6]).len(), 1);
        assert_eq!(validate_photo_refs(&["".into(), "y".repeat(513)]).len(), 2);
        assert_eq!(mask_document_number("E12345678"), "*****5678");
        assert_eq!(mask_document_number("123"), "123");
    }

    #[test]
    fn resubmission_only_after_rejection() {
        assert_eq!(may_submit(None), Ok(()));
        assert_eq!(may_submit(Some(RealNameStatus::Rejected)), Ok(()));
        assert_eq!(
            may_submit(Some(RealNameStatus::Pending)),
            Err("REAL_NAME_VERIFICATION_PENDING")
        );
        assert_eq!(
            may_submit(Some(RealNameStatus::Verified)),
            Err("REAL_NAME_ALREADY_VERIFIED")
        );
    }
}
