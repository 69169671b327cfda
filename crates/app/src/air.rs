//! What the phones of one simulation share about the radio and the published files, so that a
//! population of phones costs what its contacts cost rather than phones × published keys: who heard
//! whose keys, and which archives hold each key.
//!
//! A phone still matches with its own scan log and its own matcher; the air only tells it which
//! keys of an archive are worth matching: those of a sender it has heard. Any other key has none of
//! its RPIs in the phone's scan log, barring a collision of two random 128-bit values, so skipping
//! it changes nothing. Likewise a key counts as already downloaded when the phone holds another
//! archive that lists it, which is what a per-phone set of every key downloaded would say.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::schedule::{Downloaded, Fetch};

/// A phone's place in a shared simulation.
#[derive(Debug, Clone)]
pub struct Member {
    /// What the simulation's phones share.
    pub air: Arc<Air>,
    /// This phone's number among them.
    pub id: u32,
}

/// The shared record of a simulation: who heard which sender, and which archive holds which key.
#[derive(Debug, Default)]
pub struct Air {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Bumped on every change, so that what was worked out from an older state is worked out again.
    generation: u64,
    /// The sender of every TEK heard by anyone.
    owner: HashMap<[u8; 16], u32>,
    /// Per sender, everyone who heard them (each once).
    heard_by: HashMap<u32, Vec<u32>>,
    /// Archives by path, numbered.
    file_ids: HashMap<String, u32>,
    /// Region and file of every numbered archive.
    files: Vec<(String, Fetch)>,
    /// Per key, the archives that list it (only keys listed by more than one are kept).
    listed_in: HashMap<[u8; 16], Vec<u32>>,
    /// First archive that listed each key.
    first_file: HashMap<[u8; 16], u32>,
}

/// What one archive means for the phones, as of one state of the air.
#[derive(Debug, Default)]
pub(crate) struct ArchiveView {
    generation: u64,
    /// Per phone, the keys (indexes into the archive) of senders that phone heard.
    hits: HashMap<u32, Vec<u32>>,
    /// Keys also listed by other archives, with those archives.
    repeats: Vec<(u32, Vec<u32>)>,
}

impl Air {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `receiver` heard `sender` broadcasting from `tek`.
    pub fn heard(&self, sightings: impl IntoIterator<Item = (u32, [u8; 16], u32)>) {
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let mut changed = false;
        for (sender, tek, receiver) in sightings {
            changed |= s.owner.insert(tek, sender).is_none();
            let heard = s.heard_by.entry(sender).or_default();
            if !heard.contains(&receiver) {
                heard.push(receiver);
                changed = true;
            }
        }
        if changed {
            s.generation += 1;
        }
    }

    /// Registers the archive `fetch` of `region` at `path` with its keys (once per path). A region and
    /// a path name the service too: several countries' services publish the same paths.
    fn register(&self, path: &str, region: &str, fetch: &Fetch, keys: &[Option<[u8; 16]>]) {
        if self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .file_ids
            .contains_key(path)
        {
            return;
        }
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        if s.file_ids.contains_key(path) {
            return;
        }
        let id = s.files.len() as u32;
        s.files.push((region.to_owned(), fetch.clone()));
        s.file_ids.insert(path.to_owned(), id);
        for key in keys.iter().flatten() {
            match s.first_file.get(key).copied() {
                None => {
                    s.first_file.insert(*key, id);
                }
                Some(first) => {
                    let listed = s.listed_in.entry(*key).or_insert_with(|| vec![first]);
                    if !listed.contains(&id) {
                        listed.push(id);
                    }
                }
            }
        }
        s.generation += 1;
    }

    /// The view of an archive, made again only when the air changed since `cached` was made.
    pub(crate) fn view(
        &self,
        path: &str,
        region: &str,
        fetch: &Fetch,
        keys: &[Option<[u8; 16]>],
        cached: &std::sync::Mutex<Option<Arc<ArchiveView>>>,
    ) -> Arc<ArchiveView> {
        self.register(path, region, fetch, keys);
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut slot = cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = slot.as_ref().filter(|v| v.generation == s.generation) {
            return v.clone();
        }
        let this = s.file_ids.get(path).copied();
        let mut view = ArchiveView {
            generation: s.generation,
            ..ArchiveView::default()
        };
        for (k, key) in keys.iter().enumerate() {
            let Some(key) = key else { continue };
            if let Some(receivers) = s.owner.get(key).and_then(|o| s.heard_by.get(o)) {
                for r in receivers {
                    view.hits.entry(*r).or_default().push(k as u32);
                }
            }
            if let Some(files) = s.listed_in.get(key) {
                let others: Vec<u32> = files.iter().copied().filter(|f| Some(*f) != this).collect();
                if !others.is_empty() {
                    view.repeats.push((k as u32, others));
                }
            }
        }
        let view = Arc::new(view);
        *slot = Some(view.clone());
        view
    }

    /// Keys of `view` that a phone holding `downloaded` of `region` has from another archive.
    pub(crate) fn held(
        &self,
        view: &ArchiveView,
        region: &str,
        downloaded: &Downloaded,
    ) -> HashSet<u32> {
        if view.repeats.is_empty() {
            return HashSet::new();
        }
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        view.repeats
            .iter()
            .filter(|(_, files)| {
                files.iter().any(|f| {
                    s.files
                        .get(*f as usize)
                        .is_some_and(|(r, fetch)| r == region && downloaded.holds(fetch))
                })
            })
            .map(|(k, _)| *k)
            .collect()
    }
}

impl ArchiveView {
    /// The keys (archive indexes) of senders that phone `id` heard.
    pub(crate) fn hits(&self, id: u32) -> &[u32] {
        self.hits.get(&id).map_or(&[], Vec::as_slice)
    }
}
