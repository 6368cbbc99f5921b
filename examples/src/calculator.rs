//! A calculator that records every key pressed and computes as keys arrive: operators
//! apply left to right, so `1 + 2 - 3 * 5 =` is `((1 + 2) - 3) * 5 = 0`.

use herald::prelude::*;

/// A key was pressed: a digit, `.`, `+`, `-`, `*`, `/` or `=`.
#[event("calculator.:calculator_id.key-pressed")]
pub struct KeyPressed {
    pub calculator_id: u64,
    pub key: char,
}

/// `=` was pressed and this is the result.
#[event("calculator.:calculator_id.computed")]
pub struct Computed {
    pub calculator_id: u64,
    pub result: f64,
}

/// Press one key.
#[command("press.:calculator_id")]
pub struct Press {
    pub calculator_id: u64,
    pub key: char,
}

/// Why a key is refused; nothing is recorded.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum CalculatorError {
    #[error("`{0}` is not a calculator key; use digits, `.`, `+`, `-`, `*`, `/` or `=`")]
    UnknownKey(char),
    #[error("the number already has a `.`")]
    SecondDot,
    #[error("`{0}` needs a number before it")]
    NoNumber(char),
    #[error("division by zero")]
    DivisionByZero,
}

/// What the calculator shows and holds.
#[aggregate(name = "calculator")]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calculator {
    /// The keys pressed, in order.
    pub keys: String,
    /// The number being typed.
    pub entry: String,
    /// The value so far and the operator waiting for the next number.
    pub pending: Option<(f64, char)>,
    /// The last result of `=`.
    pub result: Option<f64>,
}

impl Calculator {
    /// The state after `key`, or why the key is refused. The handler checks a key with
    /// it; `#[apply]` replays recorded keys with it.
    fn press(&mut self, key: char) -> Result<(), CalculatorError> {
        match key {
            '0'..='9' => self.entry.push(key),
            '.' if self.entry.contains('.') => return Err(CalculatorError::SecondDot),
            '.' => self.entry.push(key),
            '+' | '-' | '*' | '/' | '=' => {
                let value = match (self.entry.parse::<f64>(), self.pending, self.result) {
                    (Ok(value), _, _) => value,
                    // `1 + -` replaces the operator.
                    (Err(_), Some((value, _)), _) if key != '=' => {
                        self.pending = Some((value, key));
                        self.keys.push(key);
                        return Ok(());
                    }
                    // `= * 2` goes on from the last result.
                    (Err(_), None, Some(result)) if key != '=' => result,
                    _ => return Err(CalculatorError::NoNumber(key)),
                };
                let value = match self.pending {
                    Some((left, op)) => compute(left, op, value)?,
                    None => value,
                };
                self.entry.clear();
                if key == '=' {
                    self.pending = None;
                    self.result = Some(value);
                } else {
                    self.pending = Some((value, key));
                }
            }
            other => return Err(CalculatorError::UnknownKey(other)),
        }
        self.keys.push(key);
        Ok(())
    }
}

fn compute(left: f64, op: char, right: f64) -> Result<f64, CalculatorError> {
    Ok(match op {
        '+' => left + right,
        '-' => left - right,
        '*' => left * right,
        _ if right == 0.0 => return Err(CalculatorError::DivisionByZero),
        _ => left / right,
    })
}

#[aggregate]
impl Calculator {
    #[handle]
    fn press_key(&self, cmd: &Press) -> Result<(KeyPressed, Option<Computed>), CalculatorError> {
        let mut next = self.clone();
        next.press(cmd.key)?;
        let pressed = KeyPressed {
            calculator_id: cmd.calculator_id,
            key: cmd.key,
        };
        let computed = (cmd.key == '=').then(|| Computed {
            calculator_id: cmd.calculator_id,
            result: next.result.expect("`=` sets the result"),
        });
        Ok((pressed, computed))
    }

