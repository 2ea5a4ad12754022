//! A folder plus a labels CSV: columns `file` and `label`, optionally `task`, `patient_id` and
//! `split` (`train`, `val`/`validation`, `test`). Header names are trimmed and compared without case.
//! Files are DICOM, PNG or JPEG (judged by content), relative to the CSV's folder; a multi-frame DICOM
//! file gives one sample per frame. Labels are integers or names (names are numbered in sorted order
//! per task). A row naming a missing or unreadable file is an error naming the row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{read_any_slices, DatasetError, LabeledDataset, Sample, Split};

/// One row of a labels CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    /// 1-based line in the file.
    pub line: usize,
    /// The file (resolved against the CSV's folder).
    pub file: PathBuf,
    /// The task (the CSV's file stem when it has no task column).
    pub task: String,
    /// The class as written.
    pub label: String,
    /// The patient, if the CSV names one.
    pub patient_id: Option<String>,
    /// The split, if the CSV gives one.
    pub split: Option<Split>,
}

/// Splits one CSV line into fields (double quotes group, `""` is a quote inside quotes); fields trimmed.
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Parses a split name.
pub fn parse_split(s: &str) -> Option<Split> {
    match s.trim().to_ascii_lowercase().as_str() {
        "train" | "training" => Some(Split::Train),
        "val" | "valid" | "validation" => Some(Split::Val),
        "test" | "testing" => Some(Split::Test),
        _ => None,
    }
}

/// Parses the text of a labels CSV at `path` (files resolved against its folder). `file_column` and
/// `label_column` are the header names looked for (`file`, `label` for the general layout).
pub fn parse_rows(
    text: &str,
    path: &Path,
    file_column: &str,
    label_column: &str,
    default_task: &str,
) -> Result<Vec<CsvRow>, DatasetError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());
    let (_, header) =
        lines.next().ok_or_else(|| DatasetError::Csv { path: path.into(), line: 1, reason: "empty file".into() })?;
    let cols: Vec<String> =
        split_csv_line(header.trim_start_matches('\u{feff}')).iter().map(|c| c.to_ascii_lowercase()).collect();
    let col = |n: &str| cols.iter().position(|c| c == n);
    let (Some(fc), Some(lc)) = (col(file_column), col(label_column)) else {
        return Err(DatasetError::Csv {
            path: path.into(),
            line: 1,
            reason: format!("the header `{header}` needs columns `{file_column}` and `{label_column}`"),
        });
    };
    let (tc, pc, sc) = (col("task"), col("patient_id"), col("split"));
    lines
        .map(|(line, text)| {
            let f = split_csv_line(text);
            let get = |c: usize| {
                f.get(c).filter(|v| !v.is_empty()).cloned().ok_or_else(|| DatasetError::Csv {
                    path: path.into(),
                    line,
                    reason: format!("column `{}` is empty in `{text}`", cols[c]),
                })
            };
            let file = PathBuf::from(get(fc)?);
            let split = match sc.and_then(|c| f.get(c)).filter(|v| !v.is_empty()) {
                None => None,
                Some(v) => Some(parse_split(v).ok_or_else(|| DatasetError::Csv {
                    path: path.into(),
                    line,
                    reason: format!("split `{v}` is not train, val or test"),
                })?),
            };
            Ok(CsvRow {
                line,
                file: if file.is_absolute() { file } else { base.join(file) },
                task: tc
                    .and_then(|c| f.get(c))
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| default_task.into()),
                label: get(lc)?,
                patient_id: pc.and_then(|c| f.get(c)).filter(|v| !v.is_empty()).cloned(),
                split,
            })
        })
        .collect()
}

/// The class names of a task's labels: integers `0..=max` when every label is a non-negative integer,
/// else the distinct names sorted.
pub fn class_names(labels: &[&str]) -> Vec<String> {
    let ints: Option<Vec<u32>> = labels.iter().map(|l| l.parse::<u32>().ok()).collect();
    match ints {
        Some(v) if !v.is_empty() => {
            let max = v.iter().copied().max().unwrap_or(0);
            (0..=max.max(1)).map(|k| k.to_string()).collect()
        }
        _ => {
            let mut n: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
            n.sort();
            n.dedup();
            n
        }
    }
}

