//! Who is calling: every request is authenticated by an [`Authenticate`] the application
//! gives the router, which turns the request's head into an [`Actor`] or a [`Rejection`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::http::problem::Problem;

/// Turns a request's head (method, URI, headers) into the [`Actor`] sending it, or
/// rejects it. Herald ships [`Jwt`] (bearer tokens), [`StaticTokens`] (for examples and
/// tests) and [`Anonymous`] (no authentication, said explicitly); an application's own is
/// an `impl` of this trait, or a function given to [`authenticate_with`].
pub trait Authenticate: Send + Sync + 'static {
    /// The actor sending the request, or why it may not.
    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Actor, Rejection>>;

    /// Whether the credentials come from a cookie, which a browser sends on its own to
    /// whatever page asks: then a request that changes something must come from an
    /// allowed `Origin` ([`Api::allow_origins`](crate::http::Api::allow_origins)).
    fn uses_cookies(&self) -> bool {
        false
    }
}

impl<A: Authenticate + ?Sized> Authenticate for Arc<A> {
    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Actor, Rejection>> {
        (**self).authenticate(request)
    }

    fn uses_cookies(&self) -> bool {
        (**self).uses_cookies()
    }
}

/// Why a request was not let in: answered as a 401 (no or bad credentials, with
/// `WWW-Authenticate: Bearer`) or a 403 (credentials fine, access not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    message: String,
}

impl Rejection {
    /// No credentials, or credentials that do not hold: 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// Credentials that hold, for an actor that may not do this: 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// What it says.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Rejection> for Problem {
    fn from(rejection: Rejection) -> Self {
        if rejection.status == StatusCode::UNAUTHORIZED {
            Problem::new(rejection.status, "unauthenticated", rejection.message)
                .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        } else {
            Problem::new(rejection.status, "forbidden", rejection.message)
        }
    }
}

/// An [`Authenticate`] from an async function of the request's headers.
///
/// ```
/// use herald::Actor;
/// use herald::http::{Rejection, authenticate_with};
/// let auth = authenticate_with(|headers| async move {
///     match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
///         Some("k-123") => Ok(Actor::new("billing-service", "acme")),
///         _ => Err(Rejection::unauthenticated("send your key in `x-api-key`")),
///     }
/// });
/// # let _ = auth;
/// ```
pub fn authenticate_with<F, Fut>(f: F) -> impl Authenticate
where
    F: Fn(HeaderMap) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Actor, Rejection>> + Send + 'static,
{
    FromFn(f)
}

struct FromFn<F>(F);

impl<F, Fut> Authenticate for FromFn<F>
where
    F: Fn(HeaderMap) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Actor, Rejection>> + Send + 'static,
{
    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Actor, Rejection>> {
        Box::pin((self.0)(request.headers.clone()))
    }
}

/// Lets every request in as one actor, without credentials: only where the application
/// says so (a service behind a gateway that authenticates, a local tool).
#[derive(Clone, Debug)]
pub struct Anonymous(Actor);

impl Anonymous {
    /// Every request is sent as `actor`.
    pub fn as_actor(actor: Actor) -> Self {
        Anonymous(actor)
    }
}

impl Authenticate for Anonymous {
    fn authenticate<'a>(&'a self, _: &'a Parts) -> BoxFuture<'a, Result<Actor, Rejection>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// Fixed tokens, each standing for an actor: `Authorization: Bearer <token>`, or a
/// cookie with [`in_cookie`](Self::in_cookie). For examples, tests and service accounts;
/// people want [`Jwt`]. Tokens are compared by their SHA-256 digests, so how long a
/// comparison takes says nothing about a token.
///
/// ```
/// use herald::Actor;
/// use herald::http::StaticTokens;
/// let tokens = StaticTokens::new()
///     .token("ada-secret", Actor::new("ada", "acme").with_role("admin"))
///     .token("bob-secret", Actor::new("bob", "globex"));
/// # let _ = tokens;
/// ```
#[derive(Clone, Debug, Default)]
pub struct StaticTokens {
    actors: HashMap<[u8; 32], Actor>,
    cookie: Option<String>,
}

impl StaticTokens {
    /// No tokens yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `token` authenticates `actor`.
    pub fn token(mut self, token: impl AsRef<[u8]>, actor: Actor) -> Self {
        self.actors.insert(digest(token.as_ref()), actor);
        self
    }

    /// Reads the token from the cookie `name` instead of the `Authorization` header (a
    /// browser session): requests that change something must then come from an allowed
    /// `Origin`.
    pub fn in_cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Authenticate for StaticTokens {
    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Actor, Rejection>> {
        let token = match &self.cookie {
            Some(name) => cookie(&request.headers, name).ok_or_else(|| {
                Rejection::unauthenticated(format!("no `{name}` cookie: sign in first"))
            }),
            None => bearer(&request.headers),
        };
        let found = token.and_then(|token| {
            self.actors
                .get(&digest(token.as_bytes()))
                .cloned()
                .ok_or_else(|| Rejection::unauthenticated("the token is not known"))
        });
        Box::pin(std::future::ready(found))
    }

    fn uses_cookies(&self) -> bool {
        self.cookie.is_some()
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, Rejection> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Rejection::unauthenticated(
            "no credentials: send `Authorization: Bearer <token>`",
        ));
    };
    let value = value.to_str().map_err(|_| {
        Rejection::unauthenticated("the `Authorization` header is not printable ASCII")
    })?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Rejection::unauthenticated(
            "the `Authorization` header is not `Bearer <token>`",
        )),
    }
}

