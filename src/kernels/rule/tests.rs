//! The rule against the built-in score and Python's semantics, and its
//! generated code against the interpreter, on random rules.

use std::mem::MaybeUninit;

use super::*;
use crate::kernels::rolling_score::{rolling_score, Decay};
use crate::kernels::scan::{
    scan, scan_keyed, scan_keyed_parallel, scan_parallel, speculate, speculate_keyed,
};
use crate::kernels::test_support::{number, pack};
use proptest::prelude::*;

/// A rule as a tree, to draw random ones and write them in postfix.
#[derive(Clone, Debug)]
enum Expr {
    Num(f64),
    State(usize),
    Value,
    Input(usize),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    If(Box<Cond>, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug)]
enum Cond {
    Compare(&'static str, Expr, Expr),
    Logic(&'static str, Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

type Postfix = (Vec<String>, Vec<f64>);

fn push(out: &mut Postfix, op: &str, operand: f64) {
    out.0.push(op.into());
    out.1.push(operand);
}

/// A tree that writes itself in postfix.
trait Emit {
    fn emit(&self, out: &mut Postfix);
}

/// `operands` in order, then `op`: an operation in postfix.
fn apply(out: &mut Postfix, op: &str, operands: &[&dyn Emit]) {
    for operand in operands {
        operand.emit(out);
    }
    push(out, op, 0.0);
}

impl Emit for Expr {
    fn emit(&self, out: &mut Postfix) {
        match self {
            Expr::Num(x) => push(out, "const", *x),
            Expr::State(i) => push(out, "state", *i as f64),
            Expr::Value => push(out, "value", 0.0),
            Expr::Input(i) => push(out, "input", *i as f64),
            Expr::Unary(op, a) => apply(out, op, &[&**a]),
            Expr::Binary(op, a, b) => apply(out, op, &[&**a, &**b]),
            Expr::If(cond, then, otherwise) => {
                apply(out, "select", &[&**then, &**otherwise, &**cond])
            }
        }
    }
}

impl Emit for Cond {
    fn emit(&self, out: &mut Postfix) {
        match self {
            Cond::Compare(op, a, b) => apply(out, op, &[a, b]),
            Cond::Logic(op, a, b) => apply(out, op, &[&**a, &**b]),
            Cond::Not(a) => apply(out, "not", &[&**a]),
        }
    }
}

/// A random expression over `inputs` inputs and `states` states.
fn expr(inputs: usize, states: usize) -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        number().prop_map(Expr::Num),
        (0..states).prop_map(Expr::State),
        Just(Expr::Value),
        (0..inputs.max(1)).prop_map(move |i| if inputs == 0 {
            Expr::Value
        } else {
            Expr::Input(i)
        }),
    ];
    leaf.prop_recursive(5, 40, 3, |inner| {
        let unary = prop::sample::select(vec!["neg", "abs", "sqrt", "exp", "log", "floor", "ceil"]);
        let binary = prop::sample::select(vec!["add", "sub", "mul", "div", "pow", "min", "max"]);
        let compare = prop::sample::select(vec!["lt", "le", "gt", "ge", "eq", "ne"]);
        let comparison =
            (compare, inner.clone(), inner.clone()).prop_map(|(op, a, b)| Cond::Compare(op, a, b));
        let cond = comparison.prop_recursive(2, 6, 2, |c| {
            prop_oneof![
                (
                    prop::sample::select(vec!["and", "or"]),
                    c.clone(),
                    c.clone()
                )
                    .prop_map(|(op, a, b)| Cond::Logic(
                        op,
                        Box::new(a),
                        Box::new(b)
                    )),
                c.prop_map(|a| Cond::Not(Box::new(a))),
            ]
        });
        prop_oneof![
            (unary, inner.clone()).prop_map(|(op, a)| Expr::Unary(op, Box::new(a))),
            (binary, inner.clone(), inner.clone()).prop_map(|(op, a, b)| Expr::Binary(
                op,
                Box::new(a),
                Box::new(b)
            )),
            (cond, inner.clone(), inner).prop_map(|(c, a, b)| Expr::If(
                Box::new(c),
                Box::new(a),
                Box::new(b)
            )),
        ]
    })
}

/// The program whose new states are `exprs`, in order.
fn program(exprs: &[Expr], inputs: usize) -> Program {
    let mut postfix = (Vec::new(), Vec::new());
    for expr in exprs {
        expr.emit(&mut postfix);
    }
    Program::from_postfix(&postfix.0, &postfix.1, inputs, exprs.len()).unwrap()
}

/// Bits, with every NaN alike: NaN payloads may differ with the order
/// in which a compiler reads a commutative operation's operands.
fn bits(xs: &[f64]) -> Vec<u64> {
    xs.iter()
        .map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() })
        .collect()
}

