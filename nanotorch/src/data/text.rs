//! Reading the small text formats the embedded data sets use (scikit-learn's CSV files),
//! and gunzipping. Every problem becomes a [`DataError`] naming the data set and the line.
//!
//! These readers take bytes from outside the program, so they never panic and never allocate
//! more than the input justifies: a header's row count only sizes a buffer up to what the
//! bytes can hold, and [`gunzip`] refuses output over [`GUNZIP_LIMIT`]. They are fuzzed
//! (`fuzz/`, docs/reliability.md).

use std::io::Read;

use crate::element::Element;
use crate::shape::{Dyn, StaticDim};
use crate::tensor::Tensor;

use super::dataset::Classification;
use super::error::DataError;

/// The most bytes [`gunzip`] will produce: 1 GiB, twenty times the largest MNIST file
/// (`train-images-idx3-ubyte`, 47 MB). Gzip can compress runs of zeros about 1000 to 1, so
/// without a cap a 1 MB file could ask for a gigabyte.
pub const GUNZIP_LIMIT: u64 = 1 << 30;

/// Decompresses gzip data (one gzip member) in memory, refusing output over
/// [`GUNZIP_LIMIT`] bytes; `origin` names the data in errors.
///
/// Errors: [`DataError::Decompress`] for data that is not gzip or is cut short,
/// [`DataError::TooLarge`] for output over the limit.
///
/// ```
/// use nanotorch::data::{DataError, gunzip};
///
/// let err = gunzip("notes.gz", b"not gzip").unwrap_err();
/// assert!(matches!(err, DataError::Decompress { .. }));
/// ```
pub fn gunzip(origin: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    gunzip_with_limit(origin, bytes, GUNZIP_LIMIT)
}

/// [`gunzip`] with another output limit, in bytes: decompression stops, with
/// [`DataError::TooLarge`], as soon as the output passes `limit`, so no more than about
/// `limit` bytes are ever held.
pub fn gunzip_with_limit(origin: &str, bytes: &[u8], limit: u64) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| DataError::Decompress {
            origin: origin.to_string(),
            source,
        })?;
    if out.len() as u64 > limit {
        return Err(DataError::TooLarge {
            origin: origin.to_string(),
            what: "decompressed gzip data",
            limit,
        });
    }
    Ok(out)
}

fn parse_err(origin: &str, line: usize, message: impl Into<String>) -> DataError {
    DataError::Parse {
        origin: origin.to_string(),
        line,
        message: message.into(),
    }
}

fn utf8<'b>(origin: &str, bytes: &'b [u8]) -> Result<&'b str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| parse_err(origin, 1, format!("not UTF-8 text ({e})")))
}

/// Non-empty lines with their 1-based line numbers.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn parse_number(origin: &str, line: usize, field: &str) -> Result<f64, DataError> {
    let v: f64 = field
        .trim()
        .parse()
        .map_err(|_| parse_err(origin, line, format!("`{field}` is not a number")))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(parse_err(
            origin,
            line,
            format!("`{field}` is not a finite number"),
        ))
    }
}

fn parse_label(origin: &str, line: usize, field: &str) -> Result<usize, DataError> {
    field.trim().parse().map_err(|_| {
        parse_err(
            origin,
            line,
            format!("label `{field}` is not a whole number ≥ 0"),
        )
    })
}

/// Where the class names of a labelled CSV come from (for [`labelled_csv`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Header {
    /// scikit-learn's first line: `rows,features,name0,name1,...`.
    SklearnCounts,
    /// No header line; these are the class names.
    Names(Vec<String>),
}

