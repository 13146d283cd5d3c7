//! Resident ID numbers (GB 11643) and mainland mobile numbers, and their masked forms.

/// Why an ID number is refused, in Chinese.
pub fn check_id_number(s: &str, today: (i32, u32, u32)) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.len() != 18 {
        return Err("身份证号必须是 18 位");
    }
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err("身份证号前 17 位必须是数字，最后一位是数字或大写 X");
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (num(6..10) as i32, num(10..12), num(12..14));
    if !(1900..=2100).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in(year, month)
    {
        return Err("身份证号中的出生日期不存在");
    }
    if (year, month, day) > today {
        return Err("身份证号中的出生日期晚于今天");
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    if b"10X98765432"[(sum % 11) as usize] != b[17] {
        return Err("身份证号校验位不正确，请核对");
    }
    Ok(())
}

/// The check character for the first 17 digits (for generating test and demo data).
pub fn id_check_char(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

fn days_in(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Mainland mobile numbers: `^1[3-9]\d{9}$`.
pub fn check_phone(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
    {
        Ok(())
    } else {
        Err("手机号必须是 11 位数字，以 13–19 开头")
    }
}

/// `4312**********123X`: the first four and last four characters of an ID number shown.
pub fn mask_id_number(s: &str) -> String {
    mask(s, 4, 4)
}

/// `138****5678`: the first three and last four digits of a phone number shown.
pub fn mask_phone(s: &str) -> String {
    mask(s, 3, 4)
}

fn mask(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (i32, u32, u32) = (2026, 12, 1);

    #[test]
    fn id_numbers() {
        // A well-known valid example (GB 11643 appendix style).
        assert_eq!(check_id_number("11010519491231002X", TODAY), Ok(()));
        assert_eq!(
            check_id_number("110105194912310021", TODAY).unwrap_err(),
            "身份证号校验位不正确，请核对"
        );
        assert!(check_id_number("11010519491231002", TODAY).is_err());
        assert!(check_id_number("11010519491231002x", TODAY).is_err());
        let feb30 = format!("43122419900230001{}", id_check_char("43122419900230001"));
        assert_eq!(
            check_id_number(&feb30, TODAY).unwrap_err(),
            "身份证号中的出生日期不存在"
        );
        let leap = format!("43122420000229001{}", id_check_char("43122420000229001"));
        assert_eq!(check_id_number(&leap, TODAY), Ok(()));
        let future = format!("43122420270101001{}", id_check_char("43122420270101001"));
        assert_eq!(
            check_id_number(&future, TODAY).unwrap_err(),
            "身份证号中的出生日期晚于今天"
        );
    }

    #[test]
    fn phones() {
        assert!(check_phone("13812345678").is_ok());
        assert!(check_phone("19912345678").is_ok());
        assert!(check_phone("12812345678").is_err());
        assert!(check_phone("1381234567").is_err());
        assert!(check_phone("+8613812345678").is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(mask_id_number("43122419900101123X"), "4312**********123X");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn calendar() {}
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const TODAY: (i32, u32, u32) = (2026, 12, 1);

    fn valid_id() -> impl Strategy<Value = String> {
        (
            110_000u32..660_000,
            1900i32..2026,
            1u32..=12,
            1u32..=28,
            0u32..1000,
        )
            .prop_map(|(area, y, m, d, seq)| {
                let first17 = format!("{area:06}{y:04}{m:02}{d:02}{seq:03}");
                format!("{first17}{}", id_check_char(&first17))
            })
    }

    proptest! {
        /// Generated numbers pass, and changing any one character to any other fails: the
        /// weights are non-zero mod 11, so a single change always moves the checksum.
        #[test]
        fn every_single_character_change_is_caught(id in valid_id(), pos in 0usize..18, repl in prop::sample::select(b"0123456789X".to_vec())) {
            prop_assert_eq!(check_id_number(&id, TODAY), Ok(()));
            let mut bytes = id.clone().into_bytes();
            prop_assume!(bytes[pos] != repl);
            bytes[pos] = repl;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(check_id_number(&changed, TODAY).is_err(), "{} accepted", changed);
        }
    }
}
