//! Tenants, users and memberships.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BeginWrite, Store, StoreError, conflict_on_unique, now, on_pool};

/// A member's role in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Created the tenant; may do everything.
    Owner,
    /// May manage members and connections.
    Admin,
    /// May read (not sync, not change anything).
    Member,
}

impl Role {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Owners and admins manage the tenant (members, invitations, connections, syncs).
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A user as stored (with the password hash: never serialize this).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub user_id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A user's membership in a tenant, with the tenant's name.
#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    tenant_id: Uuid,
    tenant_name: String,
    user_id: Uuid,
    email: String,
    role: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> Result<Self, StoreError> {
        let role = Role::parse(&r.role).ok_or_else(|| StoreError::Corrupt(format!("role `{}`", r.role)))?;
        Ok(Membership {
            tenant_id: r.tenant_id,
            tenant_name: r.tenant_name,
            user_id: r.user_id,
            email: r.email,
            role,
            created_at: r.created_at,
        })
    }
}

/// A tenant's own settings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantSettings {
    pub tenant_id: Uuid,
    pub name: String,
    /// At or below this, a level is low (unless the product has its own threshold).
    pub low_stock_threshold: i64,
    /// IANA time zone name.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Changes to [`TenantSettings`]; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub low_stock_threshold: Option<i64>,
    pub timezone: Option<String>,
}

const MEMBERSHIP_SELECT: &str = "SELECT m.tenant_id, t.name AS tenant_name, u.user_id, u.email, m.role, m.created_at \
     FROM membership m JOIN tenant t ON t.tenant_id = m.tenant_id JOIN user_account u ON u.user_id = m.user_id";

const EMAIL_TAKEN: &str = "an account with this email already exists";

impl Store {
    /// Creates a tenant, its owner (a new user) and the owner's membership, atomically.
    pub async fn create_tenant_with_owner(
        &self,
        company_name: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<Membership, StoreError> {
        let (tenant_id, user_id, at) = (Uuid::now_v7(), Uuid::now_v7(), now());
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO tenant (tenant_id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
                .bind(tenant_id).bind(company_name).bind(at)
                .execute(&mut *tx).await?;
            sqlx::query("INSERT INTO user_account (user_id, email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(user_id).bind(email).bind(password_hash).bind(at)
                .execute(&mut *tx).await
                .map_err(|e| conflict_on_unique(e, "email_taken", EMAIL_TAKEN))?;
            sqlx::query("INSERT INTO membership (tenant_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
                .bind(tenant_id).bind(user_id).bind(at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(Membership {
            tenant_id,
            tenant_name: company_name.to_owned(),
            user_id,
            email: email.to_owned(),
            role: Role::Owner,
            created_at: at,
        })
    }

    /// Looks a user up by (lower-cased) email.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = "SELECT user_id, email, password_hash, created_at FROM user_account WHERE email = $1";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(email).fetch_optional(p).await?))
    }

    /// Every tenant the user belongs to, oldest membership first.
    pub async fn memberships_of_user(&self, user_id: Uuid) -> Result<Vec<Membership>, StoreError> {
        let sql =
            sqlx::AssertSqlSafe(format!("{MEMBERSHIP_SELECT} WHERE m.user_id = $1 ORDER BY m.created_at, m.tenant_id"));
        let rows: Vec<MembershipRow> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(user_id).fetch_all(p).await?);
        rows.into_iter().map(Membership::try_from).collect()
    }

    /// One user's membership in one tenant.
    pub async fn membership(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Membership, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{MEMBERSHIP_SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2"));
        let row: Option<MembershipRow> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(user_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The tenant's members, oldest first.
    pub async fn list_members(&self, tenant_id: Uuid) -> Result<Vec<Membership>, StoreError> {
        let sql =
            sqlx::AssertSqlSafe(format!("{MEMBERSHIP_SELECT} WHERE m.tenant_id = $1 ORDER BY m.created_at, u.user_id"));
        let rows: Vec<MembershipRow> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_all(p).await?);
        rows.into_iter().map(Membership::try_from).collect()
    }

    /// A tenant's settings.
    pub async fn tenant(&self, tenant_id: Uuid) -> Result<TenantSettings, StoreError> {
        let sql = "SELECT tenant_id, name, low_stock_threshold, timezone, created_at, updated_at FROM tenant WHERE tenant_id = $1";
        let row = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Changes what is given of a tenant's settings.
    pub async fn update_tenant(&self, tenant_id: Uuid, changes: &TenantChanges) -> Result<TenantSettings, StoreError> {
        let sql = "UPDATE tenant SET name = COALESCE($2, name), low_stock_threshold = COALESCE($3, low_stock_threshold), \
                   timezone = COALESCE($4, timezone), updated_at = $5 WHERE tenant_id = $1";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(&changes.name)
            .bind(changes.low_stock_threshold).bind(&changes.timezone).bind(now())
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.tenant(tenant_id).await
    }
}
