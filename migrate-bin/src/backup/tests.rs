//! The backup folder's and dump file's promises, case by case.

use super::folder::check_dir;
use super::*;
use std::fs::Permissions;
use std::os::unix::fs::symlink;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
}

#[test]
fn missing_folder_is_created_private_with_its_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b");
    let real = prepare_dir(&dir).unwrap();
    assert_eq!(real, fs::canonicalize(&dir).unwrap());
    assert_eq!(mode_of(&dir), 0o700);
    // The probe leaves nothing behind.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn existing_private_folder_is_used_and_left_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    set_mode(tmp.path(), 0o755);
    prepare_dir(tmp.path()).unwrap();
    assert_eq!(mode_of(tmp.path()), 0o755);
}

#[test]
fn group_or_world_writable_folder_is_refused() {
    for mode in [0o770, 0o707, 0o777, 0o1777] {
        let tmp = tempfile::tempdir().unwrap();
        set_mode(tmp.path(), mode);
        let err = prepare_dir(tmp.path()).unwrap_err();
        assert!(
            matches!(err, MigrateError::BackupDirUnsafe { .. }),
            "{mode:o}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&tmp.path().display().to_string())
                && msg.contains("writable by group or others")
                && msg.contains("chmod 700"),
            "{msg}"
        );
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}

#[test]
fn symlinked_folder_is_used_only_if_its_target_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("real");
    fs::create_dir(&target).unwrap();
    set_mode(&target, 0o700);
    let link = tmp.path().join("link");
    symlink(&target, &link).unwrap();
    assert_eq!(
        prepare_dir(&link).unwrap(),
        fs::canonicalize(&target).unwrap()
    );

    set_mode(&target, 0o777);
    let msg = prepare_dir(&link).unwrap_err().to_string();
    assert!(
        msg.contains("symbolic link to") && msg.contains("writable by group or others"),
        "{msg}"
    );

    let dangling = tmp.path().join("dangling");
    symlink(tmp.path().join("nowhere"), &dangling).unwrap();
    let err = prepare_dir(&dangling).unwrap_err();
    assert!(matches!(err, MigrateError::BackupDirUnsafe { .. }), "{err}");
    assert!(
        !tmp.path().join("nowhere").exists(),
        "a dangling link is not followed to create its target"
    );
}

#[test]
fn folder_of_another_user_or_a_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = fs::metadata(tmp.path()).unwrap();
    let other = meta.uid().wrapping_add(1);
    let msg = check_dir(tmp.path(), tmp.path(), &meta, false, other)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("belongs to uid"), "{msg}");

    let file = tmp.path().join("f");
    fs::write(&file, "x").unwrap();
    let msg = prepare_dir(&file).unwrap_err().to_string();
    assert!(msg.contains("is not a folder"), "{msg}");
}

#[test]
fn exclusive_create_is_0600() {
    let tmp = tempfile::tempdir().unwrap();
    create_exclusive(&tmp.path().join("d.dump")).unwrap();
    assert_eq!(mode_of(&tmp.path().join("d.dump")), 0o600);
}

#[test]
fn exclusive_create_refuses_an_existing_file_and_any_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let existing = tmp.path().join("existing");
    fs::write(&existing, "keep").unwrap();
    assert!(create_exclusive(&existing).is_err());
    assert_eq!(fs::read_to_string(&existing).unwrap(), "keep");

    let victim = tmp.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let planted = tmp.path().join("planted");
    symlink(&victim, &planted).unwrap();
    assert!(create_exclusive(&planted).is_err());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");

    let dangling = tmp.path().join("dangling");
    symlink(tmp.path().join("would-be-created"), &dangling).unwrap();
    assert!(create_exclusive(&dangling).is_err());
    assert!(!tmp.path().join("would-be-created").exists());
}

#[test]
fn names_are_unique_per_run_and_safe() {
    let now = chrono::Utc::now();
    let a = dump_file_name("shop/../x", "2026", now, "aaaa");
    let b = dump_file_name("shop/../x", "2026", now, "bbbb");
    assert_ne!(a, b);
    assert!(!a.contains('/'), "{a}");
    assert!(a.ends_with("-aaaa-before-2026.dump"), "{a}");
    let stamp = now.format("%Y%m%dT%H%M%S%.6fZ").to_string();
    assert!(a.contains(&stamp), "{a}");
}

#[test]
fn versions_compare_by_major() {
    assert_eq!(
        Major::from_version_output("pg_dump (PostgreSQL) 15.4 (Debian 15.4-1.pgdg120+1)"),
        Some(Major(15, 0))
    );
    assert_eq!(
        Major::from_version_output("pg_dump (PostgreSQL) 9.6.24"),
        Some(Major(9, 6))
    );
    assert_eq!(
        Major::from_version_output("pg_dump (PostgreSQL) 17beta1"),
        Some(Major(17, 0))
    );
    assert_eq!(Major::from_version_output("nonsense"), None);
    assert_eq!(Major::from_version_num(150004), Major(15, 0));
    assert_eq!(Major::from_version_num(90624), Major(9, 6));
    assert!(Major(9, 6) < Major(15, 0));
    assert!(Major(16, 0) > Major(15, 0));
    assert_eq!(Major(9, 6).to_string(), "9.6");
}
