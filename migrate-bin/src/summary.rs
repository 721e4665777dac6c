//! Long lists in text messages: a run that applied or reverted fifty migrations before a
//! failure must not bury the error under fifty names. Text shows the count and the two ends;
//! `--json` and the audit log (`migrate --json history`) keep every one.

use std::fmt::{Display, Write as _};

/// Lists up to this long are written out in full; longer ones are summarised.
pub(crate) const LIST_LIMIT: usize = 10;

/// Where the full list is, for the summarised form.
const FULL_LIST: &str = "the full list: `migrate --json history`";

/// `items` (migrations in the order a run did them) joined with ", ", or — above
/// [`LIST_LIMIT`] — their count, newest and oldest. `newest_first` is true for reverts.
pub(crate) fn list<T: Display>(items: &[T], newest_first: bool) -> String {
    let (newest, oldest) = match (items.first(), items.last()) {
        (Some(first), Some(last)) if newest_first => (first, last),
        (Some(first), Some(last)) => (last, first),
        _ => return String::new(),
    };
    summarised(items, ("newest", newest), ("oldest", oldest))
}

/// Like [`list`], for entries whose order says nothing about age (a `redo` reverts, then
/// applies): the summary names the first and the last entry instead.
pub(crate) fn list_in_run_order<T: Display>(items: &[T], separator: &str) -> String {
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return String::new();
    };
    if items.len() <= LIST_LIMIT {
        return join(items, separator);
    }
    summarised(items, ("first", first), ("last", last))
}

fn summarised<T: Display>(items: &[T], one: (&str, &T), other: (&str, &T)) -> String {
    if items.len() <= LIST_LIMIT {
        return join(items, ", ");
    }
    format!(
        "{} migrations, {} {}, {} {} ({FULL_LIST})",
        items.len(),
        one.0,
        one.1,
        other.0,
        other.1
    )
}

fn join<T: Display>(items: &[T], separator: &str) -> String {
    let mut text = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push_str(separator);
        }
        let _ = write!(text, "{item}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrations(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("{i:03} m{i}")).collect()
    }

    #[test]
    fn short_lists_are_written_out() {
        assert_eq!(list(&migrations(2), false), "001 m1, 002 m2");
        assert_eq!(
            list(&migrations(LIST_LIMIT), false).matches(", ").count(),
            9
        );
        assert_eq!(list::<String>(&[], false), "");
        assert_eq!(list_in_run_order(&migrations(2), "\n"), "001 m1\n002 m2");
    }

    #[test]
    fn long_lists_give_count_newest_and_oldest() {
        let applied = migrations(50);
        assert_eq!(
            list(&applied, false),
            "50 migrations, newest 050 m50, oldest 001 m1 (the full list: `migrate --json history`)"
        );
        let reverted: Vec<String> = applied.into_iter().rev().collect();
        assert_eq!(
            list(&reverted, true),
            "50 migrations, newest 050 m50, oldest 001 m1 (the full list: `migrate --json history`)"
        );
        assert_eq!(
            list_in_run_order(&migrations(11), "\n"),
            "11 migrations, first 001 m1, last 011 m11 (the full list: `migrate --json history`)"
        );
    }
}
