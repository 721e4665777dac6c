//! Rust mirrors of the PostgreSQL enum types.
//!
//! Each enum maps to its database type with diesel-derive-enum, serializes with
//! serde to the database label, and implements `Display`/`FromStr` with the same
//! label, so one spelling is used everywhere (SQL, JSON, CLI, data files).
//! `user_role` and `access_level` use upper-case labels (`ENGAGEMENT_MANAGER`,
//! `READ_WRITE`), as the identity provider and the product spec do; every other
//! type uses lower-case snake_case.

use std::fmt;
use std::str::FromStr;

/// A label that is not one of an enum's database labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {type_name} {label:?}; expected one of: {expected}")]
pub struct UnknownLabel {
    /// The PostgreSQL type name, e.g. `asset_type`.
    pub type_name: &'static str,
    /// The label that was given.
    pub label: String,
    /// The accepted labels, comma-separated.
    pub expected: String,
}

macro_rules! db_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $pg_name:literal, $type_path:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, diesel_derive_enum::DbEnum,
        )]
        #[ExistingTypePath = $type_path]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[db_rename = $label]
                #[serde(rename = $label)]
                $variant,
            )+
        }

        impl $name {
            /// Name of the PostgreSQL enum type.
            pub const PG_TYPE: &'static str = $pg_name;

            /// Every value, in the order of the PostgreSQL type's labels.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The database label of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownLabel;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($label => Ok($name::$variant),)+
                    _ => Err(UnknownLabel {
                        type_name: $pg_name,
                        label: s.to_owned(),
                        expected: [$($label),+].join(", "),
                    }),
                }
            }
        }
    };
}

db_enum! {
    /// What a user may do in a tenant (`user_role`).
    UserRole, "user_role", "crate::schema::sql_types::UserRole" {
        /// Operates the platform across tenants.
        PlatformAdmin = "PLATFORM_ADMIN",
        /// Administers one client account.
        ClientAdmin = "CLIENT_ADMIN",
        /// Runs an engagement.
        EngagementManager = "ENGAGEMENT_MANAGER",
        /// Works on discovery and assessment data.
        Analyst = "ANALYST",
        /// Reads only.
        Viewer = "VIEWER",
    }
}

db_enum! {
    /// How much a user or key may change (`access_level`).
    AccessLevel, "access_level", "crate::schema::sql_types::AccessLevel" {
        /// Read only.
        ReadOnly = "READ_ONLY",
        /// Read and write.
        ReadWrite = "READ_WRITE",
        /// Read, write and administer.
        Admin = "ADMIN",
    }
}

db_enum! {
    /// The 6R migration strategies (`sixr_strategy`).
    SixrStrategy, "sixr_strategy", "crate::schema::sql_types::SixrStrategy" {
        /// Lift and shift.
        Rehost = "rehost",
        /// Lift, tinker and shift.
        Replatform = "replatform",
        /// Re-architect.
        Refactor = "refactor",
        /// Replace with a product (e.g. SaaS).
        Repurchase = "repurchase",
        /// Decommission.
        Retire = "retire",
        /// Keep where it is.
        Retain = "retain",
    }
}

db_enum! {
    /// State of a discovery flow (`flow_status`).
    FlowStatus, "flow_status", "crate::schema::sql_types::FlowStatus" {
        /// Created, not started.
        Initialized = "initialized",
        /// Running (see `current_phase`).
        InProgress = "in_progress",
        /// Paused by a user.
        Paused = "paused",
        /// Finished.
        Completed = "completed",
        /// Stopped by an error (see `error_details`).
        Failed = "failed",
        /// Stopped by a user.
        Cancelled = "cancelled",
    }
}

db_enum! {
    /// State of a data import (`import_status`).
    ImportStatus, "import_status", "crate::schema::sql_types::ImportStatus" {
        /// Received, not processed.
        Pending = "pending",
        /// Being processed.
        InProgress = "in_progress",
        /// Processed.
        Completed = "completed",
        /// Processing failed.
        Failed = "failed",
        /// Cancelled by a user.
        Cancelled = "cancelled",
    }
}

db_enum! {
    /// Review state of a field mapping (`mapping_status`).
    MappingStatus, "mapping_status", "crate::schema::sql_types::MappingStatus" {
        /// Proposed by an agent, not yet queued for review.
        Suggested = "suggested",
        /// Waiting for review.
        Pending = "pending",
        /// Accepted.
        Approved = "approved",
        /// Refused.
        Rejected = "rejected",
    }
}

db_enum! {
    /// Kind of asset (`asset_type`).
    AssetType, "asset_type", "crate::schema::sql_types::AssetType" {
        /// An application.
        Application = "application",
        /// A physical or virtual server.
        Server = "server",
        /// A database.
        Database = "database",
        /// A load balancer, firewall, router or switch.
        NetworkDevice = "network_device",
        /// A SAN, NAS or storage array.
        StorageDevice = "storage_device",
        /// A container or container platform.
        Container = "container",
        /// Anything else.
        Other = "other",
    }
}

