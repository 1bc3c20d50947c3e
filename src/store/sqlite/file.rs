//! The database file itself: one daemon per file, and noticing when the
//! file at `store.path` is no longer the one the daemon writes.
//!
//! **One daemon per file.** The store takes flock(2) on the database file
//! itself, not on a side file named after the path: the lock belongs to the
//! inode, so a second daemon that reaches the same file by a symlink, a hard
//! link or a bind mount is refused like one given the same path, and there
//! is no lock file that deleting would let a second daemon in. Linux keeps
//! flock locks apart from the fcntl byte-range locks SQLite takes on the
//! same file, so SQLite's own locking is untouched. (On NFS, Linux emulates
//! flock with fcntl locks, which would mix with SQLite's; WAL mode, which
//! needs shared memory, rules NFS out anyway.)
//!
//! The one hazard of holding the file open: closing *any* descriptor of a
//! file drops every fcntl lock the process holds on it, SQLite's included.
//! So the lock is let go in two steps: when the last handle of the store is
//! dropped, the flock is released ([`Held`]), at once, so that a daemon
//! started next, even in the same process, finds the file free; the
//! descriptor itself is closed by the writer thread after its connection
//! (it holds the last reference). Reader connections may still be closing
//! then; they are on their way out. Nothing here opens the file again while
//! SQLite has it, except a second store of the same process, which is
//! refused.
//!
//! **The file at the path.** A daemon writes to the inodes it opened. When
//! the database or its WAL is removed or replaced (rm, mv, a restore) while
//! it runs, its commits land in files that no restart will open. So the
//! device and inode of both are remembered at open, and after every commit,
//! before anyone is told it is done, the writer checks that the paths still
//! name them. Two stat calls per commit cost the queue about 6% of its
//! throughput under load, so the check is told when to look: an inotify(7)
//! watch on the directories holding the two files reports any name in them
//! removed, created or renamed (the kernel queues the event before the
//! `unlink` or `rename` returns), and after a commit the writer reads that
//! queue, one non-blocking `read` that finds it empty on almost every
//! commit. Anything in it, a full queue or a second since the last look
//! (for what no watched directory sees, such as a parent directory
//! renamed), and the paths are stat'ed. Without inotify every commit
//! stats them. When they do not,
//! the store is lost for good: that batch is answered with
//! [`StoreError::Lost`] instead of success, every later one the same without
//! being applied, readiness fails, and the error is logged once.
//!
//! What the check cannot close: the file removed in the microseconds between
//! the stat and the answers. Such a commit was in the file at the path when
//! checked, like one acknowledged just before the removal; what a removal
//! takes away with it after that is no longer the daemon's to protect.

use std::fs::{File, Metadata, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::store::StoreError;

/// Which file a path names: (device, inode).
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(meta: &Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// No inode to compare: the files are not watched.
#[cfg(not(unix))]
fn file_id(_: &Metadata) -> Option<FileId> {
    None
}

/// Creates the database file if needed, with owner-only permissions before
/// SQLite does (so the database, and the WAL files SQLite derives from it,
/// are never world-readable), and locks it for this process.
pub(super) fn create_locked(path: &Path) -> Result<File, StoreError> {
    let file = create_private(path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_path_buf(),
            holder: flock_holder(&file),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Open {
            path: path.to_path_buf(),
            detail: format!("could not lock the file: {e}"),
        }),
    }
}

/// Creates the database file if needed (see [`create_locked`]) and opens it.
fn create_private(path: &Path) -> Result<File, StoreError> {
    let open_err = |e: std::io::Error| StoreError::Open {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(open_err)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(open_err)
}

/// The process that holds the flock on `file`, as /proc/locks (Linux) tells
/// it; `None` where it cannot be told.
fn flock_holder(file: &File) -> Option<u32> {
    let (dev, ino) = file_id(&file.metadata().ok()?)?;
    // st_dev as glibc encodes it; /proc/locks prints the kernel's major and minor.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let inode = format!("{major:02x}:{minor:02x}:{ino}");
    // "3: FLOCK  ADVISORY  WRITE 19761 fe:00:10011143 0 EOF"; a waiter's
    // line has "->" after the number and so never matches.
    let holder = |locks: String| {
        locks.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [_, "FLOCK", _, _, pid, at, ..] if at == inode => pid.parse().ok(),
                _ => None,
            }
        })
    };
    // The kernel writes /proc/locks a page at a time and finds where the
    // next page starts by counting lines again: when other processes take
    // or drop locks in between (SQLite's own locks come and go with every
    // transaction), a line can be skipped. The holder's line stays, so a
    // read that misses it is read again.
    (0..3).find_map(|_| holder(std::fs::read_to_string("/proc/locks").ok()?))
}

/// Held by every handle of the store: releases the flock when the last one
/// goes (the descriptor stays open until the writer is done; module doc).
pub(super) struct Held(pub(super) std::sync::Arc<DbFile>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Err(e) = self.0.lock.unlock() {
            tracing::warn!(database = %self.0.path.display(), error = %e, "could not release the database's lock");
        }
    }
}

/// The locked database file and the paths whose files the writer must
/// still find there after each commit.
pub(super) struct DbFile {
    /// The database as given in `store.path`, for messages.
    path: PathBuf,
    /// The paths checked (the database and its WAL) with the file each
    /// named at open.
    watched: Vec<(PathBuf, FileId)>,
    /// Set by the first check that finds a file gone; returned by every later one.
    lost: OnceLock<StoreError>,
    /// Says when the watched paths may have changed; `None` where inotify
    /// could not be had, and then every check stats them.
    changes: Option<DirChanges>,
    /// When the paths were last stat'ed, for the once-a-second look.
    looked: std::sync::Mutex<std::time::Instant>,
    /// flock(2)ed while the store has handles; closed after the writer's
    /// connection (module doc).
    lock: File,
}

