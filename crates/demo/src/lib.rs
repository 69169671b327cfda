//! warnkit's demo: N simulated phones live D days against the real backend services. Households,
//! workplaces and buses bring people together, some test positive (a lab posts the result) and upload
//! their keys, distribution runs every simulated hour, every phone downloads, matches and scores; the
//! summary compares who was warned with who was really exposed. With several countries every country
//! gets its own backend, a federation gateway joins them, and travellers carry exposures across borders.
//!
//! One [`simulate`] runs every case: one country is a run of several with one land and no gateway. It
//! prints nothing; what it has to tell while it runs goes to an [`Observer`], and its figures come back
//! as a [`CountriesSummary`], with the run day by day ([`series`]) when asked. `warnkit demo` turns its
//! arguments into [`Options`] and prints the result.

mod backend;
mod clock;
mod federation;
mod globe;
mod land;
mod phones;
mod run;
pub mod series;
mod summary;
mod tally;
mod world;

pub use backend::{RemoteOptions, ServerSpec};
pub use federation::COMBINED_REGION;
pub use run::{simulate, Observer, Options, DRAIN_HOURS, HOME_COUNTRY};
pub use summary::{CountriesSummary, CountrySummary, CrossBorder, Summary};
