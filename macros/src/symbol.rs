//! The option keys the attributes accept.

pub(crate) const AGGREGATE: &str = "aggregate";
pub(crate) const NAME: &str = "name";
pub(crate) const VERSION: &str = "version";
pub(crate) const STREAM: &str = "stream";
pub(crate) const EVENT: &str = "event";
pub(crate) const ID: &str = "id";
pub(crate) const ROLES: &str = "roles";
pub(crate) const SNAPSHOT_EVERY: &str = "snapshot_every";
pub(crate) const ROUTE: &str = "route";
pub(crate) const HANDLE: &str = "handle";
pub(crate) const APPLY: &str = "apply";
pub(crate) const FROM: &str = "from";
pub(crate) const PRIORITY: &str = "priority";
pub(crate) const CONSISTENCY: &str = "consistency";
pub(crate) const ORDERED: &str = "ordered";
pub(crate) const PARTITIONS: &str = "partitions";
pub(crate) const TABLES: &str = "tables";
pub(crate) const REVERSE: &str = "reverse";
pub(crate) const LATE: &str = "late";
/// The helper attribute of `#[derive(Aggregate)]`.
pub(crate) const HERALD: &str = "herald";
