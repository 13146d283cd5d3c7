//! Finding areas by what a file writes: an id or a name, a village's grid by name, the
//! grid whose boundary covers a point.

use serde_json::Value;

use crate::db::areas::AreaRow;
use crate::domain::geo;

/// The area tree as an import reads it.
pub struct AreaIndex {
    areas: Vec<AreaRow>,
    boundaries: Vec<Option<Value>>,
}

impl AreaIndex {
    /// Indexes these areas (every area of the township).
    pub fn new(areas: Vec<AreaRow>) -> AreaIndex {
        let boundaries = areas
            .iter()
            .map(|a| {
                a.boundary
                    .as_deref()
                    .and_then(|b| serde_json::from_str(b).ok())
            })
            .collect();
        AreaIndex { areas, boundaries }
    }

    /// An area by id.
    pub fn get(&self, id: &str) -> Option<&AreaRow> {
        self.areas.iter().find(|a| a.id == id)
    }

    /// Every area.
    pub fn all(&self) -> &[AreaRow] {
        &self.areas
    }

    /// An area of `level` by id or by name (optionally under `parent`). The error is a
    /// Chinese message.
    pub fn find(&self, text: &str, level: &str, parent: Option<&str>) -> Result<&AreaRow, String> {
        let text = text.trim();
        let label = match level {
            "village" => "村(居)",
            "grid" => "网格",
            _ => "区域",
        };
        if let Some(a) = self.get(text).filter(|a| a.level == level) {
            return match parent {
                Some(p) if a.parent_id.as_deref() != Some(p) => {
                    Err(format!("{label}「{}」不属于{}", a.name, self.name_of(p)))
                }
                _ => Ok(a),
            };
        }
        let matches: Vec<&AreaRow> = self
            .areas
            .iter()
            .filter(|a| a.level == level && a.name == text)
            .filter(|a| parent.is_none_or(|p| a.parent_id.as_deref() == Some(p)))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(match parent {
                Some(p) => format!("{}没有名为「{text}」的{label}", self.name_of(p)),
                None => format!("没有名为「{text}」的{label}"),
            }),
            _ => Err(format!(
                "有多个名为「{text}」的{label}，请改填区域编号或同时填写所属村(居)"
            )),
        }
    }

    /// The grid (under `village` when given) whose boundary covers the point.
    pub fn grid_at(&self, lng: f64, lat: f64, village: Option<&str>) -> Result<&AreaRow, String> {
        self.areas
            .iter()
            .zip(&self.boundaries)
            .filter(|(a, _)| a.level == "grid")
            .filter(|(a, _)| village.is_none_or(|v| a.parent_id.as_deref() == Some(v)))
            .find(|(_, b)| b.as_ref().is_some_and(|b| geo::covers(b, lng, lat)))
            .map(|(a, _)| a)
            .ok_or_else(|| format!("坐标（经度 {lng}，纬度 {lat}）不在任何网格的边界内"))
    }

    /// The name of an area (its id when unknown).
    pub fn name_of(&self, id: &str) -> String {
        self.get(id)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| id.to_owned())
    }
}
