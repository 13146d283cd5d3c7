//! GeoJSON: a FeatureCollection with one Point feature per record (longitude, latitude as
//! WGS-84/CGCS2000 degrees); records without a location get a null geometry, so the file
//! still lists every record. Properties are keyed by the Chinese headers.

use serde_json::{Map, Value, json};

use super::Table;
use crate::error::ApiResult;

/// The file's bytes.
pub fn write(table: &Table) -> ApiResult<Vec<u8>> {
    let features: Vec<Value> = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let properties: Map<String, Value> = table
                .columns
                .iter()
                .zip(row)
                .map(|(c, cell)| (c.header.to_owned(), cell.json()))
                .collect();
            let geometry = match table.points.get(i).copied().flatten() {
                Some((lng, lat)) => json!({"type": "Point", "coordinates": [lng, lat]}),
                None => Value::Null,
            };
            json!({
                "type": "Feature",
                "id": table.ids.get(i),
                "geometry": geometry,
                "properties": properties,
            })
        })
        .collect();
    let doc = json!({"type": "FeatureCollection", "name": table.title, "features": features});
    Ok(serde_json::to_vec(&doc).map_err(anyhow::Error::from)?)
}
