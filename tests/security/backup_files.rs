//! Backup modes (folder 0700, dump 0600, unique names, audit path/size/SHA-256) and symlink
//! games (symlinked `--backup-dir`, symlinks planted at the names a dump or the write probe
//! could take, group- or world-writable folder).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use groundwork_testdb::run_with_limit;
use sha2::{Digest, Sha256};

use super::support::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn backups_are_private_unique_and_audited() {
    let db = prod_db(2);
    let base = tempfile::tempdir().unwrap();
    let backups = base.path().join("new").join("backups");
    // The first of the two pending migrations, then the rest.
    let embedded = domain::embedded_migration_files();
    let first_pending = embedded[embedded.len() - 2].version;
    for to in [Some(first_pending), None] {
        let mut cmd = prod_up(&db, &backups);
        if let Some(to) = to {
            cmd.args(["--to", to]);
        }
        let res = run_with_limit(&mut cmd, LIMIT);
        assert_eq!(res.code, Some(0), "{}", res.describe());
    }
    assert_eq!(
        format!("{:o}", mode(&backups)),
        "700",
        "the backup folder is created 0700"
    );
    let dumps = files(&backups);
    assert_eq!(dumps.len(), 2, "two runs, two distinct dumps: {dumps:?}");
    for d in &dumps {
        let meta = std::fs::symlink_metadata(d).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{} is a regular file",
            d.display()
        );
        assert_eq!(
            format!("{:o}", mode(d)),
            "600",
            "{} has mode 0600",
            d.display()
        );
    }
    let audited: Vec<(String, i64, String)> = db
        .client()
        .query(
            "SELECT backup_path, backup_size_bytes, backup_sha256 FROM groundwork.audit_runs \
             WHERE backup_path IS NOT NULL ORDER BY id DESC LIMIT 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert_ne!(audited[0].0, audited[1].0, "each run has its own dump path");
    for (path, size, sha) in &audited {
        let p = Path::new(path);
        assert!(p.is_absolute(), "audited path {path} is absolute");
        assert!(
            dumps.iter().any(|d| d == p),
            "audited path {path} is one of {dumps:?}"
        );
        assert_eq!(
            std::fs::metadata(p).unwrap().len() as i64,
            *size,
            "{path} size"
        );
        assert_eq!(&sha256_file(p), sha, "{path} SHA-256");
    }
}

/// The rule: a symlinked `--backup-dir` is refused unless it resolves to a folder
/// owned by the running user with no write bit for others; then the dump lands in the real
/// folder and the audit log records the resolved path.
#[test]
fn a_symlinked_backup_dir_is_used_only_when_it_resolves_to_a_private_folder() {
    // A link to a shared folder: refused, nothing written through it, database unchanged.
    let db = prod_db(1);
    let before = db.snapshot();
    let base = tempfile::tempdir().unwrap();
    let shared = base.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
    let link = base.path().join("link-to-shared");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    let res = run_with_limit(&mut prod_up(&db, &link), LIMIT);
    assert_eq!(res.code, Some(7), "{}", res.describe());
    assert!(
        res.stderr.contains(&link.display().to_string()),
        "{}",
        res.describe()
    );
    assert!(
        files(&shared).is_empty(),
        "nothing written through the link: {:?}",
        files(&shared)
    );
    assert_unchanged(&before, &db, "symlinked --backup-dir to a shared folder");

    // A link to a private folder of the running user: used, audited by its real path.
    let db = prod_db(1);
    let real = base.path().join("private");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = base.path().join("link-to-private");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let res = run_with_limit(&mut prod_up(&db, &link), LIMIT);
    assert_eq!(res.code, Some(0), "{}", res.describe());
    let dumps = files(&real);
    assert_eq!(dumps.len(), 1, "one dump in the real folder: {dumps:?}");
    let audited: String = db
        .client()
        .query_one(
            "SELECT backup_path FROM groundwork.audit_runs WHERE backup_path IS NOT NULL \
             ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    let real = real.canonicalize().unwrap();
    assert!(
        Path::new(&audited).starts_with(&real),
        "the audit log records the resolved path {audited}, under {}",
        real.display()
    );
}

#[test]
fn group_or_world_writable_backup_dirs_are_refused_with_exit_7() {
    for m in [0o770, 0o777, 0o722] {
        let db = prod_db(1);
        let before = db.snapshot();
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("shared");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
        let res = run_with_limit(&mut prod_up(&db, &dir), LIMIT);
        assert_eq!(res.code, Some(7), "mode {m:o}:\n{}", res.describe());
        assert!(
            files(&dir).is_empty(),
            "mode {m:o}: nothing written: {:?}",
            files(&dir)
        );
        assert_unchanged(&before, &db, &format!("--backup-dir with mode {m:o}"));
    }
}

#[test]
fn symlinks_planted_at_dump_and_probe_names_are_never_followed() {
    let db = prod_db(1);
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let backups = base.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    std::fs::set_permissions(&backups, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut planted = Vec::new();
    // The one pending migration, which the dump is named after.
    let pending = domain::embedded_migration_files()
        .last()
        .map(|m| m.version)
        .unwrap();
    // The dump names of the old scheme (<db>-<UTC second>-before-<version>.dump) for the next
    // 30 seconds, and the write probe of the next 400 process ids.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for s in -2..30 {
        let name = format!("{}-{}-before-{pending}.dump", db.name(), utc_stamp(now + s));
        planted.push(backups.join(name));
    }
    let last_pid: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    for pid in last_pid + 1..last_pid + 400 {
        planted.push(backups.join(format!(".migrate-write-test-{pid}")));
    }
    for p in &planted {
        std::os::unix::fs::symlink(&victim, p).unwrap();
    }
    let res = run_with_limit(&mut prod_up(&db, &backups), LIMIT);
    assert!(
        std::fs::read(&victim).unwrap() == b"precious\n",
        "a planted symlink was followed: the victim file was overwritten\n{}",
        res.describe()
    );
    assert_eq!(res.code, Some(0), "{}", res.describe());
    for p in &planted {
        assert!(
            std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()),
            "planted link {} was replaced or removed",
            p.display()
        );
    }
    let dumps: Vec<PathBuf> = files(&backups)
        .into_iter()
        .filter(|p| !planted.contains(p))
        .collect();
    assert_eq!(
        dumps.len(),
        1,
        "one new dump beside the planted links: {dumps:?}"
    );
    assert!(
        std::fs::symlink_metadata(&dumps[0])
            .unwrap()
            .file_type()
            .is_file()
    );
    assert_eq!(
        format!("{:o}", mode(&dumps[0])),
        "600",
        "the dump has mode 0600"
    );
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time (civil-from-days, no date crate needed).
fn utc_stamp(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
