//! The harness itself: databases are isolated and cleaned up.

use groundwork_testdb::TestDb;

#[test]
fn each_test_database_is_fresh_and_dropped_afterwards() {
    let name;
    {
        let db = TestDb::empty();
        name = db.name().to_owned();
        db.client()
            .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            .unwrap();
        assert_eq!(db.count("SELECT count(*) FROM t"), 1);
        let other = TestDb::empty();
        assert_ne!(other.name(), db.name());
        assert_eq!(
            other.count("SELECT count(*) FROM pg_tables WHERE tablename = 't'"),
            0
        );
    }
    let admin = TestDb::empty();
    assert_eq!(
        admin.count(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        )),
        0,
        "the database of a finished test must be dropped"
    );
}

#[test]
fn dumps_are_stable_for_an_unchanged_database() {
    let db = TestDb::empty();
    db.client()
        .batch_execute("CREATE TABLE t (x int primary key); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    assert_eq!(db.full_dump(), db.full_dump());
    assert!(db.schema_dump().contains("CREATE TABLE public.t"));
}
