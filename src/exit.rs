//! Exit codes of the `lariat` binary, documented in the README.

/// Success; for `status`, nothing pending; for `drift`, the account matches the files.
pub const OK: i32 = 0;
/// A failure talking to AWS or the database, or reading files.
pub const FAILURE: i32 = 1;
/// `status`: migrations are pending or interrupted; `drift`: the account differs from the files.
pub const DIFFERENCES: i32 = 2;
/// The migration files or the configuration do not validate, or the version table belongs to
/// another tool.
pub const INVALID: i32 = 3;
/// Refused: an applied file was modified or is missing, a pending file is out of order, an
/// external topic or queue the pending migrations use is missing, or a
/// confirmation was declined.
pub const REFUSED: i32 = 4;
/// Another `migrate` or `rollback` held the lock for longer than `--lock-timeout`.
pub const LOCKED: i32 = 5;
/// Bad command-line usage.
pub const USAGE: i32 = 64;
/// Stopped by Ctrl-C or SIGTERM.
pub const INTERRUPTED: i32 = 130;
