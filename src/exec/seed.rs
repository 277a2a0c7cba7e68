//! Seeds: read a CSV file, infer column types, and hand typed rows to the adapter.
//!
//! Parsing is strict: a ragged row, invalid UTF-8 or an unterminated quote is an error naming the
//! file and line, and nothing of that file is loaded. A seed is read twice and never held whole:
//! the first pass ([`scan`]) validates every row and infers the column types, the second
//! ([`SeedRows`]) hands rows to the adapter a batch at a time while it loads them aside, so memory
//! stays flat whatever the file's size. A large file is read once: its load starts from the
//! types of its first rows and does the first pass's checks as it streams (see [`run`]).

use crate::adapter::RowSource;
use crate::adapter::sql::SeedType;
use crate::error::{Diagnostic, Error, ErrorKind, Location, Result};
use crate::project::Config;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// What the first pass over a seed file found.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedScan {
    /// Column names from the header.
    pub columns: Vec<String>,
    /// Inferred type of each column.
    pub types: Vec<SeedType>,
    /// `column_types` overrides (column → SQL type), which win over inference.
    pub overrides: BTreeMap<String, String>,
    /// The field delimiter.
    pub delimiter: u8,
    /// Data rows.
    pub rows: u64,
    /// The first lines (up to 5) of rows with fewer fields than the header, padded with NULLs
    /// as dbt does.
    pub short_rows: Vec<usize>,
    /// How many rows were short.
    pub short_count: usize,
}

/// A parsed seed file, held in memory (for tests and small files).
#[derive(Debug, Clone, PartialEq)]
pub struct SeedData {
    /// What the first pass found.
    pub scan: SeedScan,
    /// Rows; empty fields are NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

/// Parses seed `bytes` from `file` with the seed's config (`delimiter`, `column_types`).
pub fn parse(file: &str, bytes: &[u8], config: &Config) -> Result<SeedData> {
    let scan = scan(file, &|| Ok(bytes), config)?;
    let mut reader = SeedRows::new(file, bytes, &scan, &[]);
    let mut rows = Vec::new();
    loop {
        let batch = reader.next_batch(1000)?;
        if batch.is_empty() {
            break;
        }
        rows.extend(batch);
    }
    Ok(SeedData { scan, rows })
}

fn csv_reader<R: Read>(input: R, delimiter: u8) -> csv::Reader<R> {
    // The csv reader buffers its input and drops a UTF-8 byte-order mark.
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(input)
}

/// The whole file's bytes, read again only to report an error (`Vec::new()` when it cannot be
/// read).
type FileBytes<'a> = &'a dyn Fn() -> Vec<u8>;

/// The file's text as an error quotes it: lossy UTF-8 without a byte-order mark.
fn error_text(bytes: FileBytes) -> String {
    let text = String::from_utf8_lossy(&bytes()).into_owned();
    match text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => text,
    }
}

const FIX_ROW: &str =
    "fix the row (quote fields that contain the delimiter); nothing of this seed was loaded";

/// How many rows a load reads to guess a large seed's types before it starts streaming; the
/// load checks every row as it streams and starts again if the guess was wrong.
const GUESS_ROWS: u64 = 20_000;

/// The first pass over a seed: checks every row (a bad file is an error naming its line, and
/// nothing is loaded), infers each column's type, and counts rows, holding one row at a time.
/// `open` gives the file's bytes from the start (it is called again only to quote an error's
/// line).
pub fn scan<R: Read>(
    file: &str,
    open: &dyn Fn() -> std::io::Result<R>,
    config: &Config,
) -> Result<SeedScan> {
    Ok(scan_rows(file, open, config, None)?.0)
}

/// [`scan`], stopping after `limit` rows when one is given: the scan of the rows read, and
/// whether they were the whole file.
fn scan_rows<R: Read>(
    file: &str,
    open: &dyn Fn() -> std::io::Result<R>,
    config: &Config,
    limit: Option<u64>,
) -> Result<(SeedScan, bool)> {
    let delimiter = config.seed_delimiter(file)?;
    let input = open().map_err(|e| io_error(file, e))?;
    let mut reader = csv_reader(QuoteWatch::new(input), delimiter);
    let bytes = || -> Vec<u8> {
        let mut bytes = Vec::new();
        if let Ok(mut r) = open() {
            let _ = r.read_to_end(&mut bytes);
        }
        bytes
    };
    let mut check = Check::header(file, &mut reader, &bytes)?;
    let mut record = csv::StringRecord::new();
    let mut complete = false;
    while limit.is_none_or(|n| check.rows < n) {
        if !reader
            .read_record(&mut record)
            .map_err(|e| check.csv_error(e, &bytes))?
        {
            complete = true;
            break;
        }
        check.row(&record, &bytes)?;
    }
    if complete {
        check.quotes_closed(&reader.get_ref().scan, &bytes)?;
    }
    Ok((check.result(delimiter, column_types(config)), complete))
}

