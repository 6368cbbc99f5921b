use herald::prelude::*;

#[command("transfer.:from.:to", id = from, name = "transfer-money", roles = ["teller", "manager"])]
struct Transfer {
    from: Uuid,
    to: Uuid,
    amount: u64,
}

#[command("close.account")]
struct CloseAccount {
    id: String,
}

fn main() {
    let (from, to) = (Uuid::now_v7(), Uuid::now_v7());
    let transfer = Transfer { from, to, amount: 5 };
    assert_eq!(transfer.route().unwrap().as_str(), format!("transfer.{from}.{to}"));
    assert_eq!(transfer.aggregate_id(), from.to_string());
    assert_eq!(<Transfer as Command>::NAME, "transfer-money");
    assert_eq!(<Transfer as Command>::ROLES, ["teller", "manager"]);
    assert_eq!(CloseAccount { id: "a-1".into() }.aggregate_id(), "a-1");
    let names: Vec<_> = herald::Registry::all().command_names().collect();
    assert!(names.contains(&"transfer-money") && names.contains(&"CloseAccount"));
}
