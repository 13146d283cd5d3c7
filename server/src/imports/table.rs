//! Reading an uploaded CSV or XLSX file into rows of text cells, with the row numbers a
//! person sees in Excel (the header is row 1), and mapping columns to fields by header.
//! Pure: no database, no actix.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader};

/// A file format the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text: UTF-8 (with or without BOM) or GB18030/GBK.
    Csv,
    /// An Excel workbook; the first sheet is read.
    Xlsx,
    /// A GeoJSON FeatureCollection (boundaries only).
    GeoJson,
}

impl Format {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::GeoJson => "geojson",
        }
    }

    /// Parses a `format` parameter or a file extension.
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" | "txt" => Some(Format::Csv),
            "xlsx" | "xlsm" | "xls" => Some(Format::Xlsx),
            "geojson" | "json" => Some(Format::GeoJson),
            _ => None,
        }
    }

    /// The format a `Content-Type` names, if any.
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let ct = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match ct.as_str() {
            "text/csv" | "application/csv" | "text/plain" => Some(Format::Csv),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.ms-excel" => Some(Format::Xlsx),
            "application/geo+json" | "application/json" => Some(Format::GeoJson),
            _ => None,
        }
    }

    /// Guesses from the first bytes: XLSX files are ZIP archives.
    pub fn sniff(bytes: &[u8]) -> Format {
        if bytes.starts_with(b"PK\x03\x04") {
            Format::Xlsx
        } else {
            let start = bytes
                .iter()
                .position(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
            match start.map(|i| bytes[i]) {
                Some(b'{') => Format::GeoJson,
                _ => Format::Csv,
            }
        }
    }
}

/// One data row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row number as Excel shows it (header = 1 when the header is on the first line).
    pub number: usize,
    /// Cell texts, trimmed, in column order (may be shorter than the header).
    pub cells: Vec<String>,
}

/// A file read into a header and data rows; blank rows are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The header cells as written in the file.
    pub headers: Vec<String>,
    /// Data rows below the header.
    pub rows: Vec<Row>,
}

/// Reads a CSV or XLSX file. The error is a Chinese message for the whole file.
pub fn read(bytes: &[u8], format: Format) -> Result<Table, String> {
    let grid = match format {
        Format::Csv => read_csv(bytes)?,
        Format::Xlsx => read_xlsx(bytes)?,
        Format::GeoJson => return Err("表格导入只接受 CSV 或 XLSX 文件".into()),
    };
    let mut rows = grid
        .into_iter()
        .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()));
    let (_, headers) = rows.next().ok_or("文件中没有内容（第一行应为表头）")?;
    Ok(Table {
        headers,
        rows: rows.map(|(number, cells)| Row { number, cells }).collect(),
    })
}

/// Decodes text: UTF-8 with or without BOM, else GB18030 (a superset of GBK, what Excel in
/// China writes for "CSV").
pub fn decode_text(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => {
            let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
            if had_errors {
                Err("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV".into())
            } else {
                Ok(text.into_owned())
            }
        }
    }
}

fn read_csv(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = decode_text(bytes)?;
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if !first_line.contains(',') && first_line.contains('\t') {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    // Excel numbers records, not physical lines: a quoted cell may span lines. The reader
    // skips blank lines, so a record's number is its first line less the line breaks
    // inside earlier records' cells.
    let breaks: Vec<usize> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let mut inner_breaks = 0u64;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("第 {} 行无法读取：{e}", i + 1))?;
        // The physical line the record starts on (the reader's own line count leaves out
        // the blank lines it skips).
        let line = record.position().map_or(i as u64 + 1, |p| {
            // The position may point at the blank lines skipped before the record.
            let mut at = p.byte() as usize;
            while matches!(text.as_bytes().get(at), Some(b'\r' | b'\n')) {
                at += 1;
            }
            breaks.partition_point(|&b| b < at) as u64 + 1
        });
        out.push((
            (line - inner_breaks.min(line - 1)) as usize,
            record.iter().map(|c| c.trim().to_owned()).collect(),
        ));
        inner_breaks += record
            .iter()
            .map(|c| c.matches('\n').count() as u64)
            .sum::<u64>();
    }
    Ok(out)
}

fn read_xlsx(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("无法打开 Excel 文件：{e}"))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or("Excel 文件中没有工作表")?
        .map_err(|e| format!("无法读取第一个工作表：{e}"))?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    // Cells left of the used range are empty; keep the columns aligned with Excel's.
    let pad = first_col as usize;
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            let mut row = vec![String::new(); pad];
            row.extend(cells.iter().map(cell_text));
            (first_row as usize + i + 1, row)
        })
        .collect())
}

