//! CSV: UTF-8 with a BOM so Excel in China opens it as UTF-8 rather than GBK.
//!
//! Two protections for people opening the file in Excel: a full ID number is written with a
//! leading tab, so Excel keeps it as text instead of rounding it to 15 digits; and a text
//! cell starting with `=`, `+`, `-` or `@` gets a leading `'`, so it is not run as a
//! formula (CSV injection).

use super::{Cell, Table};
use crate::error::ApiResult;

/// The file's bytes.
pub fn write(table: &Table) -> ApiResult<Vec<u8>> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(table.columns.iter().map(|c| c.header))
            .map_err(anyhow::Error::from)?;
        for row in &table.rows {
            w.write_record(row.iter().map(text))
                .map_err(anyhow::Error::from)?;
        }
        w.flush().map_err(anyhow::Error::from)?;
    }
    Ok(out)
}

fn text(cell: &Cell) -> String {
    match cell {
        Cell::Code(s) if s.len() > 11 && s.bytes().all(|b| b.is_ascii_digit() || b == b'X') => {
            format!("\t{s}")
        }
        Cell::Text(s) if s.starts_with(['=', '+', '-', '@']) => format!("'{s}"),
        other => other.text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_text_and_formulas_are_defused() {
        assert_eq!(
            text(&Cell::Code("11010519491231002X".into())),
            "\t11010519491231002X"
        );
        assert_eq!(
            text(&Cell::Code("1101**********002X".into())),
            "1101**********002X"
        );
        assert_eq!(text(&Cell::Text("=1+1".into())), "'=1+1");
        assert_eq!(text(&Cell::Bool(true)), "是");
    }
}