/// Reads CSV rows of `F` numbers followed by an integer label in `0..classes`, from the bytes
/// of a UTF-8 file (scikit-learn's layout); `origin` names the data in errors. Blank lines are
/// skipped; every number must be finite.
///
/// Errors: [`DataError::Parse`] with the line number for any line that does not fit,
/// including a header whose feature count is not `F`'s or whose row count is not the file's.
///
/// ```
/// use nanotorch::data::{CsvHeader, labelled_csv};
/// use nanotorch::shape::U2;
///
/// let csv = b"2,2,no,yes\n1.5,2,0\n3,4,1\n";
/// let data = labelled_csv::<U2, f32>("example.csv", csv, CsvHeader::SklearnCounts)?;
/// assert_eq!(data.labels(), &[0, 1]);
/// # Ok::<(), nanotorch::data::DataError>(())
/// ```
pub fn labelled_csv<F: StaticDim, E: Element>(
    origin: &str,
    bytes: &[u8],
    header: Header,
) -> Result<Classification<F, E>, DataError> {
    let text = utf8(origin, bytes)?;
    let mut rows = lines(text).peekable();
    let (expected_rows, class_names) = match header {
        Header::Names(names) => (None, names),
        Header::SklearnCounts => {
            let (line, head) = rows
                .next()
                .ok_or_else(|| parse_err(origin, 1, "empty file, expected a header line"))?;
            let fields: Vec<&str> = head.split(',').map(str::trim).collect();
            if fields.len() < 3 {
                return Err(parse_err(
                    origin,
                    line,
                    "header must be `rows,features,class names...`",
                ));
            }
            let n = parse_label(origin, line, fields[0])?;
            let f = parse_label(origin, line, fields[1])?;
            if f != F::SIZE {
                return Err(parse_err(
                    origin,
                    line,
                    format!("header says {f} features, the type expects {}", F::SIZE),
                ));
            }
            (Some(n), fields[2..].iter().map(|s| s.to_string()).collect())
        }
    };

    // The header's row count sizes the buffers only as far as the bytes could hold that many
    // rows (at least two bytes each): a header may claim anything.
    let rows_hint = expected_rows.unwrap_or(0).min(bytes.len() / 2);
    let mut features = Vec::with_capacity(rows_hint.saturating_mul(F::SIZE));
    let mut labels = Vec::with_capacity(rows_hint);
    for (line, row) in rows {
        let fields: Vec<&str> = row.split(',').collect();
        if fields.len() != F::SIZE + 1 {
            return Err(parse_err(
                origin,
                line,
                format!(
                    "expected {} fields ({} features and a label), found {}",
                    F::SIZE + 1,
                    F::SIZE,
                    fields.len()
                ),
            ));
        }
        for field in &fields[..F::SIZE] {
            features.push(E::cast(parse_number(origin, line, field)?));
        }
        let label = parse_label(origin, line, fields[F::SIZE])?;
        if label >= class_names.len() {
            return Err(parse_err(
                origin,
                line,
                format!("label {label} is outside 0..{}", class_names.len()),
            ));
        }
        labels.push(label);
    }
    if let Some(n) = expected_rows
        && n != labels.len()
    {
        return Err(parse_err(
            origin,
            1,
            format!("header says {n} rows, the file has {}", labels.len()),
        ));
    }
    let x = Tensor::from_shape_vec((Dyn(labels.len()), F::default()), features)?;
    Classification::new(x, labels, class_names)
}