/// The seed's `column_types` overrides: column → SQL type.
fn column_types(config: &Config) -> BTreeMap<String, String> {
    match config.get("column_types") {
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), crate::project::config::value_to_string(v)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn io_error(file: &str, e: std::io::Error) -> Error {
    Error::from(
        Diagnostic::new(ErrorKind::Io, format!("cannot read seed {file}: {e}"))
            .at(Location::file(file))
            .with_hint("check that the file exists and is readable"),
    )
}

/// The checks of the first pass and the type inference, a row at a time: [`scan`] runs them
/// alone, and a load whose types were guessed runs them on the rows it streams.
#[derive(Debug)]
struct Check {
    file: String,
    columns: Vec<String>,
    inference: Vec<Inference>,
    rows: u64,
    short_rows: Vec<usize>,
    short_count: usize,
}

impl Check {
    /// Reads and checks the header.
    fn header<R: Read>(file: &str, reader: &mut csv::Reader<R>, bytes: FileBytes) -> Result<Check> {
        let mut check = Check {
            file: file.to_string(),
            columns: Vec::new(),
            inference: Vec::new(),
            rows: 0,
            short_rows: Vec::new(),
            short_count: 0,
        };
        let header = reader
            .headers()
            .map_err(|e| check.csv_error(e, bytes))?
            .clone();
        let columns: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
        let at_header = || Location::at(file, &error_text(bytes), 1, 1);
        let refuse = |message: String, hint: &str| {
            Err(Error::from(
                Diagnostic::new(ErrorKind::Project, message)
                    .at(at_header())
                    .with_hint(hint),
            ))
        };
        if columns.is_empty() || columns.iter().all(|c| c.is_empty()) {
            return refuse(
                format!("seed {file} has no header row"),
                "the first line must name the columns",
            );
        }
        for (i, c) in columns.iter().enumerate() {
            if c.is_empty() {
                return refuse(
                    format!("seed {file}: column {} has an empty name", i + 1),
                    "name every column in the header",
                );
            }
            if columns[..i].contains(c) {
                return refuse(
                    format!("seed {file}: column `{c}` appears twice in the header"),
                    "rename one of the columns",
                );
            }
            if let Some(bad) = c.chars().find(|ch| ch.is_control()) {
                return refuse(
                    format!(
                        "seed {file}: column {} has a control character ({bad:?}) in its name",
                        i + 1
                    ),
                    "remove it from the header: a column name is printable text",
                );
            }
        }
        check.inference = vec![Inference::default(); columns.len()];
        check.columns = columns;
        Ok(check)
    }

    /// Checks one data row and adds its values to the inference.
    fn row(&mut self, record: &csv::StringRecord, bytes: FileBytes) -> Result<()> {
        let columns = self.columns.len();
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.len() > columns {
            return Err(Error::from(
                Diagnostic::new(
                    ErrorKind::Project,
                    format!(
                        "seed {}: row has {} fields but the header has {columns}",
                        self.file,
                        record.len(),
                    ),
                )
                .at(Location::at(&self.file, &error_text(bytes), line, 0))
                .with_hint(FIX_ROW),
            ));
        }
        if record.len() < columns {
            self.short_count += 1;
            if self.short_rows.len() < 5 {
                self.short_rows.push(line);
            }
        }
        for (i, v) in record.iter().enumerate() {
            if !v.is_empty() {
                self.inference[i].add(v);
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The error for what the csv reader refused, at its line.
    fn csv_error(&self, e: csv::Error, bytes: FileBytes) -> Error {
        let file = &self.file;
        let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("row has {len} fields but the header has {expected_len}"),
            csv::ErrorKind::Utf8 { .. } => {
                let bytes = bytes();
                let valid_up_to = std::str::from_utf8(&bytes)
                    .err()
                    .map_or(0, |e| e.valid_up_to());
                let valid = String::from_utf8_lossy(&bytes[..valid_up_to]).into_owned();
                return Error::from(
                    Diagnostic::new(
                        ErrorKind::Project,
                        format!("seed {file} is not valid UTF-8"),
                    )
                    .at(Location::at_offset(file, &valid, valid_up_to))
                    .with_hint("save the CSV as UTF-8; nothing of this seed was loaded"),
                );
            }
            csv::ErrorKind::Io(io) => {
                return io_error(file, std::io::Error::new(io.kind(), io.to_string()));
            }
            _ => e.to_string(),
        };
        Error::from(
            Diagnostic::new(ErrorKind::Project, format!("seed {file}: {message}"))
                .at(Location::at(file, &error_text(bytes), line, 0))
                .with_hint(FIX_ROW),
        )
    }

    /// Once the whole file is read: an unterminated quote makes the csv reader swallow the rest
    /// of the file into one field, so it is an error of its own.
    fn quotes_closed(&self, quotes: &QuoteScan, bytes: FileBytes) -> Result<()> {
        match quotes.unterminated() {
            Some(line) => Err(Error::from(
                Diagnostic::new(ErrorKind::Project, format!("seed {}: a quoted field is never closed", self.file))
                    .at(Location::at(&self.file, &error_text(bytes), line, 0))
                    .with_hint("close the quote (write \"\" for a literal quote inside a quoted field); nothing of this seed was loaded"),
            )),
            None => Ok(()),
        }
    }

    /// What the rows read so far found, with the file's delimiter and `column_types`.
    fn result(&self, delimiter: u8, overrides: BTreeMap<String, String>) -> SeedScan {
        SeedScan {
            types: self.inference.iter().map(Inference::result).collect(),
            columns: self.columns.clone(),
            overrides,
            delimiter,
            rows: self.rows,
            short_rows: self.short_rows.clone(),
            short_count: self.short_count,
        }
    }
}

/// The second pass: a seed's rows, read a batch at a time for the adapter to load. Fields
/// missing from short rows are NULL; columns flagged in `booleans` are written 1/0.
///
/// Made with [`SeedRows::checked`], it also does the first pass's work on the rows as it reads
/// them: the load of a large seed starts from types guessed on its first rows, and at the end
/// of the file the source fails (so the load is abandoned, nothing of it kept) unless every row
/// was sound and the types are the ones guessed. [`SeedRows::verdict`] then says which.
pub struct SeedRows<R: Read> {
    file: String,
    reader: csv::Reader<QuoteWatch<R>>,
    columns: usize,
    booleans: Vec<bool>,
    record: csv::StringRecord,
    checking: Option<Checking>,
}

/// What a checked load compares the file with, and what it found.
struct Checking {
    check: Option<Check>,
    guessed: SeedScan,
    bytes: Box<dyn Fn() -> Vec<u8> + Send>,
    verdict: Option<std::result::Result<SeedScan, Error>>,
}

impl Checking {
    /// A row the checks refused: the load stops, and the verdict says why.
    fn refuse(&mut self, e: Error) -> Error {
        self.check = None;
        self.verdict = Some(Err(e.clone()));
        e
    }
}

impl<R: Read> SeedRows<R> {
    /// Rows of `input` (the file from its start) as `scan` described them.
    pub fn new(file: &str, input: R, scan: &SeedScan, booleans: &[bool]) -> SeedRows<R> {
        SeedRows {
            file: file.to_string(),
            reader: csv_reader(QuoteWatch::new(input), scan.delimiter),
            columns: scan.columns.len(),
            booleans: booleans.to_vec(),
            record: csv::StringRecord::new(),
            checking: None,
        }
    }

    /// Rows of `input` loaded as `guessed` (a scan of the first rows) typed them, each row
    /// checked as it is read; `bytes` reads the whole file again to report an error.
    fn checked(
        file: &str,
        input: R,
        guessed: &SeedScan,
        booleans: &[bool],
        bytes: Box<dyn Fn() -> Vec<u8> + Send>,
    ) -> SeedRows<R> {
        let mut rows = SeedRows::new(file, input, guessed, booleans);
        let (check, verdict) = match Check::header(file, &mut rows.reader, &*bytes) {
            Ok(check) => (Some(check), None),
            Err(e) => (None, Some(Err(e))),
        };
        rows.checking = Some(Checking {
            check,
            guessed: guessed.clone(),
            bytes,
            verdict,
        });
        rows
    }

    /// For a checked load that read the whole file: the scan of every row, or why the file
    /// is refused. `None` when the load stopped before the end (the database refused a row).
    fn verdict(&mut self) -> Option<std::result::Result<SeedScan, Error>> {
        self.checking.as_mut()?.verdict.take()
    }

    fn changed_error(&self, e: Option<csv::Error>) -> Error {
        let detail = e.map(|e| format!(": {e}")).unwrap_or_default();
        Error::from(
            Diagnostic::new(
                ErrorKind::Io,
                format!("seed {} changed while it was loading{detail}", self.file),
            )
            .at(Location::file(self.file.clone()))
            .with_hint("run the seed again once the file is written; nothing of it was loaded"),
        )
    }

    /// The next row into `self.record`; `false` at the end of the file, when a checked load
    /// also settles its verdict.
    fn advance(&mut self) -> Result<bool> {
        let read = self.reader.read_record(&mut self.record);
        let Some(c) = self.checking.as_mut() else {
            // The first pass checked every row; an error here means the file changed since.
            let more = read.map_err(|e| self.changed_error(Some(e)))?;
            if more && self.record.len() > self.columns {
                return Err(self.changed_error(None));
            }
            return Ok(more);
        };
        let Some(check) = c.check.as_mut() else {
            // Read to the end already, or refused (the header, or a row asked for again).
            return match &c.verdict {
                Some(Ok(_)) => Ok(false),
                Some(Err(e)) => Err(e.clone()),
                None => Err(self.changed_error(None)),
            };
        };
        let more = match read {
            Ok(more) => more,
            Err(e) => {
                let e = check.csv_error(e, &*c.bytes);
                return Err(c.refuse(e));
            }
        };
        if more {
            if let Err(e) = check.row(&self.record, &*c.bytes) {
                return Err(c.refuse(e));
            }
            return Ok(true);
        }
        if let Err(e) = check.quotes_closed(&self.reader.get_ref().scan, &*c.bytes) {
            return Err(c.refuse(e));
        }
        let found = check.result(c.guessed.delimiter, c.guessed.overrides.clone());
        let same = found.types == c.guessed.types;
        c.check = None;
        c.verdict = Some(Ok(found));
        if same {
            Ok(false)
        } else {
            // Not an error a user sees: the caller loads again with the types found.
            Err(Error::from(Diagnostic::new(
                ErrorKind::Execution,
                format!(
                    "seed {}: the types guessed from its first rows do not hold",
                    self.file
                ),
            )))
        }
    }

    /// Field `i` of the current row as it is loaded: `None` for an empty field, 1/0 for a
    /// boolean column stored as a number.
    fn field(&self, i: usize) -> Option<&str> {
        let v = self.record.get(i).filter(|v| !v.is_empty())?;
        if self.booleans.get(i).copied().unwrap_or(false) {
            Some(if v.trim().eq_ignore_ascii_case("true") {
                "1"
            } else {
                "0"
            })
        } else {
            Some(v)
        }
    }
}

impl<R: Read + Send> RowSource for SeedRows<R> {
    fn next_batch(&mut self, max: usize) -> Result<Vec<Vec<Option<String>>>> {
        let mut out = Vec::with_capacity(max.min(10_000));
        while out.len() < max && self.advance()? {
            out.push(
                (0..self.columns)
                    .map(|i| self.field(i).map(str::to_string))
                    .collect(),
            );
        }
        Ok(out)
    }

    fn next_csv(&mut self, max: usize, out: &mut Vec<u8>) -> Result<usize> {
        let mut n = 0;
        while n < max && self.advance()? {
            for i in 0..self.columns {
                if i > 0 {
                    out.push(b',');
                }
                crate::adapter::copy_csv_field(out, self.field(i));
            }
            out.push(b'\n');
            n += 1;
        }
        Ok(n)
    }
}

/// Passes bytes through to the csv reader while watching for a quote that never closes.
struct QuoteWatch<R> {
    inner: R,
    scan: QuoteScan,
}

impl<R> QuoteWatch<R> {
    fn new(inner: R) -> QuoteWatch<R> {
        QuoteWatch {
            inner,
            scan: QuoteScan::default(),
        }
    }
}

impl<R: Read> Read for QuoteWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scan.feed(&buf[..n]);
        Ok(n)
    }
}

/// Finds the line where a quoted field opens and never closes, fed the file in pieces.
#[derive(Debug)]
struct QuoteScan {
    in_quotes: bool,
    /// A quote inside a quoted field: closing, unless another quote follows.
    quote_pending: bool,
    at_field_start: bool,
    opened_at: usize,
    line: usize,
    /// Bytes read so far, to skip a byte-order mark.
    seen: u64,
}

impl Default for QuoteScan {
    fn default() -> Self {
        QuoteScan {
            in_quotes: false,
            quote_pending: false,
            at_field_start: true,
            opened_at: 0,
            line: 1,
            seen: 0,
        }
    }
}

impl QuoteScan {
    fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.seen >= 3 && !self.quote_pending {
                // Only quotes and line ends change the state: skip to the next one. After other
                // bytes, a field starts where the last of them is a delimiter outside quotes.
                let rest = &bytes[i..];
                let skip = memchr::memchr2(b'"', b'\n', rest).unwrap_or(rest.len());
                if skip > 0 {
                    self.at_field_start = !self.in_quotes && is_delimiter(rest[skip - 1]);
                    self.seen += skip as u64;
                    i += skip;
                    continue;
                }
            }
            self.step(bytes[i]);
            i += 1;
        }
    }

    /// One byte of the file read in order.
    fn step(&mut self, b: u8) {
        let at = self.seen;
        self.seen += 1;
        if at < 3 && b == b"\xef\xbb\xbf"[at as usize] {
            return;
        }
        if self.quote_pending {
            self.quote_pending = false;
            if b == b'"' {
                // `""`: a literal quote, still inside the field.
                self.at_field_start = false;
                return;
            }
            self.in_quotes = false;
            self.at_field_start = false;
        }
        match b {
            b'"' if self.in_quotes => {
                self.quote_pending = true;
                return;
            }
            b'"' if self.at_field_start => {
                self.in_quotes = true;
                self.opened_at = self.line;
            }
            b'\n' => {
                self.line += 1;
                self.at_field_start = true;
                return;
            }
            _ => {}
        }
        self.at_field_start = !self.in_quotes && is_delimiter(b);
    }

    fn unterminated(&self) -> Option<usize> {
        (self.in_quotes && !self.quote_pending).then_some(self.opened_at)
    }
}

