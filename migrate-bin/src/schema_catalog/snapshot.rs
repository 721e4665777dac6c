//! Reading a [`Catalog`]: one query that has the server build the whole picture as one JSON
//! document, so a snapshot costs one round trip whatever the schema's size.

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::Catalog;
use crate::error::MigrateError;

/// The schema of the database `conn` is connected to, bookkeeping left out (see the module
/// documentation). Only reads.
pub(crate) async fn snapshot(conn: &mut AsyncPgConnection) -> Result<Catalog, MigrateError> {
    #[derive(diesel::QueryableByName)]
    struct Document {
        #[diesel(sql_type = Text)]
        doc: String,
    }
    let row: Document = diesel::sql_query(QUERY)
        .get_result(conn)
        .await
        .map_err(|e| MigrateError::db("reading the schema from the system catalogs", &e))?;
    serde_json::from_str(&row.doc).map_err(|e| MigrateError::Database {
        context: "reading the schema from the system catalogs".into(),
        error: format!("the catalog document did not parse: {e}"),
    })
}

/// `ns`: the application's schemas. `member`: objects that belong to an extension (compared
/// as the extension). `rel`: the application's tables, views and their kind.
const QUERY: &str = r#"
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'groundwork')
      AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp\_%'
),
member AS (
    SELECT objid FROM pg_depend WHERE deptype = 'e'
),
rel AS (
    SELECT c.oid, c.relkind, c.relpersistence, format('%I.%I', ns.nspname, c.relname) AS name
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm')
      AND c.relname <> '__diesel_schema_migrations'
      AND c.oid NOT IN (SELECT objid FROM member)
)
SELECT json_build_object(
  'extensions', (
    SELECT coalesce(json_object_agg(e.extname, json_build_object(
             'schema', n.nspname, 'version', e.extversion)), '{}')
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  ),
  'enums', (
    SELECT coalesce(json_object_agg(format('%I.%I', ns.nspname, t.typname), (
             SELECT json_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid
           )), '{}')
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.typtype = 'e' AND t.oid NOT IN (SELECT objid FROM member)
  ),
  'tables', (
    SELECT coalesce(json_object_agg(rel.name, json_build_object(
      'kind', CASE WHEN rel.relkind = 'p' THEN 'partitioned table'
                   WHEN rel.relpersistence = 'u' THEN 'unlogged table' ELSE 'table' END,
      'columns', (
        SELECT coalesce(json_agg(json_build_object(
                 'name', format('%I', a.attname),
                 'type', format_type(a.atttypid, a.atttypmod)
                         || CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
                                 THEN ' COLLATE ' || (SELECT format('%I.%I', cn.nspname, co.collname)
                                                      FROM pg_collation co
                                                      JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                                      WHERE co.oid = a.attcollation)
                                 ELSE '' END,
                 'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                 'not_null', a.attnotnull,
                 'identity', CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END,
                 'generated', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END
               ) ORDER BY a.attnum), '[]')
        FROM pg_attribute a
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
      ),
      'constraints', (
        SELECT coalesce(json_object_agg(format('%I', k.conname), json_build_object(
                 'kind', CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
                           WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check'
                           WHEN 'x' THEN 'exclusion' ELSE 'trigger' END,
                 'definition', pg_get_constraintdef(k.oid))), '{}')
        FROM pg_constraint k WHERE k.conrelid = rel.oid
      ))), '{}')
    FROM rel WHERE rel.relkind IN ('r', 'p')
  ),
  'views', (
    SELECT coalesce(json_object_agg(rel.name, json_build_object(
             'kind', CASE rel.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
             'definition', pg_get_viewdef(rel.oid))), '{}')
    FROM rel WHERE rel.relkind IN ('v', 'm')
  ),
  'indexes', (
    SELECT coalesce(json_object_agg(format('%I.%I', ns.nspname, ic.relname), json_build_object(
             'table', rel.name,
             'definition', pg_get_indexdef(i.indexrelid),
             'valid', i.indisvalid)), '{}')
    FROM pg_index i
    JOIN rel ON rel.oid = i.indrelid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN ns ON ns.oid = ic.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k
                      WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                        AND k.contype IN ('p', 'u', 'x'))
  ),
  'functions', (
    SELECT coalesce(json_object_agg(
             format('%I.%I(%s)', ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
             json_build_object(
               'kind', CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
               'hash', md5(pg_get_functiondef(p.oid)),
               'definition', pg_get_functiondef(p.oid))), '{}')
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
    WHERE p.prokind IN ('f', 'p') AND p.oid NOT IN (SELECT objid FROM member)
  ),
  'triggers', (
    SELECT coalesce(json_object_agg(rel.name || '.' || format('%I', tg.tgname), json_build_object(
             'table', rel.name,
             'name', format('%I', tg.tgname),
             'definition', pg_get_triggerdef(tg.oid),
             'enabled', tg.tgenabled::text)), '{}')
    FROM pg_trigger tg JOIN rel ON rel.oid = tg.tgrelid
    WHERE NOT tg.tgisinternal
  )
)::text AS doc
"#;
