//! Errors of a command on stderr, and the exit code each one gets (see [`lariat::exit`]).

use lariat::db::DbError;
use lariat::exit;
use lariat::generate::GenerateError;
use lariat::migrator::Error;
use lariat::store::StoreError;

/// Prints an error and picks its exit code.
pub fn print(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<Error>() {
        Some(Error::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}");
            exit::INVALID
        }
        Some(e) => {
            match e {
                // the database's own message says what is wrong (password, missing database,
                // read-only file); AWS errors are rendered by their own Display
                Error::Store(store) => eprintln!("error: {}", with_causes(store)),
                _ => eprintln!("error: {e}"),
            }
            match e {
                Error::Config(_) => exit::INVALID,
                Error::Plan(lariat::plan::PlanError::UnknownVersion(_)) => exit::USAGE,
                Error::Plan(_) => exit::REFUSED,
                Error::Store(StoreError::LockTimeout { .. }) => exit::LOCKED,
                Error::Store(
                    StoreError::ForeignTable { .. }
                    | StoreError::Db(DbError::InvalidTableName { .. }),
                ) => exit::INVALID,
                Error::MissingExternal(_) => exit::REFUSED,
                Error::Apply(e)
                    if matches!(**e, lariat::executor::ApplyError::Interrupted { .. }) =>
                {
                    exit::INTERRUPTED
                }
                _ => exit::FAILURE,
            }
        }
        None => {
            eprintln!("error: {}", with_causes(err.as_ref()));
            if invalid_table_name(err) {
                return exit::INVALID;
            }
            match err.downcast_ref::<GenerateError>() {
                Some(GenerateError::BadName(_)) => exit::USAGE,
                _ => exit::FAILURE,
            }
        }
    }
}

/// An error and its causes in one line, each cause only when the text so far does not already
/// say it (many messages include their source's).
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a table name (version, outbox or inbox table) is what was refused: a configuration
/// error, exit 3, whichever command and table.
fn invalid_table_name(err: &anyhow::Error) -> bool {
    use lariat::inbox::InboxError;
    use lariat::outbox::OutboxError;
    err.chain().any(|cause| {
        let db = match (
            cause.downcast_ref::<StoreError>(),
            cause.downcast_ref::<OutboxError>(),
            cause.downcast_ref::<InboxError>(),
        ) {
            (Some(StoreError::Db(db)), _, _)
            | (_, Some(OutboxError::Db(db)), _)
            | (_, _, Some(InboxError::Db(db))) => Some(db),
            _ => cause.downcast_ref::<DbError>(),
        };
        matches!(db, Some(DbError::InvalidTableName { .. }))
    })
}