/// A byte that separates fields in the delimiters seeds may use.
fn is_delimiter(b: u8) -> bool {
    matches!(b, b',' | b';' | b'\t' | b'|')
}

/// A note for rows that were shorter than the header (loaded with NULLs), naming their lines.
fn short_rows_warning(file: &str, lines: &[usize], count: usize) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let shown: Vec<String> = lines.iter().take(5).map(usize::to_string).collect();
    let more = if count > shown.len() {
        format!(" and {} more", count - shown.len())
    } else {
        String::new()
    };
    Some(format!(
        "warning: {file} line{} {}{more} had fewer fields than the header; the missing fields loaded as NULL",
        if count == 1 { "" } else { "s" },
        shown.join(", ")
    ))
}

/// The types a column's values still fit, narrowed value by value.
#[derive(Debug, Clone)]
struct Inference {
    candidates: Vec<SeedType>,
    any: bool,
}

impl Default for Inference {
    fn default() -> Self {
        Inference {
            candidates: vec![
                SeedType::Integer,
                SeedType::BigInt,
                SeedType::Float,
                SeedType::Boolean,
                SeedType::Date,
                SeedType::Timestamp,
            ],
            any: false,
        }
    }
}

impl Inference {
    fn add(&mut self, v: &str) {
        self.any = true;
        if self.candidates.is_empty() {
            return;
        }
        let v = v.trim();
        self.candidates.retain(|t| fits(*t, v));
    }

