//! Both command lines as a user first meets them: every `--help` page, pinned word for word,
//! so a changed flag description shows up in review instead of slipping through.

mod help;
