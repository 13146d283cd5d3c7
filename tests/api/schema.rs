//! Both migration sets must produce exactly the tables and columns `schema.rs` declares.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use fangzha::db::DbConn;

use crate::helpers::spawn_app;

/// (table → column → (type family, nullable)) parsed from schema.rs.
fn declared() -> BTreeMap<String, BTreeMap<String, (String, bool)>> {
    let src = include_str!("../../server/src/db/schema.rs");
    let mut out = BTreeMap::new();
    let mut table: Option<String> = None;
    for line in src.lines().map(str::trim) {
        if let Some(t) = table.as_ref() {
            if line == "}" {
                table = None;
            } else if let Some((col, ty)) = line.trim_end_matches(',').split_once(" -> ") {
                let nullable = ty.starts_with("Nullable<");
                let ty = ty.trim_start_matches("Nullable<").trim_end_matches('>');
                out.entry(t.clone())
                    .or_insert_with(BTreeMap::new)
                    .insert(col.to_owned(), (ty.to_owned(), nullable));
            }
        } else if line.ends_with(") {") && !line.starts_with("diesel") {
            table = line.split_once(' ').map(|(name, _)| name.to_owned());
        }
    }
    out
}

#[derive(QueryableByName, Debug)]
struct Col {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
}

fn family(db_type: &str) -> &'static str {
    let t = db_type.to_lowercase();
    if t.contains("bool") {
        "Bool"
    } else if t.contains("bigint") || t == "integer" || t.contains("int8") {
        "BigInt"
    } else if t.contains("text") || t.contains("char") {
        "Text"
    } else {
        "?"
    }
}

#[tokio::test]
async fn migrations_match_schema_rs() {
    let app = spawn_app().await;
    let declared = declared();
    assert!(declared.len() >= 6, "parsed {declared:?}");
    let mut conn = app.pool.get().unwrap();
    for (table, columns) in &declared {
        let actual: Vec<Col> = match &mut *conn {
            DbConn::Sqlite(c) => diesel::sql_query(format!(
                "SELECT name, type AS ty, \"notnull\" AS not_null FROM pragma_table_info('{table}')"
            ))
            .load(c)
            .unwrap(),
            DbConn::Pg(c) => diesel::sql_query(format!(
                "SELECT column_name::text AS name, data_type::text AS ty, \
                 CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS not_null \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}'"
            ))
            .load(c)
            .unwrap(),
        };
        assert!(!actual.is_empty(), "table {table} missing");
        let actual: BTreeMap<String, (String, bool)> = actual
            .into_iter()
            .map(|c| (c.name, (family(&c.ty).to_owned(), c.not_null == 0)))
            .collect();
        let mut expected = columns.clone();
        // SQLite reports an INTEGER PRIMARY KEY as nullable; it is the rowid and never null.
        if matches!(&*conn, DbConn::Sqlite(_)) {
            for (name, (_, nullable)) in expected.iter_mut() {
                if name == "id" && actual.get(name).is_some_and(|a| a.1) {
                    *nullable = true;
                }
            }
        }
        assert_eq!(actual, expected, "columns of {table}");
    }
}
