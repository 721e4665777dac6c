//! Stage 01_core_entities: tenants, engagements, users and their roles, tags, and the test
//! agent API key. Everything but the key comes from the core data file.

use super::expected::{self, Expected};
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{
    Tenant, display_name, engagement_id, engagements, stage_id, tag_id, user_id, users,
};
use crate::error::{Result, SeedError};
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{date, id, ts};
use crate::write::Snapshot;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::enums::UserRole;
use domain::models::{
    NewApiKey, NewClientAccount, NewEngagement, NewTag, NewUser, NewUserAccountRole,
};
use domain::schema::api_keys;
use futures_util::future::BoxFuture;
use serde_json::json;
use uuid::Uuid;

/// Stage id.
pub const ID: &str = stage_id::CORE_ENTITIES;
/// Name of the test agent key row (natural key with the tenant).
pub const KEY_NAME: &str = "test-agent";
const TABLES: &[OwnedTable] = &[
    table("client_accounts"),
    table("engagements"),
    // A local password's hash is salted at random (SEED_DEMO_PASSWORD).
    OwnedTable {
        name: "users",
        not_fingerprinted: &["password_hash", "updated_at"],
    },
    table("user_account_roles"),
    table("tags"),
    // The key's hash and prefix are random by design; its rotation bumps updated_at.
    OwnedTable {
        name: "api_keys",
        not_fingerprinted: &["key_hash", "key_prefix", "updated_at"],
    },
];

/// The rows of every table but the key's.
struct CoreRows {
    accounts: Vec<NewClientAccount>,
    engs: Vec<NewEngagement>,
    us: Vec<NewUser>,
    roles: Vec<NewUserAccountRole>,
    tags: Vec<NewTag>,
}

fn core_rows(ctx: &Ctx, tenants: &[Tenant]) -> CoreRows {
    let at = Some(ts(ctx.as_of, 120, 9 * 3600));
    let mut accounts = Vec::new();
    let mut engs = Vec::new();
    let mut us = Vec::new();
    let mut roles = Vec::new();
    let mut tags = Vec::new();
    for t in tenants {
        let file_account = ctx
            .core
            .file
            .accounts
            .get(t.index)
            .filter(|_| t.index < 1000);
        let planned_users = users(ctx, t);
        accounts.push(NewClientAccount {
            id: t.id,
            slug: t.slug.clone(),
            name: file_account.map_or_else(|| display_name(t), |a| a.name.clone()),
            industry: Some(file_account.map_or_else(|| "Retail".into(), |a| a.industry.clone())),
            company_size: Some(file_account.map_or_else(|| "large".into(), |a| a.company_size.get_ref().clone())),
            headquarters_country: Some(file_account.map_or_else(|| "US".into(), |a| a.headquarters_country.clone())),
            primary_contact_email: planned_users.iter().find(|u| u.role == UserRole::ClientAdmin).map(|u| u.email.clone()),
            settings: json!({"timezone": "UTC", "currency": "USD", "features": {"agent_insights": true}}),
            is_active: true,
            created_at: at,
            updated_at: at,
        });
        for (i, name) in engagements(ctx, t).iter().enumerate() {
            engs.push(NewEngagement {
                id: engagement_id(&t.slug, name),
                client_account_id: t.id,
                name: name.clone(),
                description: Some(format!(
                    "Assessment and migration planning for {}",
                    display_name(t)
                )),
                status: if i == 0 {
                    "active".into()
                } else {
                    "planning".into()
                },
                start_date: Some(date(ctx.as_of, -90 + 30 * i as i64)),
                target_completion_date: Some(date(ctx.as_of, 270 + 30 * i as i64)),
                created_at: at,
                updated_at: at,
            });
        }
        for u in &planned_users {
            let uid = user_id(&u.email);
            us.push(NewUser {
                id: uid,
                external_id: u.idp_id.clone(),
                email: u.email.clone(),
                full_name: u.name.clone(),
                password_hash: None,
                is_active: true,
                last_login_at: Some(ts(ctx.as_of, 1, 8 * 3600)),
                created_at: at,
                updated_at: at,
            });
            roles.push(NewUserAccountRole {
                id: id("user_account_role", &format!("{}/{}", u.email, t.slug)),
                user_id: uid,
                client_account_id: t.id,
                engagement_id: None,
                role: u.role,
                access_level: u.access,
                is_active: true,
                created_at: at,
                updated_at: at,
            });
        }
        for tag in &ctx.core.file.tags {
            tags.push(NewTag {
                id: tag_id(&t.slug, tag.name.get_ref()),
                client_account_id: t.id,
                name: tag.name.get_ref().clone(),
                color: Some(tag.color.clone()),
                description: Some(tag.description.clone()),
                created_at: at,
                updated_at: at,
            });
        }
    }
    CoreRows {
        accounts,
        engs,
        us,
        roles,
        tags,
    }
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "tenants (3), engagements, users (4 Democorp + 1 admin per other tenant), roles, tags, the test agent API key",
    tables: TABLES,
    ..StageInfo::DEFAULT
};