fn ops(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `prev * rise + value if value > prev else prev * fall`, in postfix.
fn builtin(rise: f64, fall: f64) -> Program {
    let names = [
        "prev", "const", "mul", "value", "add", "prev", "const", "mul", "value", "prev", "gt",
        "select",
    ];
    let operands = [0.0, rise, 0.0, 0.0, 0.0, 0.0, fall, 0.0, 0.0, 0.0, 0.0, 0.0];
    Program::from_postfix(&ops(&names), &operands, 0, 1).unwrap()
}

fn run(
    rule: &Rule,
    values: &[f64],
    inputs: &[&[f64]],
    mask: Option<ValidMask>,
    state: f64,
) -> Vec<f64> {
    run_from(rule, values, inputs, mask, &mut [state])
}

/// The rows' states (a state's numbers per row) from `state`, which is left
/// at the last.
fn run_from(
    rule: &Rule,
    values: &[f64],
    inputs: &[&[f64]],
    mask: Option<ValidMask>,
    state: &mut [f64],
) -> Vec<f64> {
    let rows = rule.rows(values, inputs, mask).unwrap();
    let mut out = Vec::new();
    scan(&rows, values.len(), state, &mut out);
    out
}

#[test]
fn the_generated_code_is_available_here() {
    assert!(Rule::new(builtin(0.9, 0.5)).is_compiled());
}

#[test]
fn builtin_rule_equals_rolling() {
    let values: Vec<f64> = (0..5000u64)
        .map(|i| ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % 1000) as f64 - 300.0)
        .collect();
    let valid: Vec<bool> = (0..5000).map(|i| i % 7 != 3).collect();
    let bytes = pack(&valid);
    for mask in [None, Some(ValidMask::new(&bytes, 0))] {
        let mut want = Vec::new();
        rolling_score(
            &values,
            mask,
            0.25,
            Decay {
                rise: 0.9,
                fall: 0.5,
            },
            &mut want,
        );
        for rule in [
            Rule::new(builtin(0.9, 0.5)),
            Rule::interpreted(builtin(0.9, 0.5)),
        ] {
            assert_eq!(bits(&run(&rule, &values, &[], mask, 0.25)), bits(&want));
        }
    }
}

