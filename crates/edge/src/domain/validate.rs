//! Edge's own input checks, made before anything is called: request ids, resource ids,
//! PINs and codes, list sizes. Deeper rules (amounts, names, addresses) are the services';
//! their field violations pass through unchanged.

use std::collections::HashSet;

use uuid::Uuid;

/// Field violations collected while checking a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    /// None yet.
    pub fn new() -> Self {
        Violations::default()
    }

    /// Records that `field` is invalid.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// The violations, (field, description).
    pub fn into_inner(self) -> Vec<(String, String)> {
        self.0
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The required idempotency key: a UUID.
    pub fn request_id(&mut self, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            self.add("request_id", "is required (a UUID chosen by the caller)");
            return None;
        }
        self.uuid_format("request_id", value)
    }

    /// A required id.
    pub fn id(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            self.add(field, "is required");
            return None;
        }
        self.uuid_format(field, value)
    }

    /// An optional id: `Some(None)` when empty, `None` when malformed.
    pub fn optional_id(&mut self, field: &str, value: &str) -> Option<Option<Uuid>> {
        if value.is_empty() {
            return Some(None);
        }
        self.uuid_format(field, value).map(Some)
    }

    fn uuid_format(&mut self, field: &str, value: &str) -> Option<Uuid> {
        match Uuid::try_parse(value) {
            Ok(id) => Some(id),
            Err(_) => {
                self.add(field, "must be a UUID");
                None
            }
        }
    }

    /// Exactly 6 ASCII digits (PINs and verification codes).
    pub fn six_digits(&mut self, field: &str, value: &str) {
        if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
            self.add(field, "must be exactly 6 digits");
        }
    }

    /// A list of 1 to `max` distinct ids.
    pub fn id_list(&mut self, field: &str, values: &[String], max: usize) -> Vec<Uuid> {
        if values.is_empty() {
            self.add(field, "needs at least one id");
        } else if values.len() > max {
            self.add(field, format!("at most {max} ids"));
        }
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        // Ids are checked one by one only within the limit: a list too long is one
        // violation, and no more than `max` ids come back.
        for (i, value) in values.iter().take(max).enumerate() {
            if let Some(id) = self.uuid_format(&format!("{field}[{i}]"), value) {
                if !seen.insert(id) {
                    self.add(format!("{field}[{i}]"), "is a duplicate");
                }
                ids.push(id);
            }
        }
        ids
    }

    /// A whole number within `min..=max`.
    pub fn range(&mut self, field: &str, value: i32, min: i32, max: i32) {
        if value < min || value > max {
            self.add(field, format!("must be between {min} and {max}"));
        }
    }

    /// An enum value known to this build; `required` refuses the `_UNSPECIFIED` 0.
    pub fn known<E: TryFrom<i32>>(&mut self, field: &str, value: i32, required: bool) -> Option<E> {
        if value == 0 && required {
            self.add(field, "is required");
            return None;
        }
        match E::try_from(value) {
            Ok(e) => Some(e),
            Err(_) => {
                self.add(field, format!("unknown value {value}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_over_its_limit_is_one_violation_and_gives_back_at_most_the_limit() {
        let mut v = Violations::new();
        let list: Vec<String> = (0..25).map(|_| Uuid::now_v7().to_string()).collect();
        assert_eq!(v.id_list("ids", &list, 20).len(), 20);
        let fields: Vec<String> = v.into_inner().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["ids"]);
    }

    #[test]
    fn ids_pins_and_lists() {
        let mut v = Violations::new();
        let id = Uuid::now_v7();
        assert_eq!(v.request_id(&id.to_string()), Some(id));
        assert_eq!(v.optional_id("x", ""), Some(None));
        v.six_digits("pin", "123456");
        assert!(v.is_empty());

        assert_eq!(v.request_id(""), None);
        assert_eq!(v.id("order_id", "nope"), None);
        v.six_digits("pin", "12345a");
        v.six_digits("code", "1234567");
        let list = v.id_list("order_ids", &[id.to_string(), id.to_string()], 50);
        assert_eq!(list.len(), 2);
        v.id_list("empty", &[], 50);
        v.range("page_size", 51, 0, 50);
        let fields: Vec<String> = v.into_inner().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "request_id",
                "order_id",
                "pin",
                "code",
                "order_ids[1]",
                "empty",
                "page_size"
            ]
        );
    }

    #[test]
    fn enums_must_be_known() {
        #[derive(Debug, PartialEq)]
        struct E;
        impl TryFrom<i32> for E {
            type Error = ();
            fn try_from(v: i32) -> Result<E, ()> {
                if (0..=2).contains(&v) { Ok(E) } else { Err(()) }
            }
        }
        let mut v = Violations::new();
        assert_eq!(v.known::<E>("a", 1, true), Some(E));
        assert_eq!(v.known::<E>("b", 0, false), Some(E));
        assert!(v.is_empty());
        assert_eq!(v.known::<E>("c", 0, true), None);
        assert_eq!(v.known::<E>("d", 9, false), None);
        assert_eq!(v.into_inner().len(), 2);
    }
}
