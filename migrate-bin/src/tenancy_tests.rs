//! The rule on hand-built catalogs: one case per problem, and the project's layout passing.
//! The end-to-end cases (real migrations, real catalog) are in tests/migrate/tenancy.rs.

use super::*;

fn table(c: &mut Catalog, name: &str, tenant: Option<bool>) {
    c.tables.insert(name.into(), tenant);
}

fn key(c: &mut Catalog, table: &str, name: &str, kind: char, cols: &[&str]) {
    c.keys.push(Key {
        table: table.into(),
        name: name.into(),
        kind,
        columns: cols.iter().map(|s| Some(s.to_string())).collect(),
    });
}

fn fk(c: &mut Catalog, table: &str, name: &str, cols: &[&str], target: &str, tcols: &[&str]) {
    c.foreign_keys.push(ForeignKey {
        table: table.into(),
        name: name.into(),
        columns: cols.iter().map(|s| s.to_string()).collect(),
        target: target.into(),
        target_columns: tcols.iter().map(|s| s.to_string()).collect(),
        on_delete: 'c',
        on_update: 'a',
    });
}

/// A root, a global table and two tenant tables laid out as the rule wants.
fn good() -> Catalog {
    let mut c = Catalog::default();
    table(&mut c, "client_accounts", None);
    key(
        &mut c,
        "client_accounts",
        "client_accounts_pkey",
        'p',
        &["id"],
    );
    key(
        &mut c,
        "client_accounts",
        "client_accounts_slug_key",
        'u',
        &["slug"],
    );
    table(&mut c, "users", None);
    key(&mut c, "users", "users_pkey", 'p', &["id"]);
    for t in ["engagements", "assets"] {
        table(&mut c, t, Some(true));
        key(
            &mut c,
            t,
            &format!("{t}_pkey"),
            'p',
            &["client_account_id", "id"],
        );
        fk(
            &mut c,
            t,
            &format!("{t}_client_account_id_fkey"),
            &["client_account_id"],
            "client_accounts",
            &["id"],
        );
    }
    fk(
        &mut c,
        "assets",
        "assets_engagement_fkey",
        &["client_account_id", "engagement_id"],
        "engagements",
        &["client_account_id", "id"],
    );
    c
}

fn problems(c: &Catalog) -> Vec<(String, Problem)> {
    evaluate(c, &PROJECT)
        .into_iter()
        .map(|f| (f.table, f.problem))
        .collect()
}

#[test]
fn the_intended_layout_passes() {
    assert_eq!(evaluate(&good(), &PROJECT), vec![]);
}

#[test]
fn a_schema_without_the_tenant_root_is_not_checked() {
    let mut c = good();
    c.tables.remove("client_accounts");
    assert_eq!(evaluate(&c, &PROJECT), vec![]);
}

#[test]
fn a_primary_key_without_the_tenant_column_is_reported_with_its_fix() {
    let mut c = good();
    c.keys.retain(|k| k.name != "assets_pkey");
    key(&mut c, "assets", "assets_pkey", 'p', &["id"]);
    let found = evaluate(&c, &PROJECT);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "assets: primary key assets_pkey (id) does not include client_account_id; a table \
         distributed by client_account_id can only enforce keys that contain it\n  \
         fix: CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS assets_tenant ON assets \
         (client_account_id, id);\n       \
         ALTER TABLE assets DROP CONSTRAINT assets_pkey, ADD CONSTRAINT assets_pkey PRIMARY \
         KEY USING INDEX assets_tenant;"
    );
}

#[test]
fn unique_constraints_and_indexes_of_tenant_tables_need_the_column_but_shared_ones_do_not() {
    let mut c = good();
    key(&mut c, "assets", "assets_hostname_key", 'u', &["hostname"]);
    c.keys.push(Key {
        table: "assets".into(),
        name: "assets_lower_name_idx".into(),
        kind: 'i',
        columns: vec![None],
    });
    key(&mut c, "users", "users_email_key", 'u', &["email"]);
    assert_eq!(
        problems(&c),
        vec![
            ("assets".into(), Problem::Unique),
            ("assets".into(), Problem::Unique)
        ]
    );
}

