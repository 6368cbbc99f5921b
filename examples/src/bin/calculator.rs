//! Presses keys on a calculator and prints what each key recorded, the result and the
//! trace of the last key.
//!
//! ```text
//! cargo run -p herald-examples --bin calculator               # 1 + 2 - 3 * 5 =
//! cargo run -p herald-examples --bin calculator -- "12 / 4 ="
//! ```

use herald::Herald;
use herald_examples::calculator::{Calculator, Press};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1 + 2 - 3 * 5 =".to_owned());
    let herald = Herald::builder()
        .modules(["herald_examples::calculator"])
        .build()
        .await?;
    let calculator_id = 1;
    let mut last = None;
    for key in keys.chars().filter(|c| !c.is_whitespace()) {
        match herald.dispatch(Press { calculator_id, key }).await {
            Ok(pressed) => {
                for event in pressed.events() {
                    println!(
                        "{:>3}  {:<28} {}",
                        event.version, event.route, event.payload
                    );
                }
                last = Some(pressed);
            }
            Err(refused) => println!("  -  key `{key}` refused: {refused}"),
        }
    }
    let calculator = herald.load::<Calculator>(calculator_id).await?;
    let state = calculator.state();
    println!(
        "\nkeys {}  →  result {}",
        state.keys,
        state
            .result
            .map_or_else(|| "(none yet)".to_owned(), |r| r.to_string())
    );
    if let Some(last) = last {
        println!("\ntrace of the last key:\n{}", last.trace());
    }
    Ok(())
}
