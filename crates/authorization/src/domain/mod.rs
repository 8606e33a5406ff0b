//! The authorization rules, free of IO: who may authorise (buyer regions), the mandate
//! state machine and validity, limit
//! arithmetic, restricted category matching, the ordered payment decision, and the
//! reservation state machine.

pub mod buyer_region;
pub mod category;
pub mod decision;
pub mod limits;
pub mod mandate;
pub mod reservation;
