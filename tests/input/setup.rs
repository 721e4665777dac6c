//! The setups of the bad-input cases: databases in every state a case needs, malformed
//! migrations and core-data folders, and the placeholders they fill in.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use Setup::*;
use groundwork_testdb::{Fixture, TestDb, silent_server};

/// The embedded migration a "prod with pending work" database stops at: the second-last one,
/// so exactly one is pending.
fn second_last() -> &'static str {
    let files = domain::embedded_migration_files();
    files[files.len() - 2].version
}

/// Malformed migrations-folder shapes (`--migrations-dir {dir}`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Shape {
    Missing,
    IsAFile,
    NoUpSql,
    BadFolderName,
    DuplicateVersion,
    BadMetadata,
    NonUtf8Sql,
    CommitInTx,
    BeginInTx,
    RollbackInTx,
    EmptyFolder,
}

/// Malformed `migrate` config files (`--config {dir}`; `{dir}` is the file).
#[derive(Clone, Copy, Debug)]
pub(super) enum BadConfig {
    UnknownRule,
    BadSeverity,
    OffForAllowRule,
    BadDuration,
    NegativeRows,
    AllowWithoutReason,
    UnknownSection,
    NotToml,
}

/// Malformed core-data folders (`--data-dir {dir}`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Core {
    BadToml,
    MissingField,
    BadEmail,
    UnknownRole,
    NonUtf8,
    Missing,
    IsAFile,
    NoCoreToml,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Setup {
    /// A fresh empty database.
    Empty,
    /// Every embedded migration applied, stamped `test`.
    Migrated,
    /// Migrated, stamp changed to `dev`.
    Dev,
    /// Migrated, stamp changed to `staging`.
    Staging,
    /// Migrated, stamp changed to `prod`.
    Prod,
    /// Migrated in prod (`--env prod --require-backup --yes`) up to the second-last embedded
    /// migration: one pending, and the audit log shows prod runs.
    ProdPending,
    /// [`Setup::ProdPending`] with the stamp row deleted: only the audit log says prod.
    AuditSaysProd,
    /// Migrated, then the `groundwork` schema dropped: tables and diesel bookkeeping, no stamp
    /// (an "unknown" database, as diesel_cli leaves it).
    Unknown,
    /// An empty database plus a migrations folder of the given shape at `{dir}`.
    Shape(Shape),
    /// An empty database plus a core-data folder of the given shape at `{dir}`.
    Core(Core),
    /// An empty database plus a `migrate` config file of the given kind at `{dir}`.
    Config(BadConfig),
}

/// What a setup leaves for the placeholders; the temp folders live as long as the case.
pub(super) struct Ctx {
    pub(super) db: TestDb,
    tmp: tempfile::TempDir,
    dir: String,
    silent: u16,
}

impl Ctx {
    pub(super) fn subst(&self, s: &str) -> String {
        let tmp = self.tmp.path().display().to_string();
        s.replace("{dir}", &self.dir)
            .replace("{tmp}", &tmp)
            .replace("{file}", &format!("{tmp}/a-file"))
            .replace("{backups}", &format!("{tmp}/backups"))
            .replace("{symlink-shared}", &format!("{tmp}/link-to-shared"))
            .replace("{gwdir}", &format!("{tmp}/group-writable"))
            .replace("{silent}", &self.silent.to_string())
            .replace("{db}", self.db.name())
    }
}

const CORE: &str = include_str!("../../seed-bin/data/core.toml");

fn migrated_with_stamp(env: &str) -> TestDb {
    let db = TestDb::migrated();
    db.client()
        .batch_execute(&format!("UPDATE groundwork.environment SET env = '{env}'"))
        .expect("restamp");
    db
}

/// Every embedded migration but the last, applied by a prod run (backup taken and verified).
fn prod_pending() -> TestDb {
    TestDb::from_template("bad_input_prod_pending", |url| {
        let backups = tempfile::tempdir().expect("temp dir");
        let out = Command::new(groundwork_testdb::bin_path("migrate"))
            .args(["--env", "prod", "--require-backup", "--yes", "--backup-dir"])
            .arg(backups.path())
            .args(["up", "--to", second_last()])
            .env("DATABASE_URL", url)
            .env_remove("APP_ENV")
            .current_dir(groundwork_testdb::scratch_dir())
            .output()
            .expect("run migrate");
        assert!(
            out.status.success(),
            "building the prod template failed:\n{}",
            groundwork_testdb::output_text(&out)
        );
    })
}