impl DbFile {
    /// Starts watching, once SQLite has the database and its WAL open.
    pub(super) fn watch(path: &Path, lock: File) -> Result<DbFile, StoreError> {
        let open_err = |e: std::io::Error| StoreError::Open {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let mut watched = Vec::with_capacity(2);
        if let Some(locked) = file_id(&lock.metadata().map_err(open_err)?) {
            // SQLite opened the path after it was locked: still the same file?
            if file_id(&std::fs::metadata(path).map_err(open_err)?) != Some(locked) {
                return Err(StoreError::Open {
                    path: path.to_path_buf(),
                    detail: "the file was replaced while the daemon opened it".into(),
                });
            }
            watched.push((path.to_path_buf(), locked));
            // SQLite puts the WAL next to the file a symlink leads to.
            let mut wal = std::fs::canonicalize(path)
                .map_err(open_err)?
                .into_os_string();
            wal.push("-wal");
            let wal = PathBuf::from(wal);
            // The writer's connection keeps the WAL for the store's life
            // (SQLite deletes it only when the last connection closes).
            if let Some(id) = std::fs::metadata(&wal).ok().as_ref().and_then(file_id) {
                watched.push((wal, id));
            }
        }
        let changes = DirChanges::watch(watched.iter().map(|(p, _)| p.as_path()));
        if let Err(e) = &changes {
            tracing::warn!(error = %e, "no inotify watch on the database's directory; every commit stats the database file instead");
        }
        Ok(DbFile {
            path: path.to_path_buf(),
            watched,
            lost: OnceLock::new(),
            changes: changes.ok(),
            looked: std::sync::Mutex::new(std::time::Instant::now()),
            lock,
        })
    }

    /// The error every write gets once the file is lost.
    pub(super) fn lost(&self) -> Option<&StoreError> {
        self.lost.get()
    }

    /// Whether the paths still name the files opened; the first time they
    /// do not, the store is lost and an error is logged.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        if let Some(lost) = self.lost.get() {
            return Err(lost.clone());
        }
        // Held to the end: a check that drained the events but has not yet
        // stat'ed must not let another (the writer's, readiness's) find the
        // queue empty and pass.
        let mut looked = self.looked.lock().expect("file check poisoned");
        let now = std::time::Instant::now();
        let quiet = self.changes.as_ref().is_some_and(DirChanges::quiet);
        if quiet && now.duration_since(*looked) < LOOK_AT_LEAST_EVERY {
            return Ok(());
        }
        *looked = now;
        for (path, id) in &self.watched {
            let what = match std::fs::metadata(path) {
                Ok(meta) if file_id(&meta) == Some(*id) => continue,
                Ok(_) => "was replaced by another file".to_string(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "was removed".to_string(),
                Err(e) => format!("could not be checked ({e})"),
            };
            let lost = StoreError::Lost {
                path: path.clone(),
                what,
            };
            if self.lost.set(lost.clone()).is_ok() {
                tracing::error!(
                    database = %self.path.display(),
                    error = %lost,
                    "the database file is no longer the one the daemon opened; refusing every write"
                );
            }
            return Err(self.lost.get().cloned().unwrap_or(lost));
        }
        Ok(())
    }
}

/// The longest the paths go unchecked while inotify reports nothing.
const LOOK_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// An inotify(7) instance watching the directories of the database's files
/// for names removed, created or renamed, and for the directories themselves
/// going away.
struct DirChanges {
    /// The inotify instance, non-blocking; closing it ends the watches.
    fd: std::os::fd::OwnedFd,
}

impl DirChanges {
    #[cfg(target_os = "linux")]
    fn watch<'a>(paths: impl Iterator<Item = &'a Path>) -> std::io::Result<DirChanges> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: plain system calls; the descriptor is owned from here on.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let changes = DirChanges {
            // SAFETY: a fresh descriptor that nothing else owns.
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
        };
        let mask = libc::IN_DELETE
            | libc::IN_CREATE
            | libc::IN_MOVED_FROM
            | libc::IN_MOVED_TO
            | libc::IN_DELETE_SELF
            | libc::IN_MOVE_SELF;
        for path in paths {
            // The directory of the path as given (a symlink may be replaced
            // there) and of the file it leads to.
            let dirs = [
                path.parent().map(Path::to_path_buf),
                std::fs::canonicalize(path)?.parent().map(Path::to_path_buf),
            ];
            for dir in dirs.into_iter().flatten() {
                let dir = if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                };
                let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
                    .map_err(std::io::Error::other)?;
                // SAFETY: a valid descriptor and a NUL-terminated path.
                let wd = unsafe {
                    libc::inotify_add_watch(
                        std::os::fd::AsRawFd::as_raw_fd(&changes.fd),
                        c.as_ptr(),
                        mask,
                    )
                };
                if wd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(changes)
    }

    #[cfg(not(target_os = "linux"))]
    fn watch<'a>(_: impl Iterator<Item = &'a Path>) -> std::io::Result<DirChanges> {
        Err(std::io::Error::other("inotify is Linux's"))
    }

    /// Whether nothing happened in the watched directories since the last
    /// call: drains what the kernel queued. Any event (of any name there),
    /// an overflowed queue or a failed read counts as something.
    #[cfg(target_os = "linux")]
    fn quiet(&self) -> bool {
        let mut buf = [0u8; 4096];
        let mut quiet = true;
        loop {
            // SAFETY: reads into a buffer of the length given.
            let n = unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n > 0 {
                quiet = false;
                continue;
            }
            return quiet
                && n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock;
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn quiet(&self) -> bool {
        false
    }
}
