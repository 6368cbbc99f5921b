use herald::prelude::*;

#[event("user.:user_id.created")]
fn user_created() {}

fn main() {}
