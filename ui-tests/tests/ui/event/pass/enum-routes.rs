use herald::prelude::*;

#[event(name = "light-switched", version = 3)]
#[derive(Debug, PartialEq)]
enum Light {
    #[route("light.:room.on")]
    On { room: String, level: u8 },
    #[route("light.all.off")]
    AllOff,
}

fn main() {
    let on = Light::On { room: "hall".into(), level: 7 };
    assert_eq!(on.route().unwrap().as_str(), "light.hall.on");
    assert_eq!(Light::AllOff.route().unwrap().as_str(), "light.all.off");
    assert_eq!(<Light as Event>::ROUTES, ["light.:room.on", "light.all.off"]);
    assert_eq!((<Light as Event>::NAME, <Light as Event>::VERSION), ("light-switched", 3));
    // A value that is not a segment is an error, never a mangled route.
    assert!(Light::On { room: "big hall".into(), level: 1 }.route().is_err());
}
