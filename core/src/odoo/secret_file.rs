//! The API key can live in a file on the database server instead of in SQL, so that it never
//! appears in SQL text, `pg_stat_activity`, server logs, `psql` history or dumps, and a key
//! rotation is a new file. As Postgres does for `ssl_key_file`, a file that other OS users can
//! read is refused: if its owner is the server's own user, it must have no group or world
//! permission; if it is root's, the group may read it (so a root-managed `0640 root:postgres`
//! file works).
use std::os::unix::fs::MetadataExt;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretFileError {
    #[error("the secret file must be an absolute path (got {0:?})")]
    NotAbsolute(String),
    #[error("cannot read the secret file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the secret file {path} can be read by other OS users (mode {mode:04o}): make it 0600 (or 0640 if root owns it)")]
    TooOpen { path: String, mode: u32 },
    #[error("the secret file {path} belongs to neither the database server's OS user nor root")]
    WrongOwner { path: String },
    #[error("the secret file {path} is empty")]
    Empty { path: String },
}

/// The key in `path`, without surrounding whitespace (editors add a newline).
pub fn read(path: &str) -> Result<String, SecretFileError> {
    if !path.starts_with('/') {
        return Err(SecretFileError::NotAbsolute(path.to_owned()));
    }
    let unreadable = |e: std::io::Error| SecretFileError::Unreadable {
        path: path.to_owned(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".into(),
            std::io::ErrorKind::PermissionDenied => "permission denied to the database server's OS user".into(),
            other => other.to_string(),
        },
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(SecretFileError::Unreadable { path: path.to_owned(), reason: "not a regular file".into() });
    }
    // Linux: /proc/self belongs to this process's effective user.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(unreadable)?;
    let mode = meta.mode() & 0o7777;
    let allowed = match meta.uid() {
        uid if uid == me => 0o700,
        0 => 0o740,
        _ => return Err(SecretFileError::WrongOwner { path: path.to_owned() }),
    };
    if mode & !allowed & 0o777 != 0 {
        return Err(SecretFileError::TooOpen { path: path.to_owned(), mode });
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    let key = text.trim();
    if key.is_empty() {
        return Err(SecretFileError::Empty { path: path.to_owned() });
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A directory of one test's own (tests run in parallel), removed when the test ends.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("scrap_sga_secret_{}_{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str, text: &str, mode: u32) -> String {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p.to_str().unwrap().to_owned()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_private_file_is_read_and_trimmed() {
        let dir = Scratch::new("private");
        assert_eq!(read(&dir.file("ok", "0123456789abcdef\n", 0o600)).unwrap(), "0123456789abcdef");
        assert_eq!(read(&dir.file("ro", "k3y", 0o400)).unwrap(), "k3y");
    }

    #[test]
    fn files_others_can_read_are_refused() {
        let dir = Scratch::new("open");
        for mode in [0o644, 0o604, 0o620, 0o666] {
            let p = dir.file(&format!("open{mode:o}"), "key", mode);
            assert!(matches!(read(&p), Err(SecretFileError::TooOpen { .. })), "{mode:o}");
        }
        let e = read(&dir.file("open", "key", 0o644)).unwrap_err().to_string();
        assert!(e.contains("mode 0644") && !e.contains("key\""), "{e}");
    }

    #[test]
    fn missing_relative_and_empty_files() {
        let dir = Scratch::new("missing");
        assert!(matches!(read("/nonexistent/scrap_sga/key"), Err(SecretFileError::Unreadable { .. })));
        assert!(matches!(read("relative/key"), Err(SecretFileError::NotAbsolute(_))));
        assert!(matches!(read(&dir.file("empty", " \n", 0o600)), Err(SecretFileError::Empty { .. })));
        assert!(matches!(read("/tmp"), Err(SecretFileError::Unreadable { .. })));
    }
}
