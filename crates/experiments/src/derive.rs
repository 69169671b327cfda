//! The Exposure Notification derivations of one Temporary Exposure Key over consecutive intervals:
//! each interval's Rolling Proximity Identifier, and the Associated Encrypted Metadata of given
//! metadata.

use std::fmt;

use warnkit_protocol::crypto::{AemKey, Metadata, Rpi, RpiKey, Tek};

/// One interval's derivations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The ENIntervalNumber.
    pub enin: u32,
    /// Its Rolling Proximity Identifier.
    pub rpi: Rpi,
    /// The metadata encrypted for it, if metadata was given.
    pub aem: Option<[u8; 4]>,
}

/// The intervals asked for run past the largest interval number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastLastInterval;

impl fmt::Display for PastLastInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the intervals pass the largest interval number")
    }
}

impl std::error::Error for PastLastInterval {}

/// The derivations of `tek` for `count` intervals from `first`, computed as they are consumed (a
/// million intervals need not sit in memory). Refused before the first one when the range passes
/// the largest interval number.
pub fn derive(
    tek: &Tek,
    first: u32,
    count: u32,
    metadata: Option<Metadata>,
) -> Result<impl Iterator<Item = Derived>, PastLastInterval> {
    if count > 0 && first.checked_add(count - 1).is_none() {
        return Err(PastLastInterval);
    }
    let (rpik, aemk): (RpiKey, AemKey) = tek.derive_keys();
    Ok((0..count).map(move |i| {
        let enin = first + i;
        let rpi = rpik.rpi(enin);
        let aem = metadata.as_ref().map(|m| aemk.encrypt(&rpi, m));
        Derived { enin, rpi, aem }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_intervals_get_their_own_rpis_and_the_range_is_checked() {
        let tek = Tek([7; 16]);
        let all: Vec<Derived> = derive(&tek, 100, 3, None).unwrap().collect();
        assert_eq!(
            all.iter().map(|d| d.enin).collect::<Vec<_>>(),
            [100, 101, 102]
        );
        assert_eq!(all[1].rpi, tek.derive_keys().0.rpi(101));
        assert_ne!(all[0].rpi, all[1].rpi);
        assert!(all.iter().all(|d| d.aem.is_none()));
        let with = derive(&tek, 100, 1, Some(Metadata::decode([0x40, 0x08, 0, 0])))
            .unwrap()
            .next()
            .unwrap();
        assert!(with.aem.is_some());
        assert!(derive(&tek, u32::MAX, 2, None).is_err());
        assert_eq!(derive(&tek, u32::MAX, 1, None).unwrap().count(), 1);
    }
}