#[test]
fn a_foreign_key_between_tenant_tables_must_pair_the_tenant_columns() {
    let mut c = good();
    c.foreign_keys
        .retain(|f| f.name != "assets_engagement_fkey");
    fk(
        &mut c,
        "assets",
        "assets_engagement_fkey",
        &["engagement_id"],
        "engagements",
        &["id"],
    );
    let found = evaluate(&c, &PROJECT);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].problem, Problem::ForeignKey);
    assert_eq!(
        found[0].fix[0],
        "ALTER TABLE assets DROP CONSTRAINT assets_engagement_fkey, ADD CONSTRAINT \
         assets_engagement_fkey FOREIGN KEY (client_account_id, engagement_id) REFERENCES \
         engagements (client_account_id, id) ON DELETE CASCADE NOT VALID;"
    );
    // Both columns present but crossed is no pairing either.
    c.foreign_keys
        .retain(|f| f.name != "assets_engagement_fkey");
    fk(
        &mut c,
        "assets",
        "assets_engagement_fkey",
        &["client_account_id", "engagement_id"],
        "engagements",
        &["id", "client_account_id"],
    );
    assert_eq!(problems(&c), vec![("assets".into(), Problem::ForeignKey)]);
}

#[test]
fn set_null_on_a_key_with_the_tenant_column_is_refused_even_with_a_column_list() {
    let mut c = good();
    if let Some(f) = c
        .foreign_keys
        .iter_mut()
        .find(|f| f.name == "assets_engagement_fkey")
    {
        f.on_delete = 'n';
    }
    assert_eq!(
        problems(&c),
        vec![("assets".into(), Problem::ForeignKeyAction)]
    );
    // A nullable reference to a global table without the tenant column is fine.
    fk(
        &mut c,
        "assets",
        "assets_owner_fkey",
        &["owner_id"],
        "users",
        &["id"],
    );
    if let Some(f) = c.foreign_keys.last_mut() {
        f.on_delete = 'n';
    }
    assert_eq!(problems(&c).len(), 1);
}

#[test]
fn a_table_that_references_tenant_data_without_the_column_is_tenant_owned_and_flagged() {
    let mut c = good();
    table(&mut c, "asset_notes", None);
    key(&mut c, "asset_notes", "asset_notes_pkey", 'p', &["id"]);
    fk(
        &mut c,
        "asset_notes",
        "asset_notes_asset_fkey",
        &["asset_id"],
        "assets",
        &["id"],
    );
    // ... and so is a table that only references that one.
    table(&mut c, "note_links", None);
    fk(
        &mut c,
        "note_links",
        "note_links_note_fkey",
        &["note_id"],
        "asset_notes",
        &["id"],
    );
    let found = problems(&c);
    assert!(
        found.contains(&("asset_notes".into(), Problem::MissingColumn)),
        "{found:?}"
    );
    assert!(
        found.contains(&("asset_notes".into(), Problem::PrimaryKey)),
        "{found:?}"
    );
    assert!(
        found.contains(&("asset_notes".into(), Problem::ForeignKey)),
        "{found:?}"
    );
    assert!(
        found.contains(&("note_links".into(), Problem::MissingColumn)),
        "{found:?}"
    );
}

#[test]
fn nullable_tenant_column_undeclared_tables_and_shared_tables_pointing_at_tenants() {
    let mut c = good();
    c.tables.insert("engagements".into(), Some(false));
    table(&mut c, "feature_flags", None);
    fk(
        &mut c,
        "users",
        "users_home_asset_fkey",
        &["home_asset_id"],
        "assets",
        &["id"],
    );
    assert_eq!(
        problems(&c),
        vec![
            ("engagements".into(), Problem::NullableColumn),
            ("feature_flags".into(), Problem::Undeclared),
            ("users".into(), Problem::SharedReferencesTenant),
        ]
    );
}
