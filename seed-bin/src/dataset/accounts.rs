//! Tenants' accounts, engagements, users and tags: their ids and who plays which role.

use super::{Dataset, Tenant};
use crate::ids::id;
use domain::enums::{AccessLevel, UserRole};
use uuid::Uuid;

/// The id of an engagement.
pub fn engagement_id(tenant: &str, name: &str) -> Uuid {
    id("engagement", &format!("{tenant}/{name}"))
}

/// The id of a user from the email.
pub fn user_id(email: &str) -> Uuid {
    id("user", email)
}

/// The id of a tag.
pub fn tag_id(tenant: &str, name: &str) -> Uuid {
    id("tag", &format!("{tenant}/{name}"))
}

/// The main engagement of a tenant (the first listed).
pub fn main_engagement(ctx: &Dataset, t: &Tenant) -> (Uuid, String) {
    let name = engagements(ctx, t)
        .into_iter()
        .next()
        .unwrap_or_else(|| format!("{} Cloud Migration", t.slug));
    (engagement_id(&t.slug, &name), name)
}

pub fn engagements(ctx: &Dataset, t: &Tenant) -> Vec<String> {
    match ctx.core.file.accounts.get(t.index) {
        Some(a) if t.index < 1000 => a.engagements.clone(),
        _ => vec![format!("{} Cloud Migration", display_name(t))],
    }
}

pub fn display_name(t: &Tenant) -> String {
    t.slug
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A user of the plan: (email, name, role, access, idp id).
pub struct PlannedUser {
    pub email: String,
    pub name: String,
    pub role: UserRole,
    pub access: AccessLevel,
    pub idp_id: String,
}

fn role(s: &str) -> UserRole {
    match s {
        "PLATFORM_ADMIN" => UserRole::PlatformAdmin,
        "CLIENT_ADMIN" => UserRole::ClientAdmin,
        "ENGAGEMENT_MANAGER" => UserRole::EngagementManager,
        "ANALYST" => UserRole::Analyst,
        _ => UserRole::Viewer,
    }
}

fn access(s: &str) -> AccessLevel {
    match s {
        "ADMIN" => AccessLevel::Admin,
        "READ_WRITE" => AccessLevel::ReadWrite,
        _ => AccessLevel::ReadOnly,
    }
}

/// The users of a tenant: from the core file, or (synthetic tenants) the main tenant's users
/// with the tenant's own domain.
pub fn users(ctx: &Dataset, t: &Tenant) -> Vec<PlannedUser> {
    let main = ctx.core.main_account().slug.get_ref().clone();
    let (source, rewrite) = if t.index < 1000 {
        (t.slug.clone(), None)
    } else {
        (main, Some(t.slug.clone()))
    };
    ctx.core
        .file
        .users
        .iter()
        .filter(|u| u.account.get_ref() == &source)
        .map(|u| {
            let email = match &rewrite {
                Some(slug) => format!(
                    "{}@{slug}.example",
                    u.email.get_ref().split('@').next().unwrap_or("user")
                ),
                None => u.email.get_ref().to_lowercase(),
            };
            let idp_id = match &rewrite {
                Some(slug) => format!("{}-{slug}", u.idp_id.get_ref()),
                None => u.idp_id.get_ref().clone(),
            };
            PlannedUser {
                email,
                name: u.name.clone(),
                role: role(u.role.get_ref()),
                access: access(u.access.get_ref()),
                idp_id,
            }
        })
        .collect()
}

/// The analyst (or first) user of a tenant, who reviews mappings and runs assessments.
pub fn analyst(ctx: &Dataset, t: &Tenant) -> Option<Uuid> {
    let us = users(ctx, t);
    us.iter()
        .find(|u| u.role == UserRole::Analyst)
        .or(us.as_slice().first())
        .map(|u| user_id(&u.email))
}

/// The engagement manager (or first) user of a tenant, who starts flows and imports.
pub fn manager(ctx: &Dataset, t: &Tenant) -> Option<Uuid> {
    let us = users(ctx, t);
    us.iter()
        .find(|u| u.role == UserRole::EngagementManager)
        .or(us.as_slice().first())
        .map(|u| user_id(&u.email))
}