    fn result(&self) -> SeedType {
        if !self.any {
            return SeedType::Text;
        }
        self.candidates.first().copied().unwrap_or(SeedType::Text)
    }
}

/// The narrowest type that fits every non-empty value.
pub fn infer<'a>(values: impl Iterator<Item = &'a str>) -> SeedType {
    let mut inference = Inference::default();
    for v in values {
        inference.add(v);
        if inference.candidates.is_empty() {
            return SeedType::Text;
        }
    }
    inference.result()
}

/// The date and timestamp formats seed values are tried against, parsed once: every value of
/// a column is tried while its type is unsettled.
struct Formats {
    date: Vec<chrono::format::Item<'static>>,
    timestamps: Vec<Vec<chrono::format::Item<'static>>>,
}

static FORMATS: std::sync::LazyLock<Formats> = std::sync::LazyLock::new(|| {
    let items = |f: &str| {
        chrono::format::StrftimeItems::new(f)
            .parse_to_owned()
            .unwrap_or_default()
    };
    Formats {
        date: items(DATE_FORMAT),
        timestamps: TIMESTAMP_FORMATS.iter().copied().map(items).collect(),
    }
});

/// The date format seed values are read in.
const DATE_FORMAT: &str = "%Y-%m-%d";

/// The timestamp formats seed values are read in, besides RFC 3339.
const TIMESTAMP_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
];