/// Reads rows of exactly `F` numbers separated by `sep` (or by any whitespace if `sep` is
/// `None`) from the bytes of a UTF-8 file; `origin` names the data in errors. Blank lines are
/// skipped; every number must be finite.
///
/// Errors: [`DataError::Parse`] with the line number for a line of another width or a field
/// that is not a finite number.
///
/// ```
/// use nanotorch::data::number_table;
/// use nanotorch::shape::U2;
///
/// let t = number_table::<U2, f64>("table.txt", b"1 2\n3 4\n", None)?;
/// assert_eq!(t.dims(), &[2, 2]);
/// # Ok::<(), nanotorch::data::DataError>(())
/// ```
pub fn number_table<F: StaticDim, E: Element>(
    origin: &str,
    bytes: &[u8],
    sep: Option<char>,
) -> Result<Tensor<(Dyn, F), E>, DataError> {
    let text = utf8(origin, bytes)?;
    let mut values = Vec::new();
    let mut n = 0;
    for (line, row) in lines(text) {
        let fields: Vec<&str> = match sep {
            Some(c) => row.split(c).collect(),
            None => row.split_whitespace().collect(),
        };
        if fields.len() != F::SIZE {
            return Err(parse_err(
                origin,
                line,
                format!("expected {} numbers, found {}", F::SIZE, fields.len()),
            ));
        }
        for field in fields {
            values.push(E::cast(parse_number(origin, line, field)?));
        }
        n += 1;
    }
    Ok(Tensor::from_shape_vec((Dyn(n), F::default()), values)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{U1, U2};

    fn names() -> Header {
        Header::Names(vec!["a".into(), "b".into()])
    }

    #[test]
    fn reads_a_labelled_csv_with_an_sklearn_header() {
        let csv = b"2,2,no,yes\n1.5,2,0\n3,4e1,1\n";
        let d = labelled_csv::<U2, f64>("t", csv, Header::SklearnCounts).unwrap();
        assert_eq!(d.features().as_slice(), &[1.5, 2.0, 3.0, 40.0]);
        assert_eq!(d.labels(), &[0, 1]);
        assert_eq!(d.class_names(), &["no".to_string(), "yes".to_string()]);
    }

    #[test]
    fn reports_the_line_of_a_bad_field() {
        let err = labelled_csv::<U2, f32>("t", b"1,2,0\n1,x,1\n", names()).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("`x` is not a number"), "{err}");
        let err = labelled_csv::<U2, f32>("t", b"1,2,0\n1,2\n", names()).unwrap_err();
        assert!(err.to_string().contains("expected 3 fields"), "{err}");
        let err = labelled_csv::<U2, f32>("t", b"1,2,5\n", names()).unwrap_err();
        assert!(err.to_string().contains("label 5 is outside 0..2"), "{err}");
        let err = labelled_csv::<U2, f32>("t", b"1,inf,0\n", names()).unwrap_err();
        assert!(err.to_string().contains("not a finite number"), "{err}");
    }

    #[test]
    fn checks_the_header_against_the_type_and_the_rows() {
        let err =
            labelled_csv::<U2, f32>("t", b"1,3,a,b\n1,2,3,0\n", Header::SklearnCounts).unwrap_err();
        assert!(
            err.to_string()
                .contains("header says 3 features, the type expects 2"),
            "{err}"
        );
        let err =
            labelled_csv::<U2, f32>("t", b"3,2,a,b\n1,2,0\n", Header::SklearnCounts).unwrap_err();
        assert!(
            err.to_string()
                .contains("header says 3 rows, the file has 1"),
            "{err}"
        );
    }

    #[test]
    fn reads_whitespace_tables_and_rejects_ragged_rows() {
        let t = number_table::<U2, f64>("t", b"1 2\n 3\t4 \n\n", None).unwrap();
        assert_eq!(t.dims(), &[2, 2]);
        assert_eq!(t.as_slice(), &[1., 2., 3., 4.]);
        let err = number_table::<U1, f64>("t", b"1\n2 3\n", None).unwrap_err();
        assert!(matches!(err, DataError::Parse { line: 2, .. }), "{err}");
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzip_refuses_output_over_the_limit() {
        let bomb = gzip(&vec![0; 1 << 20]);
        assert!(bomb.len() < 2048, "{} bytes", bomb.len());
        let err = gunzip_with_limit("bomb.gz", &bomb, 1 << 16).unwrap_err();
        assert!(
            matches!(err, DataError::TooLarge { limit: 65536, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("expected at most 65536 bytes, found more"),
            "{err}"
        );
        // Exactly at the limit is fine.
        assert_eq!(
            gunzip_with_limit("ok.gz", &bomb, 1 << 20).unwrap().len(),
            1 << 20
        );
    }

    #[test]
    fn a_header_claiming_huge_row_counts_allocates_nothing_for_them() {
        let csv = b"18446744073709551615,2,a,b\n1,2,0\n";
        let err = labelled_csv::<U2, f32>("t", csv, Header::SklearnCounts).unwrap_err();
        assert!(
            err.to_string()
                .contains("header says 18446744073709551615 rows, the file has 1"),
            "{err}"
        );
    }

    #[test]
    fn gunzip_reports_corrupt_data() {
        let err = gunzip("broken.gz", b"\x1f\x8b\x08\x00garbage").unwrap_err();
        assert!(matches!(err, DataError::Decompress { .. }), "{err}");
        assert!(
            err.to_string().starts_with("broken.gz: cannot decompress"),
            "{err}"
        );
    }
}
