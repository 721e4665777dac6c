//! [`Field`]: one column value of a bulk row, encoded by tokio-postgres' binary `ToSql`.
//!
//! Rows hand out `Field`s by value (a small enum, no boxing per field): `BinaryCopyInWriter`
//! accepts any `ToSql` value, and a `Field` borrowing the row's strings and JSON costs no copy.
//! PostgreSQL enums and `inet` need their own encoding here: tokio-postgres has no `ToSql` for
//! enum labels (enum OIDs differ per database, so the column type comes from the server) nor for
//! `ipnet::IpNet`.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ipnet::IpNet;
use std::error::Error as StdError;
use std::net::IpAddr;
use tokio_postgres::types::{IsNull, Kind, ToSql, Type};
use uuid::Uuid;

type EncodeResult = Result<IsNull, Box<dyn StdError + Sync + Send>>;

/// One value of a bulk row. Build it with `.into()` from the usual Rust types
/// (`Option<T>` gives `NULL` for `None`), or with [`Field::Enum`] for a PostgreSQL enum label.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    /// SQL `NULL`.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `smallint`.
    I16(i16),
    /// `integer`.
    I32(i32),
    /// `bigint`.
    I64(i64),
    /// `real`.
    F32(f32),
    /// `double precision`.
    F64(f64),
    /// `text` / `varchar`.
    Text(&'a str),
    /// `uuid`.
    Uuid(Uuid),
    /// `jsonb` / `json`.
    Json(&'a serde_json::Value),
    /// `timestamptz`.
    Timestamptz(DateTime<Utc>),
    /// `timestamp` (without time zone).
    Timestamp(NaiveDateTime),
    /// `date`.
    Date(NaiveDate),
    /// A label of a PostgreSQL enum type; checked against the column's labels before sending.
    Enum(&'a str),
    /// `inet` (or `cidr`).
    Inet(IpNet),
    /// `text[]`.
    TextArray(&'a [String]),
    /// `bytea`.
    Bytes(&'a [u8]),
    /// Any other type tokio-postgres can encode (e.g. `Vec<i32>` for `integer[]`).
    Dyn(&'a (dyn ToSql + Sync)),
}

/// `inet` binary layout (PostgreSQL `network_send`): family, prefix bits, is-cidr, address
/// length, address bytes. Families are PostgreSQL's own numbers, not the OS's AF_INET.
fn encode_inet(net: &IpNet, ty: &Type, out: &mut BytesMut) {
    const PGSQL_AF_INET: u8 = 2;
    const PGSQL_AF_INET6: u8 = 3;
    let is_cidr = u8::from(*ty == Type::CIDR);
    match net {
        IpNet::V4(n) => {
            out.put_u8(PGSQL_AF_INET);
            out.put_u8(n.prefix_len());
            out.put_u8(is_cidr);
            out.put_u8(4);
            out.put_slice(&n.addr().octets());
        }
        IpNet::V6(n) => {
            out.put_u8(PGSQL_AF_INET6);
            out.put_u8(n.prefix_len());
            out.put_u8(is_cidr);
            out.put_u8(16);
            out.put_slice(&n.addr().octets());
        }
    }
}

fn check_enum(label: &str, ty: &Type) -> Result<(), Box<dyn StdError + Sync + Send>> {
    match ty.kind() {
        Kind::Enum(labels) if labels.iter().any(|l| l == label) => Ok(()),
        Kind::Enum(labels) => Err(format!(
            "`{label}` is not a label of PostgreSQL enum `{}` (labels: {})",
            ty.name(),
            labels.join(", ")
        )
        .into()),
        _ => Err(format!(
            "an enum label (`{label}`) was given for a column of type `{}`, which is not an enum",
            ty.name()
        )
        .into()),
    }
}

impl Field<'_> {
    fn encode(&self, ty: &Type, out: &mut BytesMut, checked: bool) -> EncodeResult {
        macro_rules! go {
            ($v:expr) => {
                if checked {
                    $v.to_sql_checked(ty, out)
                } else {
                    $v.to_sql(ty, out)
                }
            };
        }
        match self {
            Field::Null => Ok(IsNull::Yes),
            Field::Bool(v) => go!(v),
            Field::I16(v) => go!(v),
            Field::I32(v) => go!(v),
            Field::I64(v) => go!(v),
            Field::F32(v) => go!(v),
            Field::F64(v) => go!(v),
            Field::Text(v) => go!(v),
            Field::Uuid(v) => go!(v),
            Field::Json(v) => go!(v),
            Field::Timestamptz(v) => go!(v),
            Field::Timestamp(v) => go!(v),
            Field::Date(v) => go!(v),
            Field::TextArray(v) => go!(v),
            Field::Bytes(v) => go!(v),
            // Trait objects only offer the checked call.
            Field::Dyn(v) => v.to_sql_checked(ty, out),
            Field::Enum(label) => {
                if checked {
                    check_enum(label, ty)?;
                }
                out.put_slice(label.as_bytes());
                Ok(IsNull::No)
            }
            Field::Inet(net) => {
                if checked && !matches!(*ty, Type::INET | Type::CIDR) {
                    return Err(format!(
                        "an inet value was given for a column of type `{}`",
                        ty.name()
                    )
                    .into());
                }
                encode_inet(net, ty, out);
                Ok(IsNull::No)
            }
        }
    }
}

impl ToSql for Field<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> EncodeResult {
        self.encode(ty, out, false)
    }

    /// Every variant checks its own type in `to_sql_checked`, so the enum as a whole accepts all.
    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> EncodeResult {
        self.encode(ty, out, true)
    }
}

macro_rules! from_copy {
    ($($t:ty => $v:ident),+ $(,)?) => {$(
        impl From<$t> for Field<'_> {
            fn from(v: $t) -> Self {
                Field::$v(v)
            }
        }
        impl From<&$t> for Field<'_> {
            fn from(v: &$t) -> Self {
                Field::$v(*v)
            }
        }
    )+};
}

from_copy!(
    bool => Bool, i16 => I16, i32 => I32, i64 => I64, f32 => F32, f64 => F64, Uuid => Uuid,
    DateTime<Utc> => Timestamptz, NaiveDateTime => Timestamp, NaiveDate => Date, IpNet => Inet,
);

impl From<IpAddr> for Field<'_> {
    fn from(v: IpAddr) -> Self {
        Field::Inet(IpNet::from(v))
    }
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(v: &'a str) -> Self {
        Field::Text(v)
    }
}