/// `v` read by `format`, as `parse_from_str` reads it.
fn parsed(v: &str, format: &[chrono::format::Item<'static>]) -> Option<chrono::format::Parsed> {
    let mut p = chrono::format::Parsed::new();
    chrono::format::parse(&mut p, v, format.iter()).ok()?;
    Some(p)
}

fn fits(t: SeedType, v: &str) -> bool {
    match t {
        SeedType::Integer => fits(SeedType::BigInt, v) && v.parse::<i32>().is_ok(),
        SeedType::BigInt => {
            let digits = v.strip_prefix('-').unwrap_or(v);
            // Leading zeros (zip codes, ids) stay text so they are not changed.
            !digits.is_empty()
                && digits.len() < 19
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !(digits.len() > 1 && digits.starts_with('0'))
        }
        SeedType::Float => {
            v.parse::<f64>().is_ok_and(f64::is_finite)
                && v.bytes().any(|b| b.is_ascii_digit())
                && !v.contains(['x', 'X', 'i', 'I', 'n', 'N'])
                && !(v.len() > 1 && v.starts_with('0') && !v.starts_with("0."))
        }
        SeedType::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
        SeedType::Date => parsed(v, &FORMATS.date).is_some_and(|p| p.to_naive_date().is_ok()),
        SeedType::Timestamp => {
            FORMATS
                .timestamps
                .iter()
                .any(|f| parsed(v, f).is_some_and(|p| p.to_naive_datetime_with_offset(0).is_ok()))
                || chrono::DateTime::parse_from_rfc3339(v).is_ok()
        }
        SeedType::Text => true,
    }
}

/// Loads a seed: a first pass checks the whole file and infers its types (so a bad file loads
/// nothing), then a second pass streams its rows into a table built aside and swapped in.
///
/// A file longer than [`GUESS_ROWS`] rows, in a seed without pre-hooks (which run once the file
/// is checked, as in dbt), is not read twice: its load starts from the types of its first rows
/// and checks every row as it streams. If a row is refused, the load is abandoned and the error
/// is the first pass's; if the types found differ from the guess, it loads again with them.
pub(super) async fn run(
    ctx: &super::Ctx,
    mn: &crate::compile::ManifestNode,
) -> std::result::Result<super::Outcome, super::StepError> {
    let file = mn.node.original_file_path.clone();
    let path = ctx.manifest.project.root.join(&file);
    let config = mn.config().clone();
    let guess = config.get_list("pre_hook").is_empty();
    let refused = |e: Error| (e.diagnostics()[0].clone(), Vec::new(), None);
    let (mut data, complete) = scan_blocking(&file, &path, &config, guess.then_some(GUESS_ROWS))
        .await
        .map_err(refused)?;
    let Some(rel) = mn.relation.clone() else {
        return Err((
            Diagnostic::new(ErrorKind::Execution, format!("seed {file} has no relation")),
            Vec::new(),
            None,
        ));
    };
    let mut statements = Vec::new();
    ctx.adapter
        .ensure_schema(&rel.schema)
        .await
        .map_err(|e| super::node_error(mn, e, Vec::new(), None))?;
    // Seeds run their pre-hook and post-hook around the load, as models do.
    super::materialize::run_hooks(ctx, mn, "pre_hook", &mut statements, "").await?;
    let load = Load {
        ctx,
        rel: &rel,
        file: &file,
        path: &path,
    };
    let (mut result, mut create, verdict) = load.rows(&data, !complete).await;
    if !complete {
        let verdict = match verdict {
            Some(v) => v,
            // The database refused a row before the end: the whole file is checked now, so
            // a bad file is reported as such, and a wrong guess loads again.
            None => scan_blocking(&file, &path, &config, None)
                .await
                .map(|(found, _)| found),
        };
        let found = verdict.map_err(refused)?;
        if found.types != data.types {
            (result, create, _) = load.rows(&found, false).await;
        }
        data = found;
    }
    statements.push(create);
    if let Some(w) = short_rows_warning(&file, &data.short_rows, data.short_count) {
        (ctx.events)(super::Event::Message(w));
    }
    match result {
        Ok(n) => {
            super::materialize::run_hooks(ctx, mn, "post_hook", &mut statements, "").await?;
            Ok(super::Outcome::success(
                format!("loaded {n} {}", if n == 1 { "row" } else { "rows" }),
                Some(n),
                None,
                statements,
            ))
        }
        Err(e) => {
            let e = match refused_row(&e, &path, &file, data.delimiter) {
                Some(at) => e.or_at(&at),
                None => e,
            };
            Err(super::node_error(mn, e, statements, None))
        }
    }
}

/// [`scan_rows`] on a blocking thread.
async fn scan_blocking(
    file: &str,
    path: &Path,
    config: &Config,
    limit: Option<u64>,
) -> Result<(SeedScan, bool)> {
    let (file, path, config) = (file.to_string(), path.to_path_buf(), config.clone());
    let task = file.clone();
    tokio::task::spawn_blocking(move || {
        let open = || std::fs::File::open(&path).map(std::io::BufReader::new);
        scan_rows(&file, &open, &config, limit)
    })
    .await
    .unwrap_or_else(|e| {
        Err(Error::from(Diagnostic::new(
            ErrorKind::Execution,
            format!("reading seed {task} stopped: {e}"),
        )))
    })
}

/// One seed's load into its relation.
struct Load<'a> {
    ctx: &'a super::Ctx,
    rel: &'a crate::template::Relation,
    file: &'a str,
    path: &'a Path,
}

