//! Service views kept between changes: a list answered twice without a change in between is
//! built once, and its `Arc` lets the host reuse what it rendered from it.

use crate::model::ServiceKey;
use crate::registry::{new_map, Map};
use crate::request::ServiceView;
use smallvec::SmallVec;
use std::sync::Arc;

/// Most cached variants (cluster filter, health filter, cache time) of one service.
const VARIANTS_PER_SERVICE: usize = 8;

/// A cached variant: health filter, cache time, and the view (which holds its cluster filter).
type Variant = (bool, u64, Arc<ServiceView>);

/// Views by service and variant; a service's views are dropped whenever it changes. Only
/// views of services the registry holds are kept (their number is bounded by
/// `limits.max_services`), and all of them together within `limits.max_view_cache_bytes`.
#[derive(Debug)]
pub(crate) struct ViewCache {
    map: Map<ServiceKey, SmallVec<[Variant; 2]>>,
    bytes: usize,
    max_bytes: usize,
}

impl ViewCache {
    pub fn new(seed: u64, max_bytes: usize) -> Self {
        ViewCache {
            map: new_map(seed),
            bytes: 0,
            max_bytes,
        }
    }

    pub fn get(
        &self,
        service: &ServiceKey,
        clusters: &str,
        healthy_only: bool,
        cache_ms: u64,
    ) -> Option<Arc<ServiceView>> {
        self.map
            .get(service)?
            .iter()
            .find(|v| v.2.clusters == clusters && v.0 == healthy_only && v.1 == cache_ms)
            .map(|v| v.2.clone())
    }

    /// Keeps `view` (of a service the registry holds) for the next identical list.
    pub fn put(&mut self, view: Arc<ServiceView>, healthy_only: bool, cache_ms: u64) {
        let size = view_bytes(&view);
        if size > self.max_bytes {
            return;
        }
        if self.bytes + size > self.max_bytes {
            // Lists of more views than the budget holds: start over.
            self.map.clear();
            self.bytes = 0;
        }
        let variants = self.map.entry_ref(&view.service).or_default();
        if variants.len() >= VARIANTS_PER_SERVICE {
            let (_, _, old) = variants.remove(0);
            self.bytes -= view_bytes(&old);
        }
        variants.push((healthy_only, cache_ms, view));
        self.bytes += size;
    }

    pub fn invalidate(&mut self, service: &ServiceKey) {
        if let Some(variants) = self.map.remove(service) {
            self.bytes -= variants.iter().map(|v| view_bytes(&v.2)).sum::<usize>();
        }
    }

    /// Views held (every variant of every service).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.values().map(|v| v.len()).sum()
    }

    /// Bytes the views held take, as [`view_bytes`] counts them.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        debug_assert_eq!(
            self.bytes,
            self.map
                .values()
                .flatten()
                .map(|v| view_bytes(&v.2))
                .sum::<usize>()
        );
        self.bytes
    }
}

/// What a view takes in memory, near enough to bound a cache of them: the structures and
/// every string they own.
pub(crate) fn view_bytes(v: &ServiceView) -> usize {
    use core::mem::size_of;
    let host = |h: &crate::request::HostView| {
        size_of::<crate::request::HostView>()
            + h.instance_id.len()
            + h.ip.len()
            + h.cluster.len()
            + h.metadata
                .iter()
                .map(|(k, v)| k.len() + v.len() + 3 * size_of::<usize>() * 2)
                .sum::<usize>()
    };
    size_of::<ServiceView>()
        + v.clusters.len()
        + v.service.namespace.len()
        + v.service.group.len()
        + v.service.name.len()
        + v.hosts.iter().map(host).sum::<usize>()
}