#[test]
fn python_semantics_at_the_edges() {
    let unary_cases = [
        (Unary::Floor, -0.0, 0.0),
        (Unary::Ceil, -0.5, 0.0),
        (Unary::Floor, f64::INFINITY, f64::INFINITY),
        (Unary::Log, 0.0, f64::NEG_INFINITY),
        (Unary::Exp, 1000.0, f64::INFINITY),
        (Unary::Neg, 0.0, -0.0),
    ];
    for (op, x, want) in unary_cases {
        let name = format!("{op:?}").to_lowercase();
        let program = Program::from_postfix(&ops(&["value", &name]), &[0.0, 0.0], 0, 1).unwrap();
        for rule in [Rule::new(program.clone()), Rule::interpreted(program)] {
            let got = run(&rule, &[x], &[], None, 0.0)[0];
            assert_eq!(got.to_bits(), want.to_bits(), "{op:?}({x})");
        }
    }
    // min keeps the first unless the second is smaller: NaN first stays.
    let min = Program::from_postfix(&ops(&["value", "prev", "min"]), &[0.0; 3], 0, 1).unwrap();
    for rule in [Rule::new(min.clone()), Rule::interpreted(min)] {
        assert!(run(&rule, &[f64::NAN], &[], None, 1.0)[0].is_nan());
        assert_eq!(run(&rule, &[1.0], &[], None, f64::NAN)[0], 1.0);
        assert_eq!(
            run(&rule, &[0.0], &[], None, -0.0)[0].to_bits(),
            0.0f64.to_bits()
        );
    }
    // != is true on NaN.
    let ne = Program::from_postfix(
        &ops(&["const", "const", "value", "value", "ne", "select"]),
        &[1.0, 2.0, 0.0, 0.0, 0.0, 0.0],
        0,
        1,
    )
    .unwrap();
    for rule in [Rule::new(ne.clone()), Rule::interpreted(ne)] {
        assert_eq!(run(&rule, &[f64::NAN, 3.0], &[], None, 0.0), [1.0, 2.0]);
    }
    assert!(pow(-8.0, 1.0 / 3.0).is_nan());
    assert_eq!(pow(0.0, -1.0), f64::INFINITY);
}