/// What a load did: its rows or error, the `create table` it ran, and for a checked load the
/// verdict on the whole file when it read to the end.
type Loaded = (
    Result<u64>,
    String,
    Option<std::result::Result<SeedScan, Error>>,
);

impl Load<'_> {
    /// Loads the file with the types of `scan`; when `checked`, `scan` covers only the first
    /// rows and every row is checked as it streams.
    async fn rows(&self, scan: &SeedScan, checked: bool) -> Loaded {
        let (ctx, file) = (self.ctx, self.file);
        let sqlgen = ctx.adapter.sql();
        let columns: Vec<(String, String)> = scan
            .columns
            .iter()
            .zip(&scan.types)
            .map(|(c, t)| {
                let ty = scan
                    .overrides
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| sqlgen.seed_type(*t).to_string());
                (c.clone(), ty)
            })
            .collect();
        let create = sqlgen.create_table(self.rel, &columns);
        // Booleans are stored as 1/0 where the database has no boolean type.
        let booleans: Vec<bool> = if ctx.adapter.dialect() != crate::sql::Dialect::Postgres {
            scan.types.iter().map(|t| *t == SeedType::Boolean).collect()
        } else {
            Vec::new()
        };
        let input = match std::fs::File::open(self.path) {
            Ok(f) => std::io::BufReader::new(f),
            Err(e) => return (Err(io_error(file, e)), create, None),
        };
        let mut rows = if checked {
            let path = self.path.to_path_buf();
            let bytes = Box::new(move || std::fs::read(&path).unwrap_or_default());
            SeedRows::checked(file, input, scan, &booleans, bytes)
        } else {
            SeedRows::new(file, input, scan, &booleans)
        };
        let loaded = async {
            let existing = super::existing_kind(ctx, self.rel).await?;
            ctx.adapter
                .load_table(self.rel, &columns, &mut rows, existing)
                .await
        }
        .await;
        (loaded, create, rows.verdict())
    }
}

