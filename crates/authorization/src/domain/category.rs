//! Goods category codes and the restricted list: a code is restricted when it equals a
//! restricted category_code or starts with one followed by "." (a child category, e.g.
//! "plant_seeds.vegetable" under "plant_seeds").

/// Longest category code.
pub const CODE_MAX: usize = 64;
/// Longest display name.
pub const DISPLAY_NAME_MAX: usize = 100;

/// Checks a category code: 1 to 64 characters of `[a-z0-9_.-]`.
pub fn validate_code(code: &str) -> Result<(), String> {
    if code.is_empty() {
        return Err("is required".to_owned());
    }
    if code.len() > CODE_MAX {
        return Err(format!("must be at most {CODE_MAX} characters"));
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return Err("must contain only a-z, 0-9, \"_\", \".\" and \"-\"".to_owned());
    }
    Ok(())
}

/// True when `code` is `restricted` itself or one of its "."-children.
pub fn covered_by(code: &str, restricted: &str) -> bool {
    match code.strip_prefix(restricted) {
        Some("") => true,
        Some(rest) => rest.starts_with('.'),
        None => false,
    }
}

/// A requested code that hit the restricted list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The code from the request.
    pub category_code: String,
    /// The restricted category that covers it.
    pub restricted_code: String,
}

/// The first requested code (in request order) that a restricted category covers.
pub fn first_restricted<S: AsRef<str>>(codes: &[String], restricted: &[S]) -> Option<Hit> {
    codes.iter().find_map(|code| {
        restricted
            .iter()
            .map(AsRef::as_ref)
            .filter(|r| covered_by(code, r))
            // The most specific restriction names the hit.
            .max_by_key(|r| r.len())
            .map(|r| Hit {
                category_code: code.clone(),
                restricted_code: r.to_owned(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [&str; 9] = [
        "pornography",
        "gambling",
        "drug_abuse",
        "violence",
        "terrorism",
        "plant_seeds",
        "nutrients",
        "cigarette_paper",
        "harpoons",
    ];

    #[test]
    fn codes_are_checked() {
        for ok in ["a", "plant_seeds.vegetable", "x-1.y_2", &"a".repeat(64)] {
            assert_eq!(validate_code(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Plant", "a b", "种子", "a/b", &"a".repeat(65)] {
            assert!(validate_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_restriction_covers_itself_and_its_children_only() {
        assert!(covered_by("plant_seeds", "plant_seeds"));
        assert!(covered_by("plant_seeds.vegetable", "plant_seeds"));
        assert!(covered_by("plant_seeds.vegetable.tomato", "plant_seeds"));
        assert!(!covered_by("plant_seedsx", "plant_seeds"));
        assert!(!covered_by("plant_seeds_kit", "plant_seeds"));
        assert!(!covered_by("plant", "plant_seeds"));
        assert!(!covered_by("garden.plant_seeds", "plant_seeds"));
    }

    #[test]
    fn the_first_requested_hit_is_reported() {
        let codes = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(first_restricted(&codes(&["toys", "office"]), &SEED), None);
        assert_eq!(
            first_restricted(&codes(&["toys", "harpoons.steel", "drug_abuse"]), &SEED),
            Some(Hit {
                category_code: "harpoons.steel".into(),
                restricted_code: "harpoons".into()
            })
        );
        let nested = ["toys", "toys.replica_weapons"];
        assert_eq!(
            first_restricted(&codes(&["toys.replica_weapons.x"]), &nested)
                .unwrap()
                .restricted_code,
            "toys.replica_weapons"
        );
        let empty: [&str; 0] = [];
        assert_eq!(first_restricted(&codes(&["drug_abuse"]), &empty), None);
    }
}