/// Stage 01: see the module docs.
pub struct CoreEntities;

impl Stage for CoreEntities {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn must_run(&self, ctx: &Ctx) -> bool {
        ctx.rotate_key
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        let tenants = ctx.tenants();
        let rows = core_rows(ctx, &tenants);
        // The key's prefix and hash are random: the comparison leaves them out (TABLES).
        let key = tenants
            .as_slice()
            .first()
            .map(|t| key_row(ctx, t, String::new(), String::new()));
        vec![
            Expected::insert(&expected::CLIENT_ACCOUNTS, rows.accounts),
            Expected::insert(&expected::ENGAGEMENTS, rows.engs),
            Expected::insert(&expected::USERS, rows.us),
            Expected::insert(&expected::USER_ACCOUNT_ROLES, rows.roles),
            Expected::insert(&expected::TAGS, rows.tags),
            Expected::insert(&expected::API_KEYS, key),
        ]
    }
    fn run<'a>(
        &'a self,
        ctx: &'a StageCtx<'a>,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<StageOutput>> {
        Box::pin(async move {
            // The INSERT path: small tables, counted by comparing them before and after.
            let snapshot = Snapshot::take(conn, TABLES).await?;
            let tenants = ctx.tenants();
            let CoreRows {
                accounts,
                engs,
                us,
                roles,
                tags,
            } = core_rows(ctx, &tenants);
            // Natural keys: slug; (tenant, name); email; (user, tenant); (tenant, name).
            crate::insert_or_update!(
                conn,
                client_accounts,
                accounts,
                (slug),
                [
                    name,
                    industry,
                    company_size,
                    headquarters_country,
                    primary_contact_email,
                    settings,
                    is_active,
                    created_at,
                    updated_at
                ]
            );
            crate::insert_or_update!(
                conn,
                engagements,
                engs,
                (client_account_id, name),
                [
                    description,
                    status,
                    start_date,
                    target_completion_date,
                    created_at,
                    updated_at
                ]
            );
            crate::insert_or_update!(
                conn,
                users,
                us,
                (email),
                [
                    external_id,
                    full_name,
                    is_active,
                    last_login_at,
                    created_at,
                    updated_at
                ]
            );
            crate::insert_or_update!(
                conn,
                user_account_roles,
                roles,
                (user_id, client_account_id),
                [
                    engagement_id,
                    role,
                    access_level,
                    is_active,
                    created_at,
                    updated_at
                ]
            );
            crate::insert_or_update!(
                conn,
                tags,
                tags,
                (client_account_id, name),
                [color, description, created_at, updated_at]
            );
            if let Some(password) = &ctx.demo_password {
                set_passwords(conn, password, us.iter().map(|u| u.id).collect()).await?;
            }
            // A factory's tenant gets no API key: its plaintext would have no one to show it to.
            let secret = match tenants.as_slice().first() {
                Some(main) if main.custom.is_none() => ensure_key(ctx, conn, main).await?,
                _ => None,
            };
            Ok(StageOutput {
                counts: snapshot.counts(conn).await?,
                secret,
            })
        })
    }
}

