//! Field checks shared by the drafting, creation and modification RPCs: lines, addresses,
//! contacts, money in the order currency. Each records BadRequest violations under the
//! request's own field paths (`name` maps an Order path such as "trade.buyer.email" to
//! the request's, e.g. "buyer.email" or "order.trade.buyer.email").

use kuajing_platform::Currency;
use kuajing_platform::FieldViolations;
use kuajing_proto::order::v1::{OrderLine, ShippingAddress};
use kuajing_proto::types;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::CURRENCY_MISMATCH;
use super::pricing::money;
use crate::domain::goods;

/// Maps an Order field path to the request's.
pub type Namer<'a> = &'a (dyn Fn(&str) -> String + Sync);

/// Text of `min..=max` characters without control characters.
pub fn text(inv: &mut FieldViolations, field: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min {
        inv.add(
            field,
            if min == 1 {
                "is required".to_owned()
            } else {
                format!("must be at least {min} characters")
            },
        );
    } else if n > max {
        inv.add(field, format!("must be at most {max} characters"));
    } else if value.chars().any(|c| c.is_control() && c != '\n') {
        inv.add(field, "must not contain control characters");
    }
}

/// An ISO 3166-1 alpha-2 code in upper case.
pub fn region_ok(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// An ISO 3166-2 subdivision code such as "UA-43".
pub fn subdivision_ok(code: &str) -> bool {
    match code.split_once('-') {
        Some((r, s)) => {
            region_ok(r)
                && (1..=3).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// An E.164 phone number: "+" and 8 to 15 digits.
pub fn phone_ok(phone: &str) -> bool {
    phone
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A Money field in the order currency: `Some(amount)` when valid. `positive` requires
/// above zero; otherwise zero or more.
pub fn money_in(
    inv: &mut FieldViolations,
    field: &str,
    m: Option<&types::Money>,
    currency: Currency,
    positive: bool,
    required: bool,
) -> Option<Decimal> {
    let Some(m) = m else {
        if required {
            inv.add(field, "is required");
        }
        return if required { None } else { Some(Decimal::ZERO) };
    };
    match kuajing_platform::Money::from_proto(field, Some(m)) {
        Err((f, d)) => {
            inv.add(f, d);
            None
        }
        Ok(v) if v.currency() != currency => {
            inv.named(
                CURRENCY_MISMATCH,
                format!("{field}.currency_code"),
                format!("must be {currency}, the order currency"),
            );
            None
        }
        Ok(v) if positive && !v.is_positive() => {
            inv.add(format!("{field}.amount"), "must be greater than zero");
            None
        }
        Ok(v) if v.amount() < Decimal::ZERO => {
            inv.add(format!("{field}.amount"), "must not be negative");
            None
        }
        Ok(v) => Some(v.amount()),
    }
}

/// Checks lines and fills their ids and amounts. `previous` are the order's current lines
/// (a line keeping its line_id keeps its id and shipped quantity). Returns the goods
/// amount when every line is valid.
pub fn lines(
    inv: &mut FieldViolations,
    name: Namer<'_>,
    lines: &mut [OrderLine],
    previous: &[OrderLine],
    currency: Currency,
    marketplace: bool,
) -> Option<Decimal> {
    let base = name("lines");
    if lines.len() > goods::MAX_LINES {
        inv.add(base.clone(), format!("at most {} lines", goods::MAX_LINES));
        return None;
    }
    let mut amounts = Vec::with_capacity(lines.len());
    let mut ok = true;
    for (i, l) in lines.iter_mut().enumerate() {
        let f = |s: &str| format!("{base}[{i}].{s}");
        let before = inv.is_empty();
        text(inv, &f("product_id"), &l.product_id, 1, 64);
        text(inv, &f("sku_id"), &l.sku_id, 0, 64);
        text(inv, &f("product_name"), &l.product_name, 1, 256);
        if l.sku_attributes.len() > 10 {
            inv.add(f("sku_attributes"), "at most 10 attributes");
        }
        for (k, a) in l.sku_attributes.iter().enumerate() {
            text(
                inv,
                &f(&format!("sku_attributes[{k}].name")),
                &a.name,
                1,
                64,
            );
            text(
                inv,
                &f(&format!("sku_attributes[{k}].value")),
                &a.value,
                1,
                128,
            );
        }
        text(
            inv,
            &f("category_code"),
            &l.category_code,
            usize::from(marketplace),
            64,
        );
        if !(1..=goods::MAX_QUANTITY).contains(&l.quantity) {
            inv.add(
                f("quantity"),
                format!("must be 1 to {}", goods::MAX_QUANTITY),
            );
        }
        if l.unit.is_empty() {
            l.unit = "piece".to_owned();
        }
        text(inv, &f("unit"), &l.unit, 1, 32);
        let price = money_in(
            inv,
            &f("unit_price"),
            l.unit_price.as_ref(),
            currency,
            true,
            true,
        );
        if !inv.is_empty() && before {
            ok = false;
            continue;
        }
        let Some(price) = price else {
            ok = false;
            continue;
        };
        let Some(amount) = goods::line_amount(price, l.quantity, currency) else {
            inv.add(f("quantity"), "unit_price x quantity is too large");
            ok = false;
            continue;
        };
        let kept = previous
            .iter()
            .find(|p| !l.line_id.is_empty() && p.line_id == l.line_id);
        match kept {
            Some(p) => l.shipped_quantity = p.shipped_quantity,
            None => {
                l.line_id = Uuid::now_v7().to_string();
                l.shipped_quantity = 0;
            }
        }
        l.unit_price = Some(money(currency, price));
        l.amount = Some(money(currency, amount));
        amounts.push(amount);
    }
    if !ok {
        return None;
    }
    let sum = goods::sum(amounts);
    if sum.is_none() {
        inv.add(base, "the lines add up to too much");
    }
    sum
}

/// Checks a postal address.
pub fn address(inv: &mut FieldViolations, field: &str, a: Option<&ShippingAddress>) {
    let Some(a) = a else {
        inv.add(field, "is required");
        return;
    };
    let f = |s: &str| format!("{field}.{s}");
    text(inv, &f("recipient_name"), &a.recipient_name, 1, 128);
    text(inv, &f("company_name"), &a.company_name, 0, 256);
    if !a.phone.is_empty() && !phone_ok(&a.phone) {
        inv.add(f("phone"), "must be E.164, e.g. +14155550100");
    }
    if !region_ok(&a.region_code) {
        inv.add(
            f("region_code"),
            "must be an ISO 3166-1 alpha-2 code in upper case",
        );
    }
    if !a.subdivision_code.is_empty() && !subdivision_ok(&a.subdivision_code) {
        inv.add(
            f("subdivision_code"),
            "must be an ISO 3166-2 code such as UA-43",
        );
    }
    text(
        inv,
        &f("administrative_area"),
        &a.administrative_area,
        0,
        128,
    );
    text(inv, &f("locality"), &a.locality, 0, 128);
    if a.address_lines.is_empty() || a.address_lines.len() > 3 {
        inv.add(f("address_lines"), "1 to 3 lines are required");
    }
    for (i, l) in a.address_lines.iter().enumerate() {
        text(inv, &f(&format!("address_lines[{i}]")), l, 1, 256);
    }
    text(inv, &f("postal_code"), &a.postal_code, 0, 32);
}
