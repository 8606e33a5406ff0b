//! Who may authorise cross-border pay, by where the buyer is registered. DOMAIN.md: an
//! overseas buyer is "a company or person outside mainland China"; seed 003: the solution
//! "allows companies registered in certain countries", without listing them. So the list is
//! a setting, and what ships admits every region but mainland China ("CN"), which no
//! setting can admit.

use std::collections::BTreeSet;

/// Mainland China: never eligible.
pub const MAINLAND: &str = "CN";

/// The regions whose buyers may create a mandate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuyerRegions {
    /// Every region outside mainland China (the default: the sources name no list).
    AllButMainland,
    /// Only these ISO 3166-1 alpha-2 codes.
    Only(BTreeSet<String>),
}

impl BuyerRegions {
    /// Parses "*" (every region but mainland China) or a comma-separated list of region
    /// codes, e.g. "SG,MY,US".
    pub fn parse(text: &str) -> Result<BuyerRegions, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(BuyerRegions::AllButMainland);
        }
        let mut codes = BTreeSet::new();
        for code in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("{code:?} is not an ISO 3166-1 alpha-2 code"));
            }
            if code == MAINLAND {
                return Err("mainland China (CN) cannot be eligible: buyers are overseas".into());
            }
            codes.insert(code.to_owned());
        }
        if codes.is_empty() {
            return Err("name at least one region, or \"*\" for every region but CN".into());
        }
        Ok(BuyerRegions::Only(codes))
    }

    /// Whether a buyer registered in `region` may authorise cross-border pay.
    pub fn admit(&self, region: &str) -> bool {
        region != MAINLAND
            && match self {
                BuyerRegions::AllButMainland => true,
                BuyerRegions::Only(codes) => codes.contains(region),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_admits_everyone_outside_mainland_china() {
        let all = BuyerRegions::parse("*").unwrap();
        assert!(all.admit("SG") && all.admit("HK") && all.admit("US"));
        assert!(!all.admit("CN"));
    }

    #[test]
    fn a_list_admits_only_its_regions_and_never_cn() {
        let some = BuyerRegions::parse("SG, MY").unwrap();
        assert!(some.admit("SG") && some.admit("MY"));
        assert!(!some.admit("US") && !some.admit("CN"));
        for bad in ["", " , ", "CN", "SG,cn", "SGP", "sg"] {
            assert!(BuyerRegions::parse(bad).is_err(), "{bad:?}");
        }
    }
}