/// Gives the users a local password: a hash that already verifies is kept (so reruns write
/// nothing); others are replaced by a fresh argon2id hash.
async fn set_passwords(conn: &mut AsyncPgConnection, password: &str, ids: Vec<Uuid>) -> Result<()> {
    use domain::schema::users;
    let current: Vec<(Uuid, Option<String>)> = users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::password_hash))
        .load(conn)
        .await?;
    for (id, hash) in current {
        if hash
            .as_deref()
            .is_some_and(|h| domain::api_key::verify(password, h))
        {
            continue;
        }
        let new =
            domain::api_key::hash(password).map_err(|e| SeedError::Internal(e.to_string()))?;
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(new))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Keeps the existing test agent key; creates one when missing or when `--rotate-key` asks,
/// and returns the new key's plaintext (shown once by the runner after the commit).
async fn ensure_key(ctx: &Ctx, conn: &mut AsyncPgConnection, t: &Tenant) -> Result<Option<String>> {
    let existing: Option<Uuid> = api_keys::table
        .filter(api_keys::client_account_id.eq(t.id))
        .filter(api_keys::name.eq(KEY_NAME))
        .select(api_keys::id)
        .first(conn)
        .await
        .optional()?;
    if existing.is_some() && !ctx.rotate_key {
        return Ok(None);
    }
    new_key(ctx, conn, t).await.map(Some)
}

/// Gives the seeded main tenant (Democorp) a new test agent key, as `--rotate-key` does for
/// that row, and returns its plaintext for the caller to show once its transaction commits.
/// For a database restored from a snapshot, whose stored key nobody knows: only this row
/// changes, so the stage's other rows (and its fingerprint) stay as the snapshot had them.
pub(crate) async fn rotate_test_key(ctx: &Ctx, conn: &mut AsyncPgConnection) -> Result<String> {
    let tenants = ctx.seeded_tenants();
    let main = tenants.as_slice().first().ok_or_else(|| {
        SeedError::Internal("the core data file has no account to give the API key to".into())
    })?;
    new_key(ctx, conn, main).await
}

/// Writes a new key into tenant `t`'s test agent row (created when missing).
async fn new_key(ctx: &Ctx, conn: &mut AsyncPgConnection, t: &Tenant) -> Result<String> {
    let key = domain::api_key::generate().map_err(|e| SeedError::Internal(e.to_string()))?;
    let hash =
        domain::api_key::hash(key.plaintext()).map_err(|e| SeedError::Internal(e.to_string()))?;
    let row = key_row(ctx, t, key.prefix().to_string(), hash);
    // Natural key: (tenant, name) (api_keys_client_account_id_name_key). A rotated key starts
    // clean: the old row's revocation and expiry must not carry over (an expiry in the past
    // would make the new key dead on arrival).
    crate::insert_or_update!(
        conn,
        api_keys,
        [row],
        (client_account_id, name),
        [key_prefix, key_hash, permissions, revoked_at, expires_at]
    );
    Ok(key.plaintext().to_string())
}

/// The key's row, given its lookup prefix and hash (random by design).
fn key_row(ctx: &Ctx, t: &Tenant, key_prefix: String, key_hash: String) -> NewApiKey {
    let at = Some(ts(ctx.as_of, 120, 9 * 3600));
    NewApiKey {
        id: id("api_key", &format!("{}/{KEY_NAME}", t.slug)),
        client_account_id: t.id,
        created_by_user_id: users(ctx, t)
            .iter()
            .find(|u| u.role == UserRole::ClientAdmin)
            .map(|u| user_id(&u.email)),
        name: KEY_NAME.into(),
        key_prefix,
        key_hash,
        permissions: json!(["read", "write", "admin"]),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        created_at: at,
        updated_at: at,
    }
}
