//! Which scopes (areas) a user may read and write: an assignment to an area covers it and
//! every area below it; admins cover everything. Writes are also allowed to scopes held at
//! the mutation's HLC time, so offline work done before a reassignment is kept.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use crate::db::schema::role_assignments;
use crate::db::{DbConn, areas};
use crate::domain::account::Role;

/// The area tree, as parent → children.
pub struct AreaTree {
    children: HashMap<String, Vec<String>>,
    all: BTreeSet<String>,
}

impl AreaTree {
    /// Loads the whole tree (a township has hundreds of areas, not more).
    pub fn load(conn: &mut DbConn) -> QueryResult<AreaTree> {
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        let mut all = BTreeSet::new();
        for (id, parent) in areas::tree(conn)? {
            if let Some(p) = parent {
                children.entry(p).or_default().push(id.clone());
            }
            all.insert(id);
        }
        Ok(AreaTree { children, all })
    }

    /// The areas and everything below them.
    pub fn expand<'a>(&self, roots: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<&String> = roots.into_iter().collect();
        while let Some(id) = stack.pop() {
            if self.all.contains(id) && out.insert(id.clone()) {
                stack.extend(self.children.get(id).into_iter().flatten());
            }
        }
        out
    }

    /// Whether an area exists.
    pub fn contains(&self, id: &str) -> bool {
        self.all.contains(id)
    }
}

/// A user's access over time, loaded once per request.
pub struct Access {
    role: Role,
    now: BTreeSet<String>,
    /// (covered scopes, valid from, valid to) of every assignment, past and present.
    periods: Vec<(BTreeSet<String>, i64, Option<i64>)>,
}

impl Access {
    /// Loads the user's assignments and expands them over the tree.
    pub fn load(
        conn: &mut DbConn,
        user_id: &str,
        role: Role,
        tree: &AreaTree,
    ) -> QueryResult<Access> {
        let rows: Vec<(String, i64, Option<i64>)> = role_assignments::table
            .filter(role_assignments::user_id.eq(user_id))
            .select((
                role_assignments::area_id,
                role_assignments::valid_from_ms,
                role_assignments::valid_to_ms,
            ))
            .load(conn)?;
        let now = if role == Role::Admin {
            tree.all.clone()
        } else {
            tree.expand(rows.iter().filter(|r| r.2.is_none()).map(|r| &r.0))
        };
        let periods = rows
            .iter()
            .map(|(area, from, to)| (tree.expand([area]), *from, *to))
            .collect();
        Ok(Access { role, now, periods })
    }

    /// The scopes held now.
    pub fn current(&self) -> &BTreeSet<String> {
        &self.now
    }

    /// The user's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the user may write `scope` for a change made at `at_ms`: held now, or held
    /// then.
    pub fn may_write(&self, scope: &str, at_ms: i64) -> bool {
        self.now.contains(scope)
            || self.periods.iter().any(|(scopes, from, to)| {
                *from <= at_ms && to.is_none_or(|t| at_ms < t) && scopes.contains(scope)
            })
    }
}