fn write_shape(dir: &Path, shape: Shape) -> String {
    let missing = dir.join("nope").display().to_string();
    let file = dir.join("migrations.txt");
    std::fs::write(&file, "not a folder\n").unwrap();
    let f = Fixture::standard();
    let add = |name: &str, up: &[u8]| {
        let d = f.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("up.sql"), up).unwrap();
        std::fs::write(d.join("down.sql"), "SELECT 1;\n").unwrap();
        d
    };
    match shape {
        Shape::Missing => return missing,
        Shape::IsAFile => return file.display().to_string(),
        Shape::EmptyFolder => {
            let e = dir.join("empty");
            std::fs::create_dir(&e).unwrap();
            return e.display().to_string();
        }
        Shape::NoUpSql => {
            let d = add("2026-01-13-090000_no_up", b"");
            std::fs::remove_file(d.join("up.sql")).unwrap();
        }
        Shape::BadFolderName => {
            add("not_a_migration", b"CREATE TABLE stray (id int);\n");
        }
        Shape::DuplicateVersion => {
            add("2026-01-10-090000_again", b"CREATE TABLE again (id int);\n");
        }
        Shape::BadMetadata => {
            let d = add("2026-01-13-090000_meta", b"CREATE TABLE meta (id int);\n");
            std::fs::write(d.join("metadata.toml"), "run_in_transaction = maybe\n").unwrap();
        }
        Shape::NonUtf8Sql => {
            add(
                "2026-01-13-090000_latin1",
                b"CREATE TABLE caf\xe9 (id int);\n\xff\xfe\n",
            );
        }
        Shape::CommitInTx => {
            add(
                "2026-01-13-090000_commit",
                b"CREATE TABLE before_commit (id int);\nCOMMIT;\nCREATE TABLE after_commit (id int);\n",
            );
        }
        Shape::BeginInTx => {
            add(
                "2026-01-13-090000_begin",
                b"BEGIN;\nCREATE TABLE in_begin (id int);\nEND;\n",
            );
        }
        Shape::RollbackInTx => {
            add(
                "2026-01-13-090000_rollback",
                b"CREATE TABLE before_rollback (id int);\nROLLBACK;\n",
            );
        }
    }
    // Keep the fixture's files: copy it into the case's temp folder.
    let target = dir.join("migrations");
    copy_tree(f.path(), &target);
    target.display().to_string()
}

fn write_config(dir: &Path, kind: BadConfig) -> String {
    let text = match kind {
        BadConfig::UnknownRule => "[lint.rules]\nban-drop-tabel = \"error\"\n",
        BadConfig::BadSeverity => "[lint.rules]\nban-drop-table = \"fatal\"\n",
        BadConfig::OffForAllowRule => "[lint.rules]\nallow-without-reason = \"off\"\n",
        BadConfig::BadDuration => "[rehearse]\nmax_lock = \"two seconds\"\n",
        BadConfig::NegativeRows => "[rehearse]\nmax_rewrite_rows = -5\n",
        BadConfig::AllowWithoutReason => {
            "[[lint.allow]]\nmigration = \"20260110090000\"\nrule = \"ban-drop-table\"\n"
        }
        BadConfig::UnknownSection => "[linter]\nstrict = true\n",
        BadConfig::NotToml => "[lint.rules\nban-drop-table = error\n",
    };
    let path = dir.join("migrate.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_tree(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

fn write_core(dir: &Path, core: Core) -> String {
    let d = dir.join("data");
    let write = |content: &[u8]| {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("core.toml"), content).unwrap();
    };
    match core {
        Core::BadToml => write(CORE.replacen("[[accounts]]", "[[accounts]", 1).as_bytes()),
        Core::MissingField => write(CORE.replacen("slug = \"democorp\"\n", "", 1).as_bytes()),
        Core::BadEmail => write(
            CORE.replacen("demo@democorp.com", "demo-at-democorp.com", 1)
                .as_bytes(),
        ),
        Core::UnknownRole => write(
            CORE.replacen("role = \"VIEWER\"", "role = \"SUPERUSER\"", 1)
                .as_bytes(),
        ),
        Core::NonUtf8 => {
            let mut bytes = CORE.as_bytes().to_vec();
            bytes.extend_from_slice(b"\n# caf\xe9 \xff\n");
            write(&bytes);
        }
        Core::Missing => {}
        Core::IsAFile => std::fs::write(&d, "not a folder\n").unwrap(),
        Core::NoCoreToml => std::fs::create_dir_all(&d).unwrap(),
    }
    d.display().to_string()
}

pub(super) fn setup(setup: Setup) -> Ctx {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    // The fixed decoys every case may point at.
    std::fs::write(t.join("a-file"), "a regular file\n").unwrap();
    let gw = t.join("group-writable");
    std::fs::create_dir(&gw).unwrap();
    std::fs::set_permissions(&gw, std::fs::Permissions::from_mode(0o770)).unwrap();
    // A link is followed only to a private folder of the running user (the rule), so
    // the refused case links to the shared one.
    std::os::unix::fs::symlink(&gw, t.join("link-to-shared")).unwrap();
    let mut dir = String::new();
    let db = match setup {
        Empty => TestDb::empty(),
        Migrated => TestDb::migrated(),
        Dev => migrated_with_stamp("dev"),
        Staging => migrated_with_stamp("staging"),
        Prod => migrated_with_stamp("prod"),
        ProdPending => prod_pending(),
        AuditSaysProd => {
            let db = prod_pending();
            db.client()
                .batch_execute("DELETE FROM groundwork.environment")
                .expect("delete stamp");
            db
        }
        Unknown => {
            let db = TestDb::migrated();
            db.client()
                .batch_execute("DROP SCHEMA groundwork CASCADE")
                .expect("drop groundwork schema");
            db
        }
        Shape(s) => {
            dir = write_shape(t, s);
            TestDb::empty()
        }
        Core(c) => {
            dir = write_core(t, c);
            TestDb::empty()
        }
        Config(c) => {
            dir = write_config(t, c);
            TestDb::empty()
        }
    };
    Ctx {
        db,
        tmp,
        dir,
        silent: silent_server(),
    }
}
