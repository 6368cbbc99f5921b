use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
    email: String,
}

fn main() {
    let event = UserCreated { user_id: 42, email: "a@example.com".into() };
    assert_eq!(event.route().unwrap().as_str(), "user.42.created");
    assert_eq!(<UserCreated as Event>::NAME, "UserCreated");
    assert!(herald::Registry::all().event_names().any(|n| n == "UserCreated"));
}
