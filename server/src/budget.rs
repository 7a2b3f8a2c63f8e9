//! Budgets kept per client address: how many of something rare (new
//! nickname ownerships, wrong passwords) one address may do, as a token
//! bucket each. The map is bounded, so many addresses cannot grow it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use lanchat_shared::{Rate, TokenBucket};

/// Addresses whose budget is remembered at once; more are refused until
/// some budgets have refilled, so the map stays bounded.
const TRACKED_ADDRESSES: usize = 4096;

/// Each address's budget at one rate.
#[derive(Debug)]
pub(crate) struct AddressBudget {
    rate: Rate,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl AddressBudget {
    /// Every address starts with a full budget at `rate`.
    pub(crate) fn new(rate: Rate) -> AddressBudget {
        AddressBudget {
            rate,
            buckets: Mutex::default(),
        }
    }

    /// Takes one from `address`'s budget, if it has one.
    pub(crate) fn try_take(&self, address: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= TRACKED_ADDRESSES && !buckets.contains_key(&address) {
            // A budget with a token to spare is as good as a new one.
            buckets.retain(|_, bucket| bucket.next_token_at(now) != Some(now));
            if buckets.len() >= TRACKED_ADDRESSES {
                return false;
            }
        }
        buckets
            .entry(address)
            .or_insert_with(|| TokenBucket::new(self.rate, now))
            .try_take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_budget_and_the_map_stays_bounded() {
        let budget = AddressBudget::new(Rate {
            per_sec: 0.0,
            burst: 2,
        });
        let now = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        assert!(budget.try_take(a, now) && budget.try_take(a, now));
        assert!(!budget.try_take(a, now), "spent");
        assert!(budget.try_take(IpAddr::from([10, 0, 0, 2]), now));
        for i in 0..TRACKED_ADDRESSES as u32 {
            let _ = budget.try_take(IpAddr::from((i + 100).to_be_bytes()), now);
        }
        let held = budget.buckets.lock().unwrap().len();
        assert!(held <= TRACKED_ADDRESSES, "{held}");
    }
}
