//! A household's 金钟罩 registration status (DOMAIN.md, "Household registration status").

/// What the rule needs to know of one member living in the household.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberFacts {
    /// Has a smartphone.
    pub has_smartphone: bool,
    /// Registered on 金钟罩.
    pub registered: bool,
    /// Covered as a relative of another registrant.
    pub covered: bool,
}

/// `unregistered`, `partial`, `registered` or `exempt`.
pub fn status(members: &[MemberFacts]) -> &'static str {
    let holders = members.iter().filter(|m| m.has_smartphone).count();
    let registered = members
        .iter()
        .filter(|m| m.has_smartphone && m.registered)
        .count();
    let covered = members.iter().filter(|m| m.covered).count();
    if holders == 0 && covered > 0 {
        "exempt"
    } else if registered == 0 && covered == 0 {
        "unregistered"
    } else if registered + covered < holders {
        "partial"
    } else {
        "registered"
    }
}

/// The flag level of a status.
pub fn level(status: &str) -> &'static str {
    match status {
        "unregistered" => "red",
        "partial" => "yellow",
        _ => "green",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(has_smartphone: bool, registered: bool, covered: bool) -> MemberFacts {
        MemberFacts {
            has_smartphone,
            registered,
            covered,
        }
    }

    #[test]
    fn table_of_cases() {
        let cases: &[(&[MemberFacts], &str)] = &[
            (&[], "unregistered"),
            (&[m(true, false, false)], "unregistered"),
            (&[m(false, false, false)], "unregistered"),
            (&[m(true, true, false)], "registered"),
            (&[m(true, true, false), m(true, false, false)], "partial"),
            (&[m(true, true, false), m(true, false, true)], "registered"),
            (&[m(false, false, true), m(false, false, true)], "exempt"),
            // As DOMAIN.md counts it: registered + covered (1) is not below holders (1).
            (
                &[m(true, false, false), m(false, false, true)],
                "registered",
            ),
            (
                &[
                    m(true, false, false),
                    m(true, false, false),
                    m(false, false, true),
                ],
                "partial",
            ),
        ];
        for (members, want) in cases {
            assert_eq!(status(members), *want, "{members:?}");
        }
        assert_eq!(level("unregistered"), "red");
        assert_eq!(level("partial"), "yellow");
        assert_eq!(level("exempt"), "green");
    }
}
