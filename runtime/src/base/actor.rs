//! Who sends a command: an id, a tenant and roles.

use serde::{Deserialize, Serialize};

/// Who sends a command. A stream belongs to its tenant: an actor only loads and appends
/// to its own tenant's streams. A command that declares `roles` needs an actor with one
/// of them.
///
/// ```
/// use herald::Actor;
/// let manager = Actor::new("ada", "acme").with_role("manager");
/// assert!(manager.has_role("manager"));
/// assert_eq!(Actor::system().tenant(), herald::Actor::DEFAULT_TENANT);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    id: String,
    tenant: String,
    roles: Vec<String>,
}

impl Actor {
    /// The tenant of a single-tenant application, and of [`Actor::system`].
    pub const DEFAULT_TENANT: &'static str = "default";

    /// An actor without roles.
    pub fn new(id: impl Into<String>, tenant: impl Into<String>) -> Self {
        Actor {
            id: id.into(),
            tenant: tenant.into(),
            roles: Vec::new(),
        }
    }

    /// The actor of a dispatch that names none: id `system`, the default tenant, no roles
    /// (so it cannot send a command that declares roles).
    pub fn system() -> Self {
        Actor::new("system", Self::DEFAULT_TENANT)
    }

    /// Adds a role.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// The actor's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The actor's tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The actor's roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Whether the actor has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the actor may send a command that allows `roles` (empty: anyone).
    pub fn may_send(&self, roles: &[&str]) -> bool {
        roles.is_empty() || roles.iter().any(|role| self.has_role(role))
    }
}

impl Default for Actor {
    fn default() -> Self {
        Actor::system()
    }
}
