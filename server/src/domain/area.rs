//! The township → village → grid tree.

use serde::{Deserialize, Serialize};

/// Level of an area in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 镇/街道: the root.
    Township,
    /// 村(居): a village or community.
    Village,
    /// 网格: the unit a grid worker covers.
    Grid,
}

impl Level {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Township => "township",
            Level::Village => "village",
            Level::Grid => "grid",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Level> {
        [Level::Township, Level::Village, Level::Grid]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    /// The level a parent must have; `None` for the root.
    pub fn parent_level(self) -> Option<Level> {
        match self {
            Level::Township => None,
            Level::Village => Some(Level::Township),
            Level::Grid => Some(Level::Village),
        }
    }

    /// The Chinese label.
    pub fn label(self) -> &'static str {
        match self {
            Level::Township => "镇/街道",
            Level::Village => "村(居)",
            Level::Grid => "网格",
        }
    }
}

/// Checks where an area may hang: a township has no parent; a village's parent is a
/// township; a grid's parent is a village. `parent` is the parent's level if it exists.
pub fn check_parent(
    level: Level,
    parent_id: Option<&str>,
    parent: Option<Level>,
) -> Result<(), (&'static str, String)> {
    match (level.parent_level(), parent_id, parent) {
        (None, None, _) => Ok(()),
        (None, Some(_), _) => Err((
            "invalid_value",
            "镇/街道是最上级，不能有上级区域".to_owned(),
        )),
        (Some(want), None, _) => Err((
            "invalid_value",
            format!("{}必须指定上级{}", level.label(), want.label()),
        )),
        (Some(_), Some(_), None) => Err(("unknown_parent", "上级区域不存在".to_owned())),
        (Some(want), Some(_), Some(got)) if got == want => Ok(()),
        (Some(want), Some(_), Some(got)) => Err((
            "invalid_value",
            format!(
                "{}的上级必须是{}，而不是{}",
                level.label(),
                want.label(),
                got.label()
            ),
        )),
    }
}

/// Client-chosen area ids: 1–64 characters of ASCII letters, digits, `-` and `_`.
pub fn check_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert!(check_parent(Level::Township, None, None).is_ok());
        assert!(check_parent(Level::Township, Some("x"), Some(Level::Township)).is_err());
        assert!(check_parent(Level::Village, Some("t"), Some(Level::Township)).is_ok());
        assert_eq!(
            check_parent(Level::Village, Some("t"), None).unwrap_err().0,
            "unknown_parent"
        );
        assert!(check_parent(Level::Grid, Some("t"), Some(Level::Township)).is_err());
        assert!(check_parent(Level::Grid, None, None).is_err());
        assert!(check_parent(Level::Grid, Some("v"), Some(Level::Village)).is_ok());
    }

    #[test]
    fn ids() {
        assert!(check_id("grid-01_a"));
        assert!(!check_id(""));
        assert!(!check_id("../etc"));
        assert!(!check_id(&"a".repeat(65)));
    }
}