    #[apply]
    fn key_pressed(&mut self, e: &KeyPressed) {
        // Recorded keys were checked by `press_key` with the same function.
        self.press(e.key).expect("a recorded key replays");
    }

    #[apply]
    fn computed(&mut self, _: &Computed) {
        // The result is already set by the `=` key.
    }
}

#[cfg(test)]
mod tests {
    use herald::testing::AggregateTest;

    use super::*;

    fn keys(id: u64, keys: &str) -> Vec<KeyPressed> {
        keys.chars()
            .filter(|c| !c.is_whitespace())
            .map(|key| KeyPressed {
                calculator_id: id,
                key,
            })
            .collect()
    }

    #[test]
    fn operators_apply_left_to_right() {
        AggregateTest::<Calculator>::given(keys(1, "1 + 2 - 3 * 5"))
            .when(Press {
                calculator_id: 1,
                key: '=',
            })
            .then_expect_events((
                KeyPressed {
                    calculator_id: 1,
                    key: '=',
                },
                Computed {
                    calculator_id: 1,
                    result: 0.0,
                },
            ))
            .then_state(|calculator| assert_eq!(calculator.keys, "1+2-3*5="));
    }

    #[test]
    fn decimals_and_division() {
        AggregateTest::<Calculator>::given(keys(1, "7.5 / 2.5"))
            .when(Press {
                calculator_id: 1,
                key: '=',
            })
            .then_expect_events((
                KeyPressed {
                    calculator_id: 1,
                    key: '=',
                },
                Computed {
                    calculator_id: 1,
                    result: 3.0,
                },
            ));
    }

    #[test]
    fn refused_keys() {
        AggregateTest::<Calculator>::given_no_events()
            .when(Press {
                calculator_id: 1,
                key: 'x',
            })
            .then_expect_error(CalculatorError::UnknownKey('x'));
        AggregateTest::<Calculator>::given(keys(1, "1.2"))
            .when(Press {
                calculator_id: 1,
                key: '.',
            })
            .then_expect_error(CalculatorError::SecondDot);
        AggregateTest::<Calculator>::given_no_events()
            .when(Press {
                calculator_id: 1,
                key: '+',
            })
            .then_expect_error(CalculatorError::NoNumber('+'));
        AggregateTest::<Calculator>::given(keys(1, "1 / 0"))
            .when(Press {
                calculator_id: 1,
                key: '=',
            })
            .then_expect_error(CalculatorError::DivisionByZero);
    }

    #[test]
    fn a_second_operator_replaces_the_first_and_results_carry_on() {
        AggregateTest::<Calculator>::given(keys(1, "6 + * 2 = * 3"))
            .when(Press {
                calculator_id: 1,
                key: '=',
            })
            .then_expect_events((
                KeyPressed {
                    calculator_id: 1,
                    key: '=',
                },
                Computed {
                    calculator_id: 1,
                    result: 36.0,
                },
            ));
    }

    #[tokio::test]
    async fn dispatching_the_keys_stores_them_and_the_result() -> Result<(), herald::Error> {
        let herald = Herald::builder()
            .modules(["herald_examples::calculator"])
            .build()
            .await?;
        let mut last = None;
        for key in "1 + 2 - 3 * 5 =".chars().filter(|c| !c.is_whitespace()) {
            last = Some(
                herald
                    .dispatch(Press {
                        calculator_id: 9,
                        key,
                    })
                    .await?,
            );
        }
        let last = last.expect("keys were pressed");
        assert_eq!(last.version(), 9, "8 keys and the result");
        assert_eq!(
            last.events()[1].decode::<Computed>().map(|c| c.result).ok(),
            Some(0.0)
        );
        let refused = herald
            .dispatch(Press {
                calculator_id: 9,
                key: '.',
            })
            .await;
        assert!(refused.is_ok(), "a new number may start with `.` after `=`");
        let calculator = herald.load::<Calculator>(9).await?;
        assert_eq!(
            (calculator.state().result, calculator.version()),
            (Some(0.0), 10)
        );
        Ok(())
    }
}
