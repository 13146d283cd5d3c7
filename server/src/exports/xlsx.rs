//! XLSX: one sheet named after the export, a bold header row frozen in place, column widths
//! from the table. Written in rust_xlsxwriter's constant-memory mode (rows streamed to a
//! temporary file), so 100,000 rows do not hold a cell tree in memory.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::{Cell, Table};
use crate::error::ApiResult;

/// The workbook's bytes.
pub fn write(table: &Table) -> ApiResult<Vec<u8>> {
    build(table).map_err(|e| anyhow::anyhow!("writing XLSX: {e}").into())
}

fn build(table: &Table) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet_with_constant_memory()?;
    sheet.set_name(table.title)?;
    for (c, column) in table.columns.iter().enumerate() {
        sheet.set_column_width(c as u16, column.width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (c, column) in table.columns.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, column.header, &bold)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Text(s) | Cell::Code(s) => {
                    sheet.write_string(r, c, s)?;
                }
                Cell::Number(n) => {
                    sheet.write_number(r, c, *n)?;
                }
                Cell::Bool(b) => {
                    sheet.write_string(r, c, if *b { "是" } else { "否" })?;
                }
            }
        }
    }
    if !table.rows.is_empty() {
        sheet.autofilter(
            0,
            0,
            table.rows.len() as u32,
            table.columns.len().saturating_sub(1) as u16,
        )?;
    }
    book.save_to_buffer()
}
