//! Service views kept between changes: a list answered twice without a change in between is
//! built once, and its `Arc` lets the host reuse what it rendered from it.

use crate::model::ServiceKey;
use crate::registry::{new_map, Map};
use crate::request::ServiceView;
use smallvec::SmallVec;
use std::sync::Arc;

/// Most cached variants (cluster filter, health filter, cache time) of one service.
const VARIANTS_PER_SERVICE: usize = 8;

type Variant = (String, bool, u64, Arc<ServiceView>);

/// Views by service and variant; a service's views are dropped whenever it changes.
#[derive(Debug)]
pub(crate) struct ViewCache {
    map: Map<ServiceKey, SmallVec<[Variant; 2]>>,
    max_services: usize,
}

impl ViewCache {
    pub fn new(seed: u64, max_services: usize) -> Self {
        ViewCache {
            map: new_map(seed),
            max_services,
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
            .find(|v| v.0 == clusters && v.1 == healthy_only && v.2 == cache_ms)
            .map(|v| v.3.clone())
    }

    pub fn put(&mut self, view: Arc<ServiceView>, healthy_only: bool, cache_ms: u64) {
        if !self.map.contains_key(&view.service) && self.map.len() >= self.max_services {
            // Lists of more distinct services than the registry may hold: start over.
            self.map.clear();
        }
        let variants = self.map.entry_ref(&view.service).or_default();
        if variants.len() >= VARIANTS_PER_SERVICE {
            variants.remove(0);
        }
        variants.push((view.clusters.clone(), healthy_only, cache_ms, view));
    }

    pub fn invalidate(&mut self, service: &ServiceKey) {
        self.map.remove(service);
    }
}
