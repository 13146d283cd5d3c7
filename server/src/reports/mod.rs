//! Township, village and grid figures, and the village ranking, read from the synced records.
//! No personal data leaves here: only counts.

pub mod figures;
pub mod poster;
pub mod ranking;

use std::collections::{BTreeMap, BTreeSet};

use crate::db::{DbConn, records};
use crate::domain::campaign::Campaign;
use crate::error::ApiResult;
use crate::sync::scopes::AreaTree;
use figures::Figures;

/// Figures of each scope in `scopes`, read one scope at a time.
pub fn per_scope(
    conn: &mut DbConn,
    scopes: &BTreeSet<String>,
    campaign: &Campaign,
    now_ms: i64,
) -> ApiResult<BTreeMap<String, Figures>> {
    let mut out = BTreeMap::new();
    for scope in scopes {
        let rows = records::of_scope(conn, scope)?;
        out.insert(scope.clone(), figures::of_scope(&rows, campaign, now_ms));
    }
    Ok(out)
}

/// The figures of an area: the sum over it and everything below it.
pub fn total(tree: &AreaTree, per_scope: &BTreeMap<String, Figures>, area: &String) -> Figures {
    let mut sum = Figures::default();
    for scope in tree.expand([area]) {
        if let Some(f) = per_scope.get(&scope) {
            sum.add(f);
        }
    }
    sum
}
