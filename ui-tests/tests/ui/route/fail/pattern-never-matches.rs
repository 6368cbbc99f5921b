use herald::prelude::*;
use herald::route::assert_can_match;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// What a typed handler's macro emits for its pattern: a handler of `UserCreated` on
// `user.:id.deleted` could never run, so the crate does not compile.
const _: () = assert_can_match("user.:id.deleted", "UserCreated", <UserCreated as Event>::ROUTES);
const _: () = assert_can_match("user.*", "UserCreated", <UserCreated as Event>::ROUTES);

fn main() {}
