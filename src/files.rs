//! Reading desired-state files defensively: regular files only, capped in
//! size, opened so that a FIFO can never block, and (for the files a
//! document points at) confined to the desired-state directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest desired-state YAML file driftd reads (section 1).
pub const MAX_YAML_BYTES: u64 = 10 * 1024 * 1024;

/// The largest `bodyFile`: a dashboard body is one request parameter of
/// `PutDashboard`; 1 MiB is far above what 500 widgets need.
pub const MAX_DASHBOARD_BODY_BYTES: u64 = 1024 * 1024;

/// The largest secret value Secrets Manager stores (`SecretString`).
pub const MAX_SECRET_BYTES: u64 = 65_536;

/// Why a file could not be read. Its text names the problem, never the
/// file's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("not a regular file (a {0})")]
    NotRegular(&'static str),
    #[error("larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("outside the desired-state directory {}", .0.display())]
    Outside(PathBuf),
    #[error("{0}")]
    Io(String),
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> FileError {
        // An io::Error's text names the failure (not found, permission
        // denied), never the file's contents.
        FileError::Io(e.to_string())
    }
}

/// What kind of file this is, in words, for a file that is not regular.
pub fn describe(file_type: &fs::FileType) -> &'static str {
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Opens `path` for reading without ever blocking (a FIFO without a writer
/// would block a plain `open`), and checks that what was opened is a regular
/// file of at most `limit` bytes. Checking the opened file, not the path,
/// leaves no window for a swap between the check and the read.
fn open_regular(path: &Path, limit: u64) -> Result<(File, u64), FileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(FileError::NotRegular(describe(&meta.file_type())));
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok((file, meta.len()))
}

/// Reads a regular file of at most `limit` bytes as UTF-8 text, without its
/// leading byte-order mark. Never hangs, never reads more than `limit + 1`
/// bytes (a file that grows while read is refused, not followed).
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    let (file, len) = open_regular(path, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    let mut text = String::from_utf8(bytes).map_err(|_| FileError::NotUtf8)?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Checks, without reading it, that `path` is a regular file of at most
/// `limit` bytes (for files whose contents are secret and read only when
/// needed).
pub fn check_regular(path: &Path, limit: u64) -> Result<(), FileError> {
    open_regular(path, limit).map(|_| ())
}

/// `path` with every symbolic link resolved, when it lies inside `root`
/// (itself canonical); an error otherwise.
pub fn confine(root: &Path, path: &Path) -> Result<PathBuf, FileError> {
    let resolved = fs::canonicalize(path)?;
    if resolved.starts_with(root) {
        Ok(resolved)
    } else {
        Err(FileError::Outside(root.to_path_buf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_regular_file_is_read_without_its_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        fs::write(&file, "\u{feff}kind: Alarm\n").unwrap();
        assert_eq!(read_text(&file, 100).unwrap(), "kind: Alarm\n");
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = Instant::now();
        assert_eq!(read_text(&fifo, 100), Err(FileError::NotRegular("FIFO")));
        assert_eq!(
            check_regular(&fifo, 100),
            Err(FileError::NotRegular("FIFO"))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn devices_and_large_files_are_refused_without_reading_them() {
        assert_eq!(
            read_text(Path::new("/dev/zero"), 100),
            Err(FileError::NotRegular("character device"))
        );
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        fs::write(&big, vec![b'x'; 101]).unwrap();
        assert_eq!(
            read_text(&big, 100),
            Err(FileError::TooLarge { limit: 100 })
        );
        assert_eq!(read_text(&big, 101).unwrap().len(), 101);
    }

    #[test]
    fn confinement_resolves_links_before_it_checks() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let inside = root.join("inside.json");
        fs::write(&inside, "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link.json")).unwrap();
        assert_eq!(confine(&root, &inside).unwrap(), inside);
        assert_eq!(
            confine(&root, &root.join("link.json")),
            Err(FileError::Outside(root.clone()))
        );
        assert_eq!(
            confine(&root, &root.join("../../../../etc/passwd")),
            Err(FileError::Outside(root.clone()))
        );
        assert!(matches!(
            confine(&root, &root.join("missing.json")),
            Err(FileError::Io(_))
        ));
    }
}
