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

/// Whether a validated boundary covers a point, boundary included (like geo's `Intersects`
/// for a point): inside the outer ring or on it, and not strictly inside a hole.
pub fn covers(geometry: &Value, lng: f64, lat: f64) -> bool {
    let polygons: Vec<&Value> = match geometry.get("type").and_then(Value::as_str) {
        Some("Polygon") => geometry.get("coordinates").into_iter().collect(),
        Some("MultiPolygon") => geometry
            .get("coordinates")
            .and_then(Value::as_array)
            .map(|p| p.iter().collect())
            .unwrap_or_default(),
        _ => return false,
    };
    polygons.into_iter().any(|rings| {
        let rings: Vec<Vec<(f64, f64)>> = rings
            .as_array()
            .map(|r| r.iter().map(ring_points).collect())
            .unwrap_or_default();
        match rings.split_first() {
            Some((outer, holes)) => {
                ring_relation(outer, lng, lat) != Relation::Outside
                    && holes
                        .iter()
                        .all(|h| ring_relation(h, lng, lat) != Relation::Inside)
            }
            None => false,
        }
    })
}

fn ring_points(ring: &Value) -> Vec<(f64, f64)> {
    ring.as_array()
        .map(|pts| pts.iter().filter_map(|p| position(p).ok()).collect())
        .unwrap_or_default()
}

#[derive(PartialEq)]
enum Relation {
    Inside,
    OnBoundary,
    Outside,
}

/// Ray casting, with points on an edge reported as on the boundary.
fn ring_relation(ring: &[(f64, f64)], x: f64, y: f64) -> Relation {
    let mut inside = false;
    for w in ring.windows(2) {
        let ((x1, y1), (x2, y2)) = (w[0], w[1]);
        let cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1);
        let within = x >= x1.min(x2) && x <= x1.max(x2) && y >= y1.min(y2) && y <= y1.max(y2);
        if cross.abs() <= 1e-12 && within {
            return Relation::OnBoundary;
        }
        if (y1 > y) != (y2 > y) && x < (x2 - x1) * (y - y1) / (y2 - y1) + x1 {
            inside = !inside;
        }
    }
    if inside {
        Relation::Inside
    } else {
        Relation::Outside
    }
}

#[cfg(test)]
mod covers_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inside_on_and_outside() {
        let square = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]]]});
        assert!(covers(&square, 1.0, 1.0), "inside");
        assert!(covers(&square, 2.0, 1.0), "on an edge");
        assert!(covers(&square, 0.0, 0.0), "on a corner");
        assert!(!covers(&square, 2.5, 1.0), "outside");
        assert!(!covers(&square, -0.000001, 1.0), "just outside");
        let holed = json!({"type": "Polygon", "coordinates": [
            [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            [[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0], [1.0, 1.0]]]});
        assert!(!covers(&holed, 2.0, 2.0), "in the hole");
        assert!(covers(&holed, 1.0, 2.0), "on the hole's edge");
        assert!(covers(&holed, 0.5, 0.5));
        let multi = json!({"type": "MultiPolygon", "coordinates": [square["coordinates"].clone(),
            [[[10.0, 10.0], [11.0, 10.0], [11.0, 11.0], [10.0, 10.0]]]]});
        assert!(covers(&multi, 10.9, 10.5));
        assert!(!covers(&multi, 5.0, 5.0));
    }
}
