//! Area boundaries: GeoJSON Polygon or MultiPolygon in WGS 84 longitude/latitude.

use serde_json::Value;

/// Validates a boundary and returns the bare geometry (a Feature is unwrapped).
/// The error is a Chinese message naming what is wrong.
pub fn parse_boundary(value: &Value) -> Result<Value, String> {
    let geometry = match value.get("type").and_then(Value::as_str) {
        Some("Feature") => value.get("geometry").ok_or("Feature 缺少 geometry")?,
        _ => value,
    };
    let coords = geometry
        .get("coordinates")
        .ok_or("边界必须是 GeoJSON Polygon 或 MultiPolygon，缺少 coordinates")?;
    match geometry.get("type").and_then(Value::as_str) {
        Some("Polygon") => check_polygon(coords)?,
        Some("MultiPolygon") => {
            let polygons = coords
                .as_array()
                .filter(|p| !p.is_empty())
                .ok_or("MultiPolygon 至少需要一个多边形")?;
            for polygon in polygons {
                check_polygon(polygon)?;
            }
        }
        Some(other) => {
            return Err(format!(
                "边界类型必须是 Polygon 或 MultiPolygon，不能是 {other}"
            ));
        }
        None => return Err("边界缺少 type".into()),
    }
    Ok(serde_json::json!({"type": geometry["type"], "coordinates": coords}))
}

fn check_polygon(rings: &Value) -> Result<(), String> {
    let rings = rings
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or("多边形至少需要一个环")?;
    for ring in rings {
        let points = ring.as_array().ok_or("多边形的环必须是坐标数组")?;
        if points.len() < 4 {
            return Err("多边形的环至少需要 4 个坐标点（首尾相同）".into());
        }
        let mut parsed = Vec::with_capacity(points.len());
        for p in points {
            parsed.push(position(p)?);
        }
        if parsed.first() != parsed.last() {
            return Err("多边形的环必须闭合（首尾坐标相同）".into());
        }
    }
    Ok(())
}

fn position(p: &Value) -> Result<(f64, f64), String> {
    let arr = p
        .as_array()
        .filter(|a| a.len() == 2 || a.len() == 3)
        .ok_or("坐标点必须是 [经度, 纬度]")?;
    let lng = arr[0].as_f64().ok_or("经度必须是数字")?;
    let lat = arr[1].as_f64().ok_or("纬度必须是数字")?;
    if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
        return Err(format!("坐标超出范围：[{lng}, {lat}]（应为经度、纬度）"));
    }
    Ok((lng, lat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square() -> Value {
        json!({"type": "Polygon", "coordinates": [[[112.0, 28.0], [112.1, 28.0], [112.1, 28.1], [112.0, 28.0]]]})
    }

    #[test]
    fn accepts_polygon_multipolygon_and_feature() {
        assert!(parse_boundary(&square()).is_ok());
        let multi =
            json!({"type": "MultiPolygon", "coordinates": [square()["coordinates"].clone()]});
        assert!(parse_boundary(&multi).is_ok());
        let feature = json!({"type": "Feature", "properties": {}, "geometry": square()});
        assert_eq!(parse_boundary(&feature).unwrap(), square());
    }

    #[test]
    fn refuses_bad_geometry() {
        for bad in [
            json!({"type": "Point", "coordinates": [112.0, 28.0]}),
            json!({"type": "Polygon"}),
            json!({"type": "Polygon", "coordinates": []}),
            json!({"type": "Polygon", "coordinates": [[[112.0, 28.0], [112.1, 28.0], [112.0, 28.0]]]}),
            json!({"type": "Polygon", "coordinates": [[[112.0, 28.0], [112.1, 28.0], [112.1, 28.1], [112.0, 28.2]]]}),
            json!({"type": "Polygon", "coordinates": [[[200.0, 28.0], [112.1, 28.0], [112.1, 28.1], [200.0, 28.0]]]}),
            json!({"type": "Polygon", "coordinates": [[["a", 28.0], [112.1, 28.0], [112.1, 28.1], ["a", 28.0]]]}),
            json!("not an object"),
        ] {
            assert!(parse_boundary(&bad).is_err(), "accepted {bad}");
        }
    }
}