impl<'a> From<&'a String> for Field<'a> {
    fn from(v: &'a String) -> Self {
        Field::Text(v)
    }
}

impl<'a> From<&'a serde_json::Value> for Field<'a> {
    fn from(v: &'a serde_json::Value) -> Self {
        Field::Json(v)
    }
}

impl<'a> From<&'a [String]> for Field<'a> {
    fn from(v: &'a [String]) -> Self {
        Field::TextArray(v)
    }
}

impl<'a> From<&'a Vec<String>> for Field<'a> {
    fn from(v: &'a Vec<String>) -> Self {
        Field::TextArray(v)
    }
}

impl<'a, T: Into<Field<'a>>> From<Option<T>> for Field<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Field::Null, Into::into)
    }
}

/// Borrowed optional fields of a row: `Field::from(&row.hostname)` for an `Option<String>`.
/// (Listed type by type: a blanket `impl<T> From<&Option<T>>` sends type inference in circles.)
macro_rules! from_option_ref {
    ($($t:ty),+ $(,)?) => {$(
        impl<'a> From<&'a Option<$t>> for Field<'a> {
            fn from(v: &'a Option<$t>) -> Self {
                v.as_ref().map_or(Field::Null, Field::from)
            }
        }
    )+};
}

from_option_ref!(
    bool,
    i16,
    i32,
    i64,
    f32,
    f64,
    Uuid,
    DateTime<Utc>,
    NaiveDateTime,
    NaiveDate,
    IpNet,
    String,
    serde_json::Value,
    Vec<String>,
);

// The domain's enums travel as their database labels.
macro_rules! from_domain_enum {
    ($($e:ident),+ $(,)?) => {$(
        impl From<domain::enums::$e> for Field<'_> {
            fn from(v: domain::enums::$e) -> Self {
                Field::Enum(v.as_str())
            }
        }
        impl From<&domain::enums::$e> for Field<'_> {
            fn from(v: &domain::enums::$e) -> Self {
                Field::Enum(v.as_str())
            }
        }
        from_option_ref!(domain::enums::$e);
    )+};
}

from_domain_enum!(
    UserRole,
    AccessLevel,
    SixrStrategy,
    FlowStatus,
    ImportStatus,
    MappingStatus,
    AssetType,
    CriticalityLevel,
    AssessmentType,
    WaveStatus,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_encodes_like_postgres() {
        let mut out = BytesMut::new();
        let net: IpNet = "10.1.2.3/24".parse().expect("valid");
        Field::from(net)
            .to_sql_checked(&Type::INET, &mut out)
            .expect("encodes");
        assert_eq!(&out[..], &[2, 24, 0, 4, 10, 1, 2, 3]);
        let mut out = BytesMut::new();
        let host: IpAddr = "::1".parse().expect("valid");
        Field::from(host)
            .to_sql_checked(&Type::INET, &mut out)
            .expect("encodes");
        assert_eq!(out.len(), 4 + 16);
        assert_eq!(&out[..4], &[3, 128, 0, 16]);
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let mut out = BytesMut::new();
        assert!(
            Field::Enum("server")
                .to_sql_checked(&Type::TEXT, &mut out)
                .is_err()
        );
        assert!(Field::I32(1).to_sql_checked(&Type::TEXT, &mut out).is_err());
        let net: IpNet = "10.0.0.1/32".parse().expect("valid");
        assert!(
            Field::Inet(net)
                .to_sql_checked(&Type::TEXT, &mut out)
                .is_err()
        );
        let none: Option<i32> = None;
        assert!(matches!(Field::from(none), Field::Null));
    }
}
