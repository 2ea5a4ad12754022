//! `metrics.csv`: one row per record, columns fixed by the first record (or by the header of an existing
//! file when a run is resumed); missing values are left empty, non-finite values written as `NaN`/`inf`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// Appends rows of named numbers to `<run folder>/metrics.csv`.
#[derive(Debug)]
pub struct CsvLog {
    path: PathBuf,
    out: BufWriter<File>,
    columns: Option<Vec<String>>,
}

impl CsvLog {
    /// Opens (creating the folder and file, appending when it exists) `dir/metrics.csv`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = dir.join("metrics.csv");
        let columns = match std::fs::read_to_string(&path) {
            Ok(text) => text.lines().next().filter(|l| !l.is_empty()).map(|l| l.split(',').map(String::from).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(TrainError::io(&path, e)),
        };
        let f = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| TrainError::io(&path, e))?;
        Ok(Self { path, out: BufWriter::new(f), columns })
    }

    /// Writes one row (and the header first, if the file has none); names not among the columns are
    /// dropped.
    pub fn log(&mut self, record: &[(String, f64)]) -> Result<()> {
        let path = self.path.clone();
        let io = |e| TrainError::io(&path, e);
        if self.columns.is_none() {
            let cols: Vec<String> = record.iter().map(|(k, _)| k.replace(',', "_")).collect();
            writeln!(self.out, "{}", cols.join(",")).map_err(io)?;
            self.columns = Some(cols);
        }
        let cols = self.columns.as_deref().unwrap_or_default();
        let row: Vec<String> = cols
            .iter()
            .map(|c| {
                record.iter().find(|(k, _)| k.replace(',', "_") == *c).map_or_else(String::new, |(_, v)| v.to_string())
            })
            .collect();
        writeln!(self.out, "{}", row.join(",")).and_then(|_| self.out.flush()).map_err(io)
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_once_and_fixed_columns_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut c = CsvLog::open(dir.path()).unwrap();
            c.log(&[("step".into(), 0.0), ("loss".into(), 1.5)]).unwrap();
        }
        let mut c = CsvLog::open(dir.path()).unwrap();
        c.log(&[("loss".into(), f64::NAN), ("extra".into(), 3.0), ("step".into(), 1.0)]).unwrap();
        c.log(&[("step".into(), 2.0)]).unwrap();
        let text = std::fs::read_to_string(c.path()).unwrap();
        assert_eq!(text, "step,loss\n0,1.5\n1,NaN\n2,\n");
    }
}
