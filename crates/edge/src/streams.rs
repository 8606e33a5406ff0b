//! Open server streams (WatchPayment): each polls the order service until it ends, so one
//! caller holding many would multiply the load it may put on order. Each edge process lets
//! one caller hold [`PER_CALLER`] streams at once and all callers [`IN_ALL`]; one more is
//! refused RATE_LIMITED (scope "streams") until one ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::Status;
use uuid::Uuid;

use crate::errors;

/// Streams one caller may hold open on one edge process.
pub const PER_CALLER: usize = 4;
/// Streams one edge process holds open in all.
pub const IN_ALL: usize = 10_000;

/// The open streams of one edge process, by caller.
#[derive(Debug, Default)]
pub struct Streams {
    open: Arc<Mutex<HashMap<Uuid, usize>>>,
}

/// One open stream; dropping it closes it.
#[derive(Debug)]
pub struct Slot {
    open: Arc<Mutex<HashMap<Uuid, usize>>>,
    caller: Uuid,
}

impl Streams {
    /// A slot for one more stream of `caller`, or RATE_LIMITED.
    pub fn open(&self, caller: Uuid) -> Result<Slot, Status> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let all: usize = open.values().sum();
        let mine = open.get(&caller).copied().unwrap_or(0);
        if mine >= PER_CALLER || all >= IN_ALL {
            return Err(errors::rate_limited("streams", Duration::from_secs(1)));
        }
        open.insert(caller, mine + 1);
        Ok(Slot {
            open: Arc::clone(&self.open),
            caller,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_four_streams_and_gets_one_back_when_one_ends() {
        let streams = Streams::default();
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut mine: Vec<Slot> = (0..PER_CALLER).map(|_| streams.open(me).unwrap()).collect();
        assert!(streams.open(me).is_err());
        assert!(streams.open(other).is_ok(), "others are not held back");
        mine.pop();
        assert!(streams.open(me).is_ok());
    }
}
