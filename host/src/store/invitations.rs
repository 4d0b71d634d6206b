//! Invitations to join a tenant, and the membership changes that go with them.
//!
//! An invitation is stored with the SHA-256 of its token only. Accepting it is one transaction:
//! the invitation is spent with a guarded `UPDATE … WHERE accepted_at IS NULL AND expires_at > now`
//! (so two concurrent accepts have one winner), then the account (for a new user) and the
//! membership are created. Any failure rolls the whole step back and leaves the invitation open.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::tenants::{Membership, Role};
use super::{BeginWrite, Store, StoreError, conflict_on_unique, now, on_pool};

/// An open (not yet accepted) invitation.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub tenant_id: Uuid,
    pub invitation_id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    tenant_id: Uuid,
    invitation_id: Uuid,
    email: String,
    role: String,
    invited_by: Option<Uuid>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;
    fn try_from(r: InvitationRow) -> Result<Self, StoreError> {
        let role = Role::parse(&r.role).ok_or_else(|| StoreError::Corrupt(format!("role `{}`", r.role)))?;
        Ok(Invitation {
            tenant_id: r.tenant_id,
            invitation_id: r.invitation_id,
            email: r.email,
            role,
            invited_by: r.invited_by,
            expires_at: r.expires_at,
            created_at: r.created_at,
        })
    }
}

/// Who accepts an invitation.
#[derive(Debug, Clone, Copy)]
pub enum Invitee<'a> {
    /// A new account with this password hash, for the invitation's email.
    NewAccount { password_hash: &'a str },
    /// The signed-in account with this id.
    Existing { user_id: Uuid },
}

const COLUMNS: &str = "tenant_id, invitation_id, email, role, invited_by, expires_at, created_at";
const ALREADY_MEMBER: &str = "this email already belongs to a member of the tenant";

impl Store {
    /// Stores a new invitation. Refuses (409) when the email is already a member's, or has an
    /// open invitation that has not expired; an expired one is replaced.
    pub async fn create_invitation(
        &self,
        tenant_id: Uuid,
        email: &str,
        role: Role,
        token_hash: &[u8],
        invited_by: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<Invitation, StoreError> {
        let (invitation_id, at) = (Uuid::now_v7(), now());
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            let member: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM membership m JOIN user_account u ON u.user_id = m.user_id \
                 WHERE m.tenant_id = $1 AND u.email = $2")
                .bind(tenant_id).bind(email).fetch_optional(&mut *tx).await?;
            if member.is_some() {
                return Err(StoreError::Conflict { code: "already_member", message: ALREADY_MEMBER.into() });
            }
            sqlx::query("DELETE FROM invitation WHERE tenant_id = $1 AND email = $2 AND accepted_at IS NULL AND expires_at <= $3")
                .bind(tenant_id).bind(email).bind(at).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO invitation (tenant_id, invitation_id, email, role, token_hash, invited_by, expires_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(tenant_id).bind(invitation_id).bind(email).bind(role.as_str()).bind(token_hash)
                .bind(invited_by).bind(expires_at).bind(at)
                .execute(&mut *tx).await
                .map_err(|e| conflict_on_unique(e, "already_invited",
                    "this email has an open invitation; delete it to send a new one"))?;
            tx.commit().await?;
        });
        Ok(Invitation {
            tenant_id,
            invitation_id,
            email: email.to_owned(),
            role,
            invited_by: Some(invited_by),
            expires_at,
            created_at: at,
        })
    }

    /// The tenant's open invitations (expired ones included, until replaced or deleted), oldest first.
    pub async fn list_invitations(&self, tenant_id: Uuid) -> Result<Vec<Invitation>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM invitation WHERE tenant_id = $1 AND accepted_at IS NULL ORDER BY created_at, invitation_id"
        ));
        let rows: Vec<InvitationRow> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_all(p).await?);
        rows.into_iter().map(Invitation::try_from).collect()
    }

    /// Withdraws an open invitation.
    pub async fn delete_invitation(&self, tenant_id: Uuid, invitation_id: Uuid) -> Result<(), StoreError> {
        let sql = "DELETE FROM invitation WHERE tenant_id = $1 AND invitation_id = $2 AND accepted_at IS NULL";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(invitation_id).execute(p).await?.rows_affected());
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Spends the invitation with this token digest and makes `invitee` a member with its role.
    ///
    /// - [`StoreError::NotFound`]: no open, unexpired invitation has this token.
    /// - `Conflict account_exists`: a new account was asked for, but the email has one.
    /// - `Conflict wrong_account`: the signed-in account's email is not the invited one.
    /// - `Conflict already_member`: the account already belongs to the tenant.
    pub async fn accept_invitation(
        &self,
        tenant_id: Uuid,
        token_hash: &[u8],
        invitee: Invitee<'_>,
    ) -> Result<Membership, StoreError> {
        let at = now();
        let user_id = on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            let spent: Option<(Uuid, String, String)> = sqlx::query_as(
                "UPDATE invitation SET accepted_at = $3 \
                 WHERE tenant_id = $1 AND token_hash = $2 AND accepted_at IS NULL AND expires_at > $3 \
                 RETURNING invitation_id, email, role")
                .bind(tenant_id).bind(token_hash).bind(at).fetch_optional(&mut *tx).await?;
            let (invitation_id, email, role) = spent.ok_or(StoreError::NotFound)?;
            let user_id = match invitee {
                Invitee::NewAccount { password_hash } => {
                    let id = Uuid::now_v7();
                    sqlx::query("INSERT INTO user_account (user_id, email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
                        .bind(id).bind(&email).bind(password_hash).bind(at)
                        .execute(&mut *tx).await
                        .map_err(|e| conflict_on_unique(e, "account_exists",
                            "an account with this email exists: sign in as it and accept with its bearer token"))?;
                    id
                }
                Invitee::Existing { user_id } => {
                    let own: Option<String> = sqlx::query_scalar("SELECT email FROM user_account WHERE user_id = $1")
                        .bind(user_id).fetch_optional(&mut *tx).await?;
                    if own.as_deref() != Some(email.as_str()) {
                        return Err(StoreError::Conflict {
                            code: "wrong_account",
                            message: "this invitation is for another email address".into(),
                        });
                    }
                    user_id
                }
            };
            sqlx::query("INSERT INTO membership (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                .bind(tenant_id).bind(user_id).bind(&role).bind(at)
                .execute(&mut *tx).await
                .map_err(|e| conflict_on_unique(e, "already_member", "this account is already a member of the tenant"))?;
            sqlx::query("UPDATE invitation SET accepted_by = $3 WHERE tenant_id = $1 AND invitation_id = $2")
                .bind(tenant_id).bind(invitation_id).bind(user_id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            user_id
        });
        self.membership(tenant_id, user_id).await
    }

    /// Changes a member's role.
    pub async fn set_member_role(&self, tenant_id: Uuid, user_id: Uuid, role: Role) -> Result<Membership, StoreError> {
        let sql = "UPDATE membership SET role = $3 WHERE tenant_id = $1 AND user_id = $2";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(user_id).bind(role.as_str()).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.membership(tenant_id, user_id).await
    }

    /// Removes a member from the tenant and revokes the refresh tokens of that membership (the
    /// account itself stays: it may belong to other tenants).
    pub async fn remove_member(&self, tenant_id: Uuid, user_id: Uuid) -> Result<(), StoreError> {
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("DELETE FROM membership WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id).bind(user_id).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("UPDATE refresh_token SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL")
                .bind(tenant_id).bind(user_id).bind(now()).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
