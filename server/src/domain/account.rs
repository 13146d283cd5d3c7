//! Roles and the rules for usernames and passwords.

use serde::{Deserialize, Serialize};

/// What a person may see and do (DOMAIN.md, "People").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Township admin (镇综治办): everything.
    Admin,
    /// Village cadre (村(居)干部): their village.
    Cadre,
    /// Grid worker (网格员): their grids.
    GridWorker,
    /// Police officer (辖区民警): the rental side of their areas.
    Police,
    /// Leadership, read-only (领导小组): figures, no personal data.
    Viewer,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Cadre,
        Role::GridWorker,
        Role::Police,
        Role::Viewer,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Cadre => "cadre",
            Role::GridWorker => "grid_worker",
            Role::Police => "police",
            Role::Viewer => "viewer",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The Chinese label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "镇综治办管理员",
            Role::Cadre => "村(居)干部",
            Role::GridWorker => "网格员",
            Role::Police => "辖区民警",
            Role::Viewer => "领导小组(只读)",
        }
    }
}

/// Why a username or password is refused: (code, Chinese message).
pub type RuleError = (&'static str, &'static str);

/// 3–32 characters of ASCII letters, digits, `.`, `_`, `-`; starts with a letter or digit.
/// Kept ASCII so it can be typed on any phone keyboard and shown in logs unambiguously.
pub fn check_username(username: &str) -> Result<(), RuleError> {
    let ok_len = (3..=32).contains(&username.len());
    let ok_chars = username
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    let ok_start = username
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err((
            "invalid_value",
            "用户名需为 3–32 位字母、数字或 . _ -，并以字母或数字开头",
        ))
    }
}

/// At least 8 characters, at most 128 (argon2 input stays bounded), not all the same class
/// of one repeated character.
pub fn check_password(password: &str) -> Result<(), RuleError> {
    let n = password.chars().count();
    if n < 8 {
        return Err(("invalid_value", "密码至少 8 位"));
    }
    if n > 128 {
        return Err(("invalid_value", "密码最多 128 位"));
    }
    let first = password.chars().next();
    if password.chars().all(|c| Some(c) == first) {
        return Err(("invalid_value", "密码过于简单，请勿使用重复字符"));
    }
    Ok(())
}

/// A display name: 1–50 characters after trimming, no control characters.
pub fn check_name(name: &str) -> Result<(), RuleError> {
    let n = name.trim().chars().count();
    if n == 0 || n > 50 || name.chars().any(char::is_control) {
        return Err(("invalid_value", "姓名需为 1–50 个字符"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn usernames() {
        assert!(check_username("wangli").is_ok());
        assert!(check_username("grid.01-a_b").is_ok());
        assert!(check_username("ab").is_err());
        assert!(check_username("_admin").is_err());
        assert!(check_username("王丽").is_err());
        assert!(check_username("a b c").is_err());
        assert!(check_username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn passwords() {
        assert!(check_password("correct horse").is_ok());
        assert!(check_password("short").is_err());
        assert!(check_password("aaaaaaaaaa").is_err());
        assert!(check_password(&"ab".repeat(65)).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("王丽").is_ok());
        assert!(check_name("   ").is_err());
        assert!(check_name("a\u{0007}b").is_err());
    }
}
