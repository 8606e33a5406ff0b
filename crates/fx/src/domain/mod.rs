//! The fx rules, free of IO: resolving a pair's mid rate (direct, inverted or crossed),
//! staleness, spreads, and the arithmetic of a quote.

pub mod quote;
pub mod rates;