/// The value of cookie `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// JSON Web Tokens as bearer tokens: `Authorization: Bearer <jwt>`, signed with a shared
/// secret (HS256) or a key pair (RS256, ES256, EdDSA: give the public key as PEM). The
/// token must not have expired (`exp` is required); `sub` is the actor's id, the claim
/// `tenant` its tenant and the claim `roles` (a list of strings) its roles, each
/// renameable. A token without a tenant is refused, unless [`default_tenant`](Self::default_tenant) is set.
///
/// ```
/// use herald::http::Jwt;
/// let auth = Jwt::hs256(b"a secret of at least 32 bytes, from your vault")?
///     .issuer("https://login.example.com")
///     .audience("orders-api")
///     .tenant_claim("org");
/// # let _ = auth;
/// # Ok::<(), herald::http::BadKey>(())
/// ```
#[derive(Clone)]
pub struct Jwt {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    tenant_claim: String,
    roles_claim: String,
    default_tenant: Option<String>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("algorithms", &self.validation.algorithms)
            .field("tenant_claim", &self.tenant_claim)
            .finish_non_exhaustive()
    }
}

/// A key that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the JWT key does not read: {0}")]
pub struct BadKey(#[source] jsonwebtoken::errors::Error);

impl Jwt {
    fn with(key: jsonwebtoken::DecodingKey, algorithm: jsonwebtoken::Algorithm) -> Self {
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = false;
        Jwt {
            key,
            validation,
            tenant_claim: "tenant".into(),
            roles_claim: "roles".into(),
            default_tenant: None,
        }
    }

    /// Tokens signed with HMAC-SHA256 and this shared secret.
    pub fn hs256(secret: &[u8]) -> Result<Self, BadKey> {
        let key = jsonwebtoken::DecodingKey::from_secret(secret).map_err(BadKey)?;
        Ok(Self::with(key, jsonwebtoken::Algorithm::HS256))
    }

    /// Tokens signed with RSA (RS256); `pem` is the public key.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, BadKey> {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem).map_err(BadKey)?;
        Ok(Self::with(key, jsonwebtoken::Algorithm::RS256))
    }

    /// Tokens signed with ECDSA on P-256 (ES256); `pem` is the public key.
    pub fn es256_pem(pem: &[u8]) -> Result<Self, BadKey> {
        let key = jsonwebtoken::DecodingKey::from_ec_pem(pem).map_err(BadKey)?;
        Ok(Self::with(key, jsonwebtoken::Algorithm::ES256))
    }

    /// Tokens signed with Ed25519 (EdDSA); `pem` is the public key.
    pub fn eddsa_pem(pem: &[u8]) -> Result<Self, BadKey> {
        let key = jsonwebtoken::DecodingKey::from_ed_pem(pem).map_err(BadKey)?;
        Ok(Self::with(key, jsonwebtoken::Algorithm::EdDSA))
    }

    /// The token's `iss` must be this.
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.validation.set_issuer(&[issuer]);
        self.validation.required_spec_claims.insert("iss".into());
        self
    }

    /// The token's `aud` must hold this.
    pub fn audience(mut self, audience: &str) -> Self {
        self.validation.set_audience(&[audience]);
        self.validation.validate_aud = true;
        self.validation.required_spec_claims.insert("aud".into());
        self
    }

    /// How many seconds a clock may be off when `exp` and `nbf` are checked (default 60).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.validation.leeway = seconds;
        self
    }

    /// The claim that holds the tenant (default `tenant`).
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = claim.into();
        self
    }

    /// The claim that holds the roles (default `roles`).
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.roles_claim = claim.into();
        self
    }

    /// The tenant of a token that names none (a single-tenant application).
    pub fn default_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.default_tenant = Some(tenant.into());
        self
    }

    /// The actor a token stands for.
    pub fn actor(&self, token: &str) -> Result<Actor, Rejection> {
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &self.key,
            &self.validation,
        )
        .map_err(|error| Rejection::unauthenticated(format!("the token does not hold: {error}")))?;
        let claims = data.claims;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let id = text("sub").ok_or_else(|| Rejection::unauthenticated("the token has no `sub`"))?;
        let tenant = match (text(&self.tenant_claim), &self.default_tenant) {
            (Some(tenant), _) => tenant.to_owned(),
            (None, Some(tenant)) => tenant.clone(),
            (None, None) => {
                return Err(Rejection::unauthenticated(format!(
                    "the token has no `{}` claim naming its tenant",
                    self.tenant_claim
                )));
            }
        };
        let mut actor = Actor::new(id, tenant);
        match claims.get(&self.roles_claim) {
            None => {}
            Some(serde_json::Value::Array(roles)) => {
                for role in roles {
                    let role = role.as_str().ok_or_else(|| {
                        Rejection::unauthenticated(format!(
                            "the token's `{}` are not all strings",
                            self.roles_claim
                        ))
                    })?;
                    actor = actor.with_role(role);
                }
            }
            Some(_) => {
                return Err(Rejection::unauthenticated(format!(
                    "the token's `{}` claim is not a list of strings",
                    self.roles_claim
                )));
            }
        }
        Ok(actor)
    }
}

impl Authenticate for Jwt {
    fn authenticate<'a>(&'a self, request: &'a Parts) -> BoxFuture<'a, Result<Actor, Rejection>> {
        let actor = bearer(&request.headers).and_then(|token| self.actor(token));
        Box::pin(std::future::ready(actor))
    }
}