/// Reads the rows' files on every core into labeled datasets, one per task. `origin` names the CSV.
pub fn load_rows(
    rows: &[CsvRow],
    origin: &Path,
    class_override: Option<&[String]>,
) -> Result<Vec<LabeledDataset>, DatasetError> {
    let mut by_task: BTreeMap<&str, Vec<&CsvRow>> = BTreeMap::new();
    for r in rows {
        by_task.entry(r.task.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (task, rows) in by_task {
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        let classes = match class_override {
            Some(c) => c.to_vec(),
            None => class_names(&labels),
        };
        let read: Vec<Result<Vec<Sample>, DatasetError>> = rows
            .par_iter()
            .map(|r| {
                let class = if class_override.is_some() {
                    r.label.parse::<usize>().ok().filter(|&k| k < classes.len())
                } else {
                    match r.label.parse::<u32>() {
                        Ok(k) if (k as usize) < classes.len() && classes[k as usize] == r.label => Some(k as usize),
                        _ => classes.iter().position(|c| *c == r.label),
                    }
                }
                .ok_or_else(|| DatasetError::Csv {
                    path: origin.into(),
                    line: r.line,
                    reason: format!("label `{}` is not one of {}", r.label, classes.join(", ")),
                })?;
                if !r.file.is_file() {
                    return Err(DatasetError::Csv {
                        path: origin.into(),
                        line: r.line,
                        reason: format!("the file {} does not exist", r.file.display()),
                    });
                }
                let (slices, pid) = read_any_slices(&r.file).map_err(|e| DatasetError::Row {
                    path: origin.into(),
                    line: r.line,
                    file: r.file.clone(),
                    source: Box::new(e),
                })?;
                let patient = r.patient_id.clone().or(pid).unwrap_or_else(|| r.file.display().to_string());
                Ok(slices
                    .into_iter()
                    .enumerate()
                    .map(|(i, slice)| Sample {
                        source: if i == 0 {
                            r.file.display().to_string()
                        } else {
                            format!("{}[frame {i}]", r.file.display())
                        },
                        slice,
                        label: class as u32,
                        patient_id: patient.clone(),
                        split: r.split,
                    })
                    .collect())
            })
            .collect();
        let mut samples = Vec::new();
        for r in read {
            samples.extend(r?);
        }
        let has_patient_ids =
            rows.iter().any(|r| r.patient_id.is_some()) || samples.iter().any(|s| !s.source.starts_with(&s.patient_id));
        let with_split = rows.iter().filter(|r| r.split.is_some()).count();
        if with_split != 0 && with_split != rows.len() {
            return Err(DatasetError::Csv {
                path: origin.into(),
                line: rows.iter().find(|r| r.split.is_none()).map_or(1, |r| r.line),
                reason: format!("task {task}: some rows give a split and some do not"),
            });
        }
        let ds = LabeledDataset {
            name: task.to_string(),
            description: format!(
                "labels CSV {} task {task}: {} slices from {} files, {} classes, {}",
                origin.display(),
                samples.len(),
                rows.len(),
                classes.len(),
                if with_split > 0 { "splits from the CSV" } else { "split by patient" }
            ),
            classes,
            samples,
            has_patient_ids,
        };
        ds.check_classes(origin)?;
        out.push(ds);
    }
    Ok(out)
}

/// Reads a labels CSV and the files it names.
pub fn load_labels_csv(path: impl AsRef<Path>) -> Result<Vec<LabeledDataset>, DatasetError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("csv").to_string();
    let rows = parse_rows(&text, path, "file", "label", &stem)?;
    if rows.is_empty() {
        return Err(DatasetError::Csv { path: path.to_path_buf(), line: 2, reason: "no data rows".into() });
    }
    load_rows(&rows, path, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_and_headers() {
        assert_eq!(split_csv_line(r#" a ,"b, c","d""e""#), vec!["a", "b, c", "d\"e"]);
        let rows =
            parse_rows("File , Label,split\nx.png, 1 ,train\n", Path::new("/d/l.csv"), "file", "label", "l").unwrap();
        assert_eq!(rows[0].file, PathBuf::from("/d/x.png"));
        assert_eq!(rows[0].label, "1");
        assert_eq!(rows[0].split, Some(Split::Train));
        let e = parse_rows("file,label,split\nx.png,1,later\n", Path::new("l.csv"), "file", "label", "l").unwrap_err();
        assert!(e.to_string().contains("line 2") && e.to_string().contains("later"), "{e}");
        assert!(parse_rows("path,class\n", Path::new("l.csv"), "file", "label", "l").is_err());
        assert_eq!(class_names(&["2", "0", "1"]), vec!["0", "1", "2"]);
        assert_eq!(class_names(&["b", "a", "b"]), vec!["a", "b"]);
    }
}