/// A cell as text: whole numbers without a decimal point (phone numbers typed as numbers),
/// dates as `YYYY-MM-DD`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e17 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
        Data::DateTime(d) => {
            let serial = d.as_f64();
            // Excel's day 0 is 1899-12-30 (with its 1900 leap-year bug absorbed).
            let days = serial.floor() as i64 - 25_569;
            let (y, m, day) = crate::domain::calendar::civil_from_days(days);
            format!("{y:04}-{m:02}-{day:02}")
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Normalises a header for matching: no spaces, ASCII case folded, full-width brackets made
/// half-width, a trailing required-mark `*` dropped.
pub fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .trim_end_matches('*')
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Columns found for the known fields, and headers nobody asked for.
#[derive(Debug, Default)]
pub struct Columns {
    /// Field → column index.
    pub index: HashMap<&'static str, usize>,
    /// Field → the header as written in the file (for error messages).
    pub header: HashMap<&'static str, String>,
    /// Headers that map to no field (reported, otherwise ignored).
    pub ignored: Vec<String>,
    /// Headers that name a field already mapped by an earlier column.
    pub duplicates: Vec<String>,
}

impl Columns {
    /// Maps headers to fields: `aliases` lists, per field, the accepted headers (Chinese
    /// and English; compared after [`normalise_header`]).
    pub fn map(headers: &[String], aliases: &[(&'static str, &[&str])]) -> Columns {
        let mut cols = Columns::default();
        for (i, h) in headers.iter().enumerate() {
            let norm = normalise_header(h);
            if norm.is_empty() {
                continue;
            }
            let field = aliases
                .iter()
                .find(|(_, names)| names.iter().any(|n| normalise_header(n) == norm))
                .map(|(f, _)| *f);
            match field {
                Some(f) if cols.index.contains_key(f) => cols.duplicates.push(h.clone()),
                Some(f) => {
                    cols.index.insert(f, i);
                    cols.header.insert(f, h.trim().to_owned());
                }
                None => cols.ignored.push(h.trim().to_owned()),
            }
        }
        cols
    }

    /// The trimmed text of a field in a row; `None` when the column is absent or the cell
    /// empty.
    pub fn get<'r>(&self, row: &'r Row, field: &str) -> Option<&'r str> {
        let i = *self.index.get(field)?;
        row.cells
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Whether the file has a column for the field.
    pub fn has(&self, field: &str) -> bool {
        self.index.contains_key(field)
    }

    /// The header written in the file for a field (the field name when absent).
    pub fn name_of(&self, field: &str) -> String {
        self.header
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_owned())
    }
}

/// Parses a yes/no cell: 是/否, 有/无, 已/未, Y/N, true/false, 1/0, √/×.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "是" | "有" | "已" | "已注册" | "已安装" | "在家" | "y" | "yes" | "true" | "1" | "√"
        | "✓" | "对" => Some(true),
        "否" | "无" | "没有" | "未" | "未注册" | "未安装" | "不在家" | "n" | "no" | "false"
        | "0" | "×" | "✗" | "x" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_utf8_with_and_without_bom_and_gbk() {
        let text = "姓名,身份证号\n王丽,11010519491231002X\n\n张伟,\n\"多\n行\",\n李四,\n";
        let plain = read(text.as_bytes(), Format::Csv).unwrap();
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let with_bom = read(&bom, Format::Csv).unwrap();
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let gbk = read(&gbk, Format::Csv).unwrap();
        for t in [&plain, &with_bom, &gbk] {
            assert_eq!(t.headers, vec!["姓名", "身份证号"]);
            assert_eq!(t.rows.len(), 4);
            assert_eq!(
                t.rows[3].number, 6,
                "a quoted cell over two lines is one row"
            );
            assert_eq!(t.rows[0].number, 2);
            assert_eq!(t.rows[1].number, 4, "blank row 3 skipped, numbering kept");
            assert_eq!(t.rows[1].cells[0], "张伟");
        }
    }

    #[test]
    fn undecodable_text_is_refused() {
        assert!(read(&[0x81, 0x20, 0xff, 0xfe, 0x0a], Format::Csv).is_err());
    }

    #[test]
    fn xlsx_rows_keep_excel_numbers_and_whole_numbers_lose_the_point() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(1, 1, "姓名").unwrap();
        sheet.write_string(1, 2, "手机号").unwrap();
        sheet.write_string(2, 1, "王丽").unwrap();
        sheet.write_number(2, 2, 13812345678.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert_eq!(Format::sniff(&bytes), Format::Xlsx);
        let t = read(&bytes, Format::Xlsx).unwrap();
        assert_eq!(t.headers, vec!["", "姓名", "手机号"]);
        assert_eq!(t.rows[0].number, 3);
        assert_eq!(t.rows[0].cells, vec!["", "王丽", "13812345678"]);
    }

    #[test]
    fn headers_map_by_alias_with_chinese_brackets_and_spaces() {
        let headers: Vec<String> = ["户主姓名 ", "村（居）", "身份证号码*", "其他", "村"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cols = Columns::map(
            &headers,
            &[
                ("head_name", &["户主姓名", "户主"]),
                ("village", &["村(居)", "村"]),
                ("id_number", &["身份证号", "身份证号码"]),
            ],
        );
        assert_eq!(cols.index["head_name"], 0);
        assert_eq!(cols.index["village"], 1);
        assert_eq!(cols.index["id_number"], 2);
        assert_eq!(cols.ignored, vec!["其他"]);
        assert_eq!(cols.duplicates, vec!["村"]);
        assert_eq!(cols.name_of("village"), "村（居）");
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("是"), Some(true));
        assert_eq!(parse_bool("否"), Some(false));
        assert_eq!(parse_bool("Y"), Some(true));
        assert_eq!(parse_bool("也许"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(Format::parse("XLSX"), Some(Format::Xlsx));
        assert_eq!(
            Format::from_content_type("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(Format::sniff(b"\xEF\xBB\xBF{\"type\""), Format::GeoJson);
        assert_eq!(Format::sniff("姓名,住址".as_bytes()), Format::Csv);
    }
}