db_enum! {
    /// Business criticality of an asset, or risk level of an assessment (`criticality_level`).
    CriticalityLevel, "criticality_level", "crate::schema::sql_types::CriticalityLevel" {
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
        /// Critical.
        Critical = "critical",
    }
}

db_enum! {
    /// Kind of assessment (`assessment_type`).
    AssessmentType, "assessment_type", "crate::schema::sql_types::AssessmentType" {
        /// Technology, architecture and technical debt.
        Technical = "technical",
        /// Migration risk.
        Risk = "risk",
        /// Utilisation and sizing.
        Performance = "performance",
        /// Security findings.
        Security = "security",
    }
}

db_enum! {
    /// State of a migration wave (`wave_status`).
    WaveStatus, "wave_status", "crate::schema::sql_types::WaveStatus" {
        /// Scheduled.
        Planned = "planned",
        /// Migrating.
        InProgress = "in_progress",
        /// Done.
        Completed = "completed",
        /// Called off.
        Cancelled = "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy
            + fmt::Display
            + FromStr<Err = UnknownLabel>
            + PartialEq
            + fmt::Debug
            + serde::Serialize,
        T: serde::de::DeserializeOwned,
    {
        for &v in all {
            let label = v.to_string();
            assert_eq!(label.parse::<T>(), Ok(v));
            let json = serde_json::to_string(&v).expect("serializes");
            assert_eq!(json, format!("\"{label}\""));
            assert_eq!(serde_json::from_str::<T>(&json).expect("deserializes"), v);
        }
    }

    #[test]
    fn labels_round_trip() {
        round_trip(UserRole::ALL);
        round_trip(AccessLevel::ALL);
        round_trip(SixrStrategy::ALL);
        round_trip(FlowStatus::ALL);
        round_trip(ImportStatus::ALL);
        round_trip(MappingStatus::ALL);
        round_trip(AssetType::ALL);
        round_trip(CriticalityLevel::ALL);
        round_trip(AssessmentType::ALL);
        round_trip(WaveStatus::ALL);
    }

    #[test]
    fn labels_are_the_database_labels() {
        assert_eq!(UserRole::EngagementManager.as_str(), "ENGAGEMENT_MANAGER");
        assert_eq!(AccessLevel::ReadOnly.as_str(), "READ_ONLY");
        assert_eq!(AssetType::NetworkDevice.as_str(), "network_device");
        let strategies: Vec<&str> = SixrStrategy::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            strategies,
            [
                "rehost",
                "replatform",
                "refactor",
                "repurchase",
                "retire",
                "retain"
            ]
        );
    }

    /// The Rust labels, in order, are exactly the labels the migrations create.
    #[test]
    fn labels_match_the_migrations() {
        let sql: String = crate::migrations::embedded_migration_files()
            .iter()
            .map(|m| m.up_sql)
            .collect();
        let labels_of = |pg_type: &str| -> Vec<String> {
            let start = sql
                .find(&format!("CREATE TYPE {pg_type} AS ENUM ("))
                .unwrap_or_else(|| panic!("no CREATE TYPE {pg_type}"));
            let body = &sql[start..];
            let body = &body[body.find('(').expect("(") + 1..body.find(')').expect(")")];
            body.split(',')
                .map(|l| l.trim().trim_matches('\'').to_owned())
                .collect()
        };
        fn labels<T: Copy + fmt::Display>(all: &[T]) -> Vec<String> {
            all.iter().map(|v| v.to_string()).collect()
        }
        assert_eq!(labels(UserRole::ALL), labels_of(UserRole::PG_TYPE));
        assert_eq!(labels(AccessLevel::ALL), labels_of(AccessLevel::PG_TYPE));
        assert_eq!(labels(SixrStrategy::ALL), labels_of(SixrStrategy::PG_TYPE));
        assert_eq!(labels(FlowStatus::ALL), labels_of(FlowStatus::PG_TYPE));
        assert_eq!(labels(ImportStatus::ALL), labels_of(ImportStatus::PG_TYPE));
        assert_eq!(
            labels(MappingStatus::ALL),
            labels_of(MappingStatus::PG_TYPE)
        );
        assert_eq!(labels(AssetType::ALL), labels_of(AssetType::PG_TYPE));
        assert_eq!(
            labels(CriticalityLevel::ALL),
            labels_of(CriticalityLevel::PG_TYPE)
        );
        assert_eq!(
            labels(AssessmentType::ALL),
            labels_of(AssessmentType::PG_TYPE)
        );
        assert_eq!(labels(WaveStatus::ALL), labels_of(WaveStatus::PG_TYPE));
    }

    #[test]
    fn unknown_label_names_the_type_and_the_choices() {
        let err = "lift_and_shift"
            .parse::<SixrStrategy>()
            .expect_err("not a label");
        assert_eq!(
            err.to_string(),
            "unknown sixr_strategy \"lift_and_shift\"; expected one of: rehost, replatform, refactor, repurchase, retire, retain"
        );
        assert!(
            "Rehost".parse::<SixrStrategy>().is_err(),
            "labels are case-sensitive"
        );
    }
}
