//! Files and directories only their owner can open: the data directory (0700) and every database, key
//! and token in it (0600). They are created with these modes, never loosened and tightened afterwards,
//! so there is no moment in which another local user could open one and keep the descriptor.
//!
//! SQLite creates a database's `-wal` and `-shm` files itself, with the main file's mode, so a database
//! file created here keeps its companions private too. On other platforms than Unix these are plain
//! `create_dir_all` and `write`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

/// The mode of every directory created here.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file created here.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents, each with mode [`DIR_MODE`]; directories that exist are
/// left as they are.
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Creates `path` empty with mode [`FILE_MODE`] unless it exists (then it is left untouched).
pub fn create_file(path: &Path) -> std::io::Result<()> {
    match open(path, OpenOptions::new().write(true).create_new(true)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `data` atomically: written to a fresh temporary file of mode [`FILE_MODE`]
/// beside it, then renamed over it, so readers see the old content or the new. The directory must exist.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    // A temporary file left by a crash may have another mode; a new one gets ours.
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = open(tmp, OpenOptions::new().write(true).create_new(true))?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)
}

fn open(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, FILE_MODE);
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_owner_only_whatever_the_umask_allows() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&root.path().join("a")), DIR_MODE);
        assert_eq!(mode(&dir), DIR_MODE);
        let file = dir.join("db.sqlite");
        create_file(&file).unwrap();
        assert_eq!(mode(&file), FILE_MODE);
        std::fs::write(&file, b"kept").unwrap();
        create_file(&file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"kept");

        let token = dir.join("token");
        std::fs::write(dir.join("token.tmp"), b"stale").unwrap();
        std::fs::set_permissions(
            dir.join("token.tmp"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        write(&token, b"secret").unwrap();
        assert_eq!(std::fs::read(&token).unwrap(), b"secret");
        assert_eq!(mode(&token), FILE_MODE);
        assert!(!dir.join("token.tmp").exists());
    }
}
