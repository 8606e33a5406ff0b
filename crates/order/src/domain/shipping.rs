//! Shipment batches (发货批次): what a batch may carry, the logistics proof it needs, and
//! when the order counts as fully shipped.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// Batches per order (contract).
pub const MAX_BATCHES: usize = 50;

/// An order line as shipping sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineState {
    /// The line id.
    pub line_id: String,
    /// Quantity ordered.
    pub quantity: i64,
    /// Quantity already shipped.
    pub shipped: i64,
}

/// Why a batch is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchRefusal {
    /// The order has lines but the batch carries nothing.
    NoItems,
    /// A contract order without lines got items.
    ItemsWithoutLines,
    /// An item names no line of the order (index of the item).
    UnknownLine(usize),
    /// A line appears twice in the batch (index of the second).
    DuplicateLine(usize),
    /// An item's quantity is not positive (index).
    QuantityNotPositive(usize),
    /// More than remains to ship (index of the item, what remains).
    ExceedsOrder(usize, i64),
    /// The order already has the maximum number of batches.
    TooManyBatches,
    /// Shipped before the order was created or drafted.
    PredatesOrder,
    /// Shipped in the future.
    InTheFuture,
    /// Offline shipping without carrier, tracking number and a proof document.
    ProofRequired,
}

/// The logistics proof of a batch: a platform logistics order, or carrier, tracking number
/// and at least one proof document.
pub fn proof_ok(logistics_order_id: &str, carrier: &str, tracking: &str, proofs: usize) -> bool {
    !logistics_order_id.is_empty() || (!carrier.is_empty() && !tracking.is_empty() && proofs > 0)
}

/// Checks a batch and returns the lines' new shipped quantities and whether everything is
/// shipped after it (for a contract order without lines: when the batch is final).
pub fn apply_batch(
    lines: &[LineState],
    items: &[(String, i64)],
    final_batch: bool,
    batches_so_far: usize,
    ship_time: DateTime<Utc>,
    order_created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Vec<i64>, bool), BatchRefusal> {
    if batches_so_far >= MAX_BATCHES {
        return Err(BatchRefusal::TooManyBatches);
    }
    if ship_time > now {
        return Err(BatchRefusal::InTheFuture);
    }
    if ship_time < order_created {
        return Err(BatchRefusal::PredatesOrder);
    }
    if lines.is_empty() {
        if !items.is_empty() {
            return Err(BatchRefusal::ItemsWithoutLines);
        }
        return Ok((Vec::new(), final_batch));
    }
    if items.is_empty() {
        return Err(BatchRefusal::NoItems);
    }
    let index: HashMap<&str, usize> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.line_id.as_str(), i))
        .collect();
    let mut shipped: Vec<i64> = lines.iter().map(|l| l.shipped).collect();
    let mut seen = vec![false; lines.len()];
    for (k, (line_id, qty)) in items.iter().enumerate() {
        let i = *index
            .get(line_id.as_str())
            .ok_or(BatchRefusal::UnknownLine(k))?;
        if seen[i] {
            return Err(BatchRefusal::DuplicateLine(k));
        }
        seen[i] = true;
        if *qty <= 0 {
            return Err(BatchRefusal::QuantityNotPositive(k));
        }
        let remaining = lines[i].quantity - shipped[i];
        if *qty > remaining {
            return Err(BatchRefusal::ExceedsOrder(k, remaining));
        }
        shipped[i] += qty;
    }
    let complete = lines.iter().zip(&shipped).all(|(l, s)| *s >= l.quantity);
    Ok((shipped, complete))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn line(id: &str, q: i64, s: i64) -> LineState {
        LineState {
            line_id: id.into(),
            quantity: q,
            shipped: s,
        }
    }

    #[test]
    fn batches_ship_what_remains() {
        let now = Utc::now();
        let created = now - Duration::days(2);
        let lines = [line("a", 100, 0), line("b", 10, 0)];
        let first = apply_batch(&lines, &[("a".into(), 60)], false, 0, now, created, now).unwrap();
        assert_eq!(first, (vec![60, 0], false));
        let lines = [line("a", 100, 60), line("b", 10, 0)];
        let rest = apply_batch(
            &lines,
            &[("a".into(), 40), ("b".into(), 10)],
            false,
            1,
            now,
            created,
            now,
        )
        .unwrap();
        assert_eq!(rest, (vec![100, 10], true));
        assert_eq!(
            apply_batch(&lines, &[("a".into(), 41)], false, 1, now, created, now),
            Err(BatchRefusal::ExceedsOrder(0, 40))
        );
        assert_eq!(
            apply_batch(&lines, &[("z".into(), 1)], false, 1, now, created, now),
            Err(BatchRefusal::UnknownLine(0))
        );
        assert_eq!(
            apply_batch(
                &lines,
                &[("b".into(), 1), ("b".into(), 1)],
                false,
                1,
                now,
                created,
                now
            ),
            Err(BatchRefusal::DuplicateLine(1))
        );
        assert_eq!(
            apply_batch(&lines, &[("b".into(), 0)], false, 1, now, created, now),
            Err(BatchRefusal::QuantityNotPositive(0))
        );
        assert_eq!(
            apply_batch(&lines, &[], false, 1, now, created, now),
            Err(BatchRefusal::NoItems)
        );
        assert_eq!(
            apply_batch(
                &lines,
                &[("b".into(), 1)],
                false,
                1,
                created - Duration::seconds(1),
                created,
                now
            ),
            Err(BatchRefusal::PredatesOrder)
        );
        assert_eq!(
            apply_batch(
                &lines,
                &[("b".into(), 1)],
                false,
                1,
                now + Duration::minutes(1),
                created,
                now
            ),
            Err(BatchRefusal::InTheFuture)
        );
        assert_eq!(
            apply_batch(
                &lines,
                &[("b".into(), 1)],
                false,
                MAX_BATCHES,
                now,
                created,
                now
            ),
            Err(BatchRefusal::TooManyBatches)
        );
    }

    #[test]
    fn contract_orders_finish_with_the_final_batch() {
        let now = Utc::now();
        assert_eq!(
            apply_batch(&[], &[], false, 0, now, now, now),
            Ok((vec![], false))
        );
        assert_eq!(
            apply_batch(&[], &[], true, 1, now, now, now),
            Ok((vec![], true))
        );
        assert_eq!(
            apply_batch(&[], &[("a".into(), 1)], true, 1, now, now, now),
            Err(BatchRefusal::ItemsWithoutLines)
        );
    }

    #[test]
    fn offline_shipping_needs_proof() {
        assert!(proof_ok("LP123", "", "", 0));
        assert!(proof_ok("", "DHL", "JD0001", 1));
        assert!(!proof_ok("", "DHL", "JD0001", 0));
        assert!(!proof_ok("", "", "JD0001", 1));
    }
}
