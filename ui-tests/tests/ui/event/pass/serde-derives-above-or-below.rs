//! Serde's derives, from Herald's re-export, above or below the attribute; and none.

use herald::prelude::*;
use herald::serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(crate = "herald::serde", rename_all = "camelCase")]
#[event("user.:user_id.created")]
struct Created {
    user_id: u64,
    display_name: String,
}

#[event("user.:user_id.renamed")]
#[derive(Serialize, Deserialize)]
#[serde(crate = "herald::serde")]
struct Renamed {
    user_id: u64,
}

#[event("user.:user_id.deleted")]
#[serde(rename_all = "camelCase")]
struct Deleted {
    user_id: u64,
    deleted_by: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(crate = "herald::serde")]
#[command("create.user.:user_id")]
struct Create {
    user_id: u64,
}

#[command("rename.user.:user_id")]
#[derive(Serialize, Deserialize)]
#[serde(crate = "herald::serde")]
struct Rename {
    user_id: u64,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(crate = "herald::serde")]
#[aggregate(name = "user")]
struct User {
    name: String,
}

#[aggregate(name = "team")]
#[derive(Serialize, Deserialize, Default)]
#[serde(crate = "herald::serde")]
struct Team {
    members: u32,
}

#[aggregate]
impl User {
    #[handle]
    fn create(&self, cmd: Create) -> Result<Created, String> {
        Ok(Created { user_id: cmd.user_id, display_name: "Ada".into() })
    }
    #[handle]
    fn rename(&self, cmd: &Rename) -> Result<Renamed, String> {
        Ok(Renamed { user_id: cmd.user_id })
    }
    #[apply]
    fn created(&mut self, e: &Created) {
        self.name = e.display_name.clone();
    }
    #[apply]
    fn renamed(&mut self, _: &Renamed) {}
    #[apply]
    fn deleted(&mut self, _: &Deleted) {}
}

#[aggregate]
impl Team {}

fn main() {
    let json = herald::json::to_string(&Created { user_id: 1, display_name: "Ada".into() }).unwrap();
    assert_eq!(json, r#"{"userId":1,"displayName":"Ada"}"#);
    let back: Created = herald::json::from_str(&json).unwrap();
    assert_eq!(back, Created { user_id: 1, display_name: "Ada".into() });
    let json = herald::json::to_string(&Deleted { user_id: 1, deleted_by: "admin".into() }).unwrap();
    assert_eq!(json, r#"{"userId":1,"deletedBy":"admin"}"#);
    herald::Registry::all().check().unwrap();
}