#[test]
fn rules_are_compiled_once_per_process() {
    let names = ops(&["prev", "value", "add", "const", "mul"]);
    let operands = [0.0, 0.0, 0.0, 0.0, 0.0, 0.987654321];
    let a = Rule::compile(&names, &operands[1..], 0, 1).unwrap();
    let b = Rule::compile(&names, &operands[1..], 0, 1).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn a_sum_never_meets_and_runs_serially() {
    let sum = Program::from_postfix(&ops(&["prev", "value", "add"]), &[0.0; 3], 0, 1).unwrap();
    let rule = Rule::new(sum);
    let values: Vec<f64> = (0..100_000).map(|i| (i % 13) as f64 * 0.1).collect();
    let rows = rule.rows(&values, &[], None).unwrap();
    let mut out = Vec::new();
    let run = scan_parallel(&rows, values.len(), &mut [0.0], 2, &mut out);
    assert!(!run.speculated);
    assert_eq!(bits(&out), bits(&self::run(&rule, &values, &[], None, 0.0)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_code_equals_interpreter(
        (exprs, inputs) in (0usize..3, 1usize..5).prop_flat_map(|(n, w)| {
            (prop::collection::vec(expr(n, w), w), Just(n))
        }),
        rows in prop::collection::vec((number(), number(), number(), any::<bool>(), 0u32..3), 1..80),
        start in prop::collection::vec(number(), 4),
        with_mask in any::<bool>(),
        threads in 1usize..4,
    ) {
        let width = exprs.len();
        let program = program(&exprs, inputs);
        let compiled = Rule::new(program.clone());
        prop_assert!(compiled.is_compiled());
        let interpreted = Rule::interpreted(program);
        let values: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let columns: Vec<Vec<f64>> = (0..inputs)
            .map(|k| rows.iter().map(|r| if k == 0 { r.1 } else { r.2 }).collect())
            .collect();
        let columns: Vec<&[f64]> = columns.iter().map(|c| c.as_slice()).collect();
        let bytes = pack(&rows.iter().map(|r| r.3).collect::<Vec<_>>());
        let mask = with_mask.then(|| ValidMask::new(&bytes, 0));
        let ids: Vec<u32> = rows.iter().map(|r| r.4).collect();
        let start = &start[..width];
        // Three keys: the drawn start, all 1.0, all -2.0.
        let key_starts: Vec<f64> = (start.iter().copied())
            .chain(std::iter::repeat_n(1.0, width))
            .chain(std::iter::repeat_n(-2.0, width))
            .collect();

        let mut want_last = start.to_vec();
        let want = run_from(&interpreted, &values, &columns, mask, &mut want_last);
        let mut last = start.to_vec();
        prop_assert_eq!(bits(&run_from(&compiled, &values, &columns, mask, &mut last)), bits(&want));
        prop_assert_eq!(bits(&last), bits(&want_last));

        let mut want_keyed = Vec::new();
        let mut want_states = key_starts.clone();
        scan_keyed(&interpreted.rows(&values, &columns, mask).unwrap(), &ids, &mut want_states, &mut want_keyed);
        for rule in [&compiled, &interpreted] {
            let rows = rule.rows(&values, &columns, mask).unwrap();
            let mut got = Vec::new();
            let mut states = key_starts.clone();
            scan_keyed(&rows, &ids, &mut states, &mut got);
            prop_assert_eq!(bits(&got), bits(&want_keyed));
            prop_assert_eq!(bits(&states), bits(&want_states));

            let mut got = Vec::new();
            let mut states = key_starts.clone();
            scan_keyed_parallel(&rows, &ids, &mut states, threads, &mut got);
            prop_assert_eq!(bits(&got), bits(&want_keyed));
            prop_assert_eq!(bits(&states), bits(&want_states));

            let mut got = Vec::new();
            let mut last = start.to_vec();
            scan_parallel(&rows, values.len(), &mut last, threads, &mut got);
            prop_assert_eq!(bits(&got), bits(&want));
            prop_assert_eq!(bits(&last), bits(&want_last));

            // The speculative scheme itself, whatever the probe says.
            let part_len = values.len().div_ceil(threads);
            let mut got = Vec::new();
            let mut last = start.to_vec();
            speculate(&rows, values.len(), &mut last, part_len, &mut got);
            prop_assert_eq!(bits(&got), bits(&want));
            prop_assert_eq!(bits(&last), bits(&want_last));
            let mut got = Vec::new();
            let mut states = key_starts.clone();
            speculate_keyed(&rows, &ids, &mut states, part_len, &mut got);
            prop_assert_eq!(bits(&got), bits(&want_keyed));
            prop_assert_eq!(bits(&states), bits(&want_states));

            // Straight into a column per number of the state.
            let mut last = start.to_vec();
            let got = into_columns(width, values.len(), |columns| {
                rows.score_columns(0, &mut last, columns)
            });
            prop_assert_eq!(columns_bits(&got), columns_bits(&split(&want, width)));
            prop_assert_eq!(bits(&last), bits(&want_last));
            let mut states = key_starts.clone();
            let got = into_columns(width, values.len(), |columns| {
                rows.score_keyed_columns(0, &ids, &mut states, columns)
            });
            prop_assert_eq!(columns_bits(&got), columns_bits(&split(&want_keyed, width)));
            prop_assert_eq!(bits(&states), bits(&want_states));
        }
    }
}

/// A state per row side by side (`width` numbers each) as a column per number.
fn split(side_by_side: &[f64], width: usize) -> Vec<Vec<f64>> {
    (0..width)
        .map(|n| {
            side_by_side
                .iter()
                .skip(n)
                .step_by(width)
                .copied()
                .collect()
        })
        .collect()
}

fn columns_bits(columns: &[Vec<f64>]) -> Vec<Vec<u64>> {
    columns.iter().map(|column| bits(column)).collect()
}

/// What `score` writes into `width` columns of `len` slots each.
fn into_columns(width: usize, len: usize, score: impl FnOnce(&mut [&mut Slots])) -> Vec<Vec<f64>> {
    // Filled first, so that a slot left unwritten reads as this, not as
    // undefined memory.
    let unwritten = MaybeUninit::new(f64::from_bits(0x7ff8_dead_0000_0000));
    let mut columns = vec![vec![unwritten; len]; width];
    let mut slots: Vec<&mut Slots> = columns.iter_mut().map(|c| c.as_mut_slice()).collect();
    score(&mut slots);
    (columns.into_iter())
        // SAFETY: every slot was initialised above, written or not.
        .map(|column| {
            column
                .into_iter()
                .map(|slot| unsafe { slot.assume_init() })
                .collect()
        })
        .collect()
}

/// Holt's linear trend, written as a loop, against the two-state rule: the
/// states update at once, from the row's states before it.
#[test]
fn several_states_update_at_once() {
    // level: 0.3 * value + 0.7 * (level + trend)
    // trend: 0.1 * (0.3 * value + 0.7 * (level + trend) - level) + 0.9 * trend
    let level = [
        "const", "value", "mul", "const", "state", "state", "add", "mul", "add",
    ];
    let level_operands = [0.3, 0.0, 0.0, 0.7, 0.0, 1.0, 0.0, 0.0, 0.0];
    let mut names: Vec<&str> = level.to_vec();
    let mut operands: Vec<f64> = level_operands.to_vec();
    names.push("const");
    operands.push(0.1);
    names.extend(level);
    operands.extend(level_operands);
    names.extend(["state", "sub", "mul", "const", "state", "mul", "add"]);
    operands.extend([0.0, 0.0, 0.0, 0.9, 1.0, 0.0, 0.0]);
    let program = Program::from_postfix(&ops(&names), &operands, 0, 2).unwrap();
    let values: Vec<f64> = (0..100_000u64)
        .map(|i| ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % 1000) as f64 * 0.01)
        .collect();
    let (mut level, mut trend) = (1.0f64, 0.5f64);
    let mut want = Vec::new();
    for &v in &values {
        (level, trend) = (
            0.3 * v + 0.7 * (level + trend),
            0.1 * (0.3 * v + 0.7 * (level + trend) - level) + 0.9 * trend,
        );
        want.extend([level, trend]);
    }
    for rule in [Rule::new(program.clone()), Rule::interpreted(program)] {
        let mut last = [1.0, 0.5];
        let got = run_from(&rule, &values, &[], None, &mut last);
        assert_eq!(bits(&got), bits(&want));
        assert_eq!(bits(&last), bits(&[level, trend]));
        let rows = rule.rows(&values, &[], None).unwrap();
        let mut got = Vec::new();
        let mut last = [1.0, 0.5];
        let run = scan_parallel(&rows, values.len(), &mut last, 4, &mut got);
        assert!(run.speculated, "Holt's runs meet");
        assert_eq!(bits(&got), bits(&want));
        assert_eq!(bits(&last), bits(&[level, trend]));
    }
}

/// The column-by-column scores equal the side-by-side ones, one series and by
/// keys, over more rows than one block.
#[test]
fn columns_of_several_states_equal_their_rows() {
    let names = ["state", "value", "add", "state", "const", "mul"];
    let program = Program::from_postfix(&ops(&names), &[0.0, 0.0, 0.0, 1.0, 0.5, 0.0], 0, 2);
    let rule = Rule::new(program.unwrap());
    let values: Vec<f64> = (0..5000).map(|i| (i % 17) as f64 - 8.0).collect();
    let ids: Vec<u32> = (0..5000).map(|i| (i * 7 % 5) as u32).collect();
    let rows = rule.rows(&values, &[], None).unwrap();
    let mut want = Vec::new();
    let mut last = [1.0, 2.0];
    scan(&rows, values.len(), &mut last, &mut want);
    let mut one = crate::kernels::scan::States::One(vec![1.0, 2.0]);
    let got = one.advance_columns(&rows, 0, values.len());
    assert_eq!(columns_bits(&got), columns_bits(&split(&want, 2)));
    let crate::kernels::scan::States::One(one_last) = one else {
        unreachable!()
    };
    assert_eq!(bits(&one_last), bits(&last));
    let mut want = Vec::new();
    let mut states = vec![0.5; 10];
    scan_keyed(&rows, &ids, &mut states, &mut want);
    let mut keyed_states = vec![0.5; 10];
    let mut keyed = crate::kernels::scan::States::PerKey {
        ids: &ids,
        states: &mut keyed_states,
    };
    let got = keyed.advance_columns(&rows, 0, values.len());
    assert_eq!(columns_bits(&got), columns_bits(&split(&want, 2)));
    assert_eq!(bits(&keyed_states), bits(&states));
}