/// The file line of the row a database refused, when the database names the row (PostgreSQL's
/// `COPY s, line N` counts the lines it was sent from 1; MySQL's is a data row), so that a value the database rejects
/// is reported where it is in the file. Only read again when a load failed.
fn refused_row(e: &Error, path: &Path, file: &str, delimiter: u8) -> Option<Location> {
    let context = e.diagnostics()[0].database.as_ref()?.context.as_deref()?;
    // MySQL's row within its statement arrives as `data row N`, counted in records.
    let records = context.starts_with("data row ");
    let digits = context
        .split(if records { "data row " } else { "line " })
        .nth(1)?;
    let n: usize = digits[..digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len())]
        .parse()
        .ok()?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_path(path)
        .ok()?;
    // N counts the stream's physical lines: a row whose fields hold line breaks spans several.
    let mut record = csv::StringRecord::new();
    let mut sent = 0;
    while sent < n {
        if !reader.read_record(&mut record).ok()? {
            return None;
        }
        sent += 1 + if records {
            0
        } else {
            record
                .iter()
                .map(|f| f.matches('\n').count())
                .sum::<usize>()
        };
    }
    let line = record.position()?.line() as usize;
    let text = std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(path).ok()?))
        .nth(line.checked_sub(1)?)?
        .ok()?;
    Some(Location {
        file: file.into(),
        line,
        col: 0,
        source_line: Some(text.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quote scan one byte at a time, without skipping ahead.
    fn byte_by_byte(bytes: &[u8]) -> QuoteScan {
        let mut s = QuoteScan::default();
        for &b in bytes {
            s.step(b);
        }
        s
    }

    proptest::proptest! {
        #[test]
        fn the_quote_scan_skips_ahead_without_changing_what_it_finds(
            picks in proptest::collection::vec(0usize..9, 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let alphabet: &[&[u8]] =
                &[b"\"", b",", b"\n", b"a", b";", b"\xef\xbb\xbf", b"\t", b"x y", b"\"\""];
            let bytes: Vec<u8> = picks.iter().flat_map(|&i| alphabet[i].iter().copied()).collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut scan = QuoteScan::default();
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                scan.feed(&bytes[from..cut]);
                from = cut;
            }
            proptest::prop_assert_eq!(format!("{scan:?}"), format!("{:?}", byte_by_byte(&bytes)));
        }
    }

    #[test]
    fn dates_and_timestamps_are_read_as_chrono_reads_their_formats() {
        use chrono::{DateTime, NaiveDate, NaiveDateTime};
        let values = [
            "2024-01-05",
            "2024-1-5",
            "2024-02-30",
            "12024-01-05",
            "2024-01-05 10:00:00",
            "2024-01-05T10:00:00",
            "2024-01-05 10:00:00.123",
            "2024-01-05T23:59:59.5",
            "2024-01-05 25:00:00",
            "2024-01-05T10:00:00Z",
            "2024-01-05T10:00:00+02:00",
            "05/01/2024",
            "",
            "x",
        ];
        for v in values {
            let date = NaiveDate::parse_from_str(v, DATE_FORMAT).is_ok();
            let timestamp = TIMESTAMP_FORMATS
                .iter()
                .any(|f| NaiveDateTime::parse_from_str(v, f).is_ok())
                || DateTime::parse_from_rfc3339(v).is_ok();
            assert_eq!(fits(SeedType::Date, v), date, "date {v:?}");
            assert_eq!(fits(SeedType::Timestamp, v), timestamp, "timestamp {v:?}");
        }
        assert!(fits(SeedType::Date, "2024-01-05"));
        assert!(fits(SeedType::Timestamp, "2024-01-05 10:00:00.123"));
        assert!(!fits(SeedType::Date, "2024-02-30"));
    }

    #[test]
    fn infers_types() {
        let data = parse(
            "seeds/s.csv",
            b"id,price,ok,day,at,zip,name\n1,1.5,true,2024-01-02,2024-01-02 03:04:05,02134,a\n2,2,false,2024-02-29,2024-01-02T03:04:05,10001,\n",
            &Config::new(),
        )
        .unwrap();
        assert_eq!(
            data.scan.types,
            vec![
                SeedType::Integer,
                SeedType::Float,
                SeedType::Boolean,
                SeedType::Date,
                SeedType::Timestamp,
                SeedType::Text,
                SeedType::Text
            ]
        );
        assert_eq!(data.rows[1][6], None);
    }

    #[test]
    fn impossible_dates_are_text() {
        assert_eq!(infer(["11/31/2001"].into_iter()), SeedType::Text);
        assert_eq!(infer(["2001-11-31"].into_iter()), SeedType::Text);
    }

    #[test]
    fn long_row_is_an_error_on_its_own_line() {
        let e = parse("seeds/s.csv", b"a,b\n1,2\n3,4,5\n6,7\n", &Config::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "seeds/s.csv:3: seed seeds/s.csv: row has 3 fields but the header has 2 (fix the row (quote fields that contain the delimiter); nothing of this seed was loaded)"
        );
    }

    #[test]
    fn short_rows_load_nulls_and_are_named() {
        let d = parse("seeds/s.csv", b"a,b\n1,2\n3\n4,5\n", &Config::new()).unwrap();
        assert_eq!(d.rows[1], vec![Some("3".to_string()), None]);
        assert_eq!(d.scan.short_rows, vec![3]);
        assert_eq!(
            short_rows_warning("seeds/s.csv", &d.scan.short_rows, d.scan.short_count).unwrap(),
            "warning: seeds/s.csv line 3 had fewer fields than the header; the missing fields loaded as NULL"
        );
    }

    #[test]
    fn whole_numbers_are_integer_unless_they_need_64_bits() {
        assert_eq!(infer(["1", "-2147483648"].into_iter()), SeedType::Integer);
        assert_eq!(infer(["1", "2147483648"].into_iter()), SeedType::BigInt);
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let e = parse("seeds/s.csv", b"a,b\n1,\"open\n2,3\n", &Config::new()).unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
        assert_eq!(e.diagnostics()[0].location.as_ref().unwrap().line, 2);
    }

    #[test]
    fn invalid_utf8_is_reported_with_line() {
        let e = parse("seeds/s.csv", b"a,b\n1,2\n3,\xff\n", &Config::new()).unwrap_err();
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        assert_eq!(e.diagnostics()[0].location.as_ref().unwrap().line, 3);
    }

    #[test]
    fn hostile_values_are_kept_verbatim() {
        let data = parse(
            "seeds/s.csv",
            b"id,note\n1,\"Robert'); drop table students;--\"\n2,\"say \"\"hi\"\"; ok\"\n",
            &Config::new(),
        )
        .unwrap();
        assert_eq!(
            data.rows[0][1].as_deref(),
            Some("Robert'); drop table students;--")
        );
        assert_eq!(data.rows[1][1].as_deref(), Some("say \"hi\"; ok"));
    }

    #[test]
    fn semicolon_delimiter() {
        let mut c = Config::new();
        c.set("delimiter", serde_json::json!(";"));
        let data = parse("seeds/s.csv", b"a;b\n1;x,y\n", &c).unwrap();
        assert_eq!(data.rows[0][1].as_deref(), Some("x,y"));
    }
}
