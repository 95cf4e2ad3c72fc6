//! User-defined score rules (`scores.scan`): the program Python hands over,
//! checked again here, an interpreter for it, and the rows it scores, run by
//! machine code from [`super::rule_jit`] wherever that can be generated.
//!
//! Every operation is the IEEE 754 one that Python's float arithmetic and
//! `math` module perform, in the order Python evaluates it (no fused
//! multiply-add, no reassociation), so results are bit-identical to Python;
//! where Python raises (`1/0`, `log(0)`), the IEEE result stands instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::rule_jit::{self, Jit, JitFns};
use super::scan::{Recurrence, Slots};
use super::validity::{with_validity, Validity};
use super::ValidMask;

/// The C library's functions, which Python's float `**`, `math.exp` and
/// `math.log` call for every argument on which they do not raise.
mod libm {
    extern "C" {
        pub fn pow(x: f64, y: f64) -> f64;
        pub fn exp(x: f64) -> f64;
        pub fn log(x: f64) -> f64;
    }
}

pub fn pow(x: f64, y: f64) -> f64 {
    // SAFETY: a pure C function of two doubles.
    unsafe { libm::pow(x, y) }
}

pub fn exp(x: f64) -> f64 {
    // SAFETY: a pure C function of a double.
    unsafe { libm::exp(x) }
}

pub fn log(x: f64) -> f64 {
    // SAFETY: a pure C function of a double.
    unsafe { libm::log(x) }
}

/// The C library's functions, for the JIT to call.
pub(crate) fn libm_symbols() -> [(&'static str, *const u8); 3] {
    [
        ("pow", libm::pow as *const u8),
        ("exp", libm::exp as *const u8),
        ("log", libm::log as *const u8),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unary {
    Neg,
    Abs,
    Sqrt,
    Exp,
    Log,
    /// `float(math.floor(x))`: as C's `floor`, except that -0.0 becomes 0.0
    /// (Python's integer zero has no sign).
    Floor,
    /// `float(math.ceil(x))`, with -0.0 as 0.0 as for `Floor`.
    Ceil,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    /// Python's `min(a, b)`: `b` only if `b < a`.
    Min,
    /// Python's `max(a, b)`: `b` only if `b > a`.
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    /// True when either side is NaN, as in Python.
    Ne,
}

/// One step of a program; operands are indexes of earlier nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Node {
    Const(f64),
    Prev,
    Value,
    Input(usize),
    Unary(Unary, usize),
    Binary(Binary, usize, usize),
    /// A boolean.
    Compare(Compare, usize, usize),
    And(usize, usize),
    Or(usize, usize),
    Not(usize),
    /// `then if cond else otherwise`.
    Select {
        cond: usize,
        then: usize,
        otherwise: usize,
    },
}

/// A rule as nodes in evaluation order; the last one is the new state.
/// Every operand is an earlier node of the right kind (number or boolean).
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    nodes: Vec<Node>,
    inputs: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Boolean,
}

impl Program {
    /// Reads the postfix program that Python's `rules.py` emits: one op name
    /// per step with its operand (the constant for `const`, the input's index
    /// for `input`, unused otherwise). `select` pops the condition, then the
    /// `else` value, then the `then` value. Python has validated it; this
    /// checks it again, so malformed kwargs are an error and never a panic.
    pub fn from_postfix(ops: &[String], operands: &[f64], inputs: usize) -> Result<Self, String> {
        if ops.len() != operands.len() {
            return Err(format!(
                "{} operations but {} operands",
                ops.len(),
                operands.len()
            ));
        }
        let mut nodes = Vec::with_capacity(ops.len());
        let mut kinds = Vec::with_capacity(ops.len());
        let mut stack: Vec<usize> = Vec::new();
        for (op, &operand) in ops.iter().zip(operands) {
            let mut pop = |want: Kind| -> Result<usize, String> {
                let node = stack
                    .pop()
                    .ok_or_else(|| format!("'{op}' is missing an operand"))?;
                if kinds[node] != want {
                    return Err(format!("'{op}' got an operand of the wrong kind"));
                }
                Ok(node)
            };
            let (node, kind) = match op.as_str() {
                "const" => (Node::Const(operand), Kind::Number),
                "prev" => (Node::Prev, Kind::Number),
                "value" => (Node::Value, Kind::Number),
                "input" => {
                    let index = operand as usize;
                    if operand != index as f64 || index >= inputs {
                        return Err(format!("input {operand} out of range"));
                    }
                    (Node::Input(index), Kind::Number)
                }
                "neg" | "abs" | "sqrt" | "exp" | "log" | "floor" | "ceil" => {
                    let unary = match op.as_str() {
                        "neg" => Unary::Neg,
                        "abs" => Unary::Abs,
                        "sqrt" => Unary::Sqrt,
                        "exp" => Unary::Exp,
                        "log" => Unary::Log,
                        "floor" => Unary::Floor,
                        _ => Unary::Ceil,
                    };
                    (Node::Unary(unary, pop(Kind::Number)?), Kind::Number)
                }
                "add" | "sub" | "mul" | "div" | "pow" | "min" | "max" => {
                    let binary = match op.as_str() {
                        "add" => Binary::Add,
                        "sub" => Binary::Sub,
                        "mul" => Binary::Mul,
                        "div" => Binary::Div,
                        "pow" => Binary::Pow,
                        "min" => Binary::Min,
                        _ => Binary::Max,
                    };
                    let right = pop(Kind::Number)?;
                    let left = pop(Kind::Number)?;
                    (Node::Binary(binary, left, right), Kind::Number)
                }
                "lt" | "le" | "gt" | "ge" | "eq" | "ne" => {
                    let compare = match op.as_str() {
                        "lt" => Compare::Lt,
                        "le" => Compare::Le,
                        "gt" => Compare::Gt,
                        "ge" => Compare::Ge,
                        "eq" => Compare::Eq,
                        _ => Compare::Ne,
                    };
                    let right = pop(Kind::Number)?;
                    let left = pop(Kind::Number)?;
                    (Node::Compare(compare, left, right), Kind::Boolean)
                }
                "and" | "or" => {
                    let right = pop(Kind::Boolean)?;
                    let left = pop(Kind::Boolean)?;
                    let node = if op == "and" {
                        Node::And(left, right)
                    } else {
                        Node::Or(left, right)
                    };
                    (node, Kind::Boolean)
                }
                "not" => (Node::Not(pop(Kind::Boolean)?), Kind::Boolean),
                "select" => {
                    let cond = pop(Kind::Boolean)?;
                    let otherwise = pop(Kind::Number)?;
                    let then = pop(Kind::Number)?;
                    let node = Node::Select {
                        cond,
                        then,
                        otherwise,
                    };
                    (node, Kind::Number)
                }
                other => return Err(format!("unknown operation '{other}'")),
            };
            stack.push(nodes.len());
            nodes.push(node);
            kinds.push(kind);
        }
        match stack.as_slice() {
            [result] if kinds[*result] == Kind::Number => {}
            _ => return Err("the program must leave exactly one number".into()),
        }
        // The result is the last node pushed, since it is the only one left.
        Ok(Self { nodes, inputs })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The new state after a row, evaluated node by node into `registers`
    /// (booleans as 0.0 and 1.0).
    pub fn step(&self, prev: f64, value: f64, inputs: &[f64], registers: &mut Vec<f64>) -> f64 {
        registers.clear();
        for node in &self.nodes {
            let r = |i: usize| registers[i];
            let result = match *node {
                Node::Const(c) => c,
                Node::Prev => prev,
                Node::Value => value,
                Node::Input(i) => inputs[i],
                Node::Unary(op, a) => unary(op, r(a)),
                Node::Binary(op, a, b) => binary(op, r(a), r(b)),
                Node::Compare(op, a, b) => f64::from(u8::from(compare(op, r(a), r(b)))),
                Node::And(a, b) => f64::from(u8::from(r(a) != 0.0 && r(b) != 0.0)),
                Node::Or(a, b) => f64::from(u8::from(r(a) != 0.0 || r(b) != 0.0)),
                Node::Not(a) => f64::from(u8::from(r(a) == 0.0)),
                Node::Select {
                    cond,
                    then,
                    otherwise,
                } => {
                    if r(cond) != 0.0 {
                        r(then)
                    } else {
                        r(otherwise)
                    }
                }
            };
            registers.push(result);
        }
        registers.last().copied().unwrap_or(prev)
    }
}

/// Python's result of a one-argument operation on a float.
pub fn unary(op: Unary, x: f64) -> f64 {
    match op {
        Unary::Neg => -x,
        Unary::Abs => x.abs(),
        Unary::Sqrt => x.sqrt(),
        Unary::Exp => exp(x),
        Unary::Log => log(x),
        // Adding 0.0 turns -0.0 into 0.0 and changes nothing else.
        Unary::Floor => x.floor() + 0.0,
        Unary::Ceil => x.ceil() + 0.0,
    }
}

/// Python's result of a two-argument operation on floats.
pub fn binary(op: Binary, a: f64, b: f64) -> f64 {
    match op {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Pow => pow(a, b),
        Binary::Min => {
            if b < a {
                b
            } else {
                a
            }
        }
        Binary::Max => {
            if b > a {
                b
            } else {
                a
            }
        }
    }
}

/// Python's float comparison.
pub fn compare(op: Compare, a: f64, b: f64) -> bool {
    match op {
        Compare::Lt => a < b,
        Compare::Le => a <= b,
        Compare::Gt => a > b,
        Compare::Ge => a >= b,
        Compare::Eq => a == b,
        Compare::Ne => a != b,
    }
}

/// A program ready to run: its machine code when it could be generated
/// (else the interpreter runs it).
pub struct Rule {
    program: Program,
    jit: Option<Jit>,
}

/// Compiled rules by program, for the life of the process: `over()` calls
/// the plugin once per group, and a compile costs about a hundred times a
/// lookup. Bounded: past this many rules, new ones are compiled per call.
const CACHED_RULES: usize = 256;

type RuleKey = (Vec<String>, Vec<u64>, usize);

static RULES: Mutex<Option<HashMap<RuleKey, Arc<Rule>>>> = Mutex::new(None);

impl Rule {
    /// The rule for a postfix program (see [`Program::from_postfix`]),
    /// compiled once per process.
    pub fn compile(ops: &[String], operands: &[f64], inputs: usize) -> Result<Arc<Rule>, String> {
        let key: RuleKey = (
            ops.to_vec(),
            operands.iter().map(|x| x.to_bits()).collect(),
            inputs,
        );
        // A poisoned lock only means another compile panicked mid-way; the
        // map itself is still consistent.
        let lookup = |map: &mut Option<HashMap<RuleKey, Arc<Rule>>>| {
            map.get_or_insert_with(HashMap::new).get(&key).cloned()
        };
        if let Some(rule) = lookup(&mut RULES.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(rule);
        }
        let program = Program::from_postfix(ops, operands, inputs)?;
        let rule = Arc::new(Rule::new(program));
        let mut rules = RULES.lock().unwrap_or_else(|e| e.into_inner());
        let rules = rules.get_or_insert_with(HashMap::new);
        if rules.len() < CACHED_RULES {
            return Ok(rules.entry(key).or_insert(rule).clone());
        }
        Ok(rule)
    }

    /// Generates the machine code, or leaves the program to the interpreter
    /// when that fails (an unsupported host, or any error of the generator).
    pub fn new(program: Program) -> Self {
        let jit = rule_jit::compile(&program).ok();
        Self { program, jit }
    }

    /// The program alone, run by the interpreter.
    pub fn interpreted(program: Program) -> Self {
        Self { program, jit: None }
    }

    pub fn is_compiled(&self) -> bool {
        self.jit.is_some()
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// This rule over `values` and `inputs` (each as long as `values`), with
    /// `mask` the rows where all of them are valid.
    pub fn rows<'a>(
        &'a self,
        values: &'a [f64],
        inputs: &'a [&'a [f64]],
        mask: Option<ValidMask<'a>>,
    ) -> Result<RuleRows<'a>, String> {
        if inputs.len() != self.program.inputs {
            return Err(format!(
                "the rule reads {} inputs but got {}",
                self.program.inputs,
                inputs.len()
            ));
        }
        if let Some(input) = inputs.iter().find(|input| input.len() != values.len()) {
            return Err(format!(
                "an input has {} rows but the values have {}",
                input.len(),
                values.len()
            ));
        }
        let engine = match &self.jit {
            Some(jit) => Engine::Compiled(jit.fns(), InputPointers::new(inputs)),
            None => Engine::Interpreted(&self.program),
        };
        Ok(RuleRows {
            engine,
            values,
            inputs,
            mask,
        })
    }
}

/// The start of each input column, as the generated code reads them.
pub(crate) struct InputPointers(Vec<*const f64>);

// SAFETY: the pointers lead to immutable slices that outlive the `RuleRows`
// holding them; they are only read.
unsafe impl Sync for InputPointers {}
unsafe impl Send for InputPointers {}

impl InputPointers {
    fn new(inputs: &[&[f64]]) -> Self {
        Self(inputs.iter().map(|input| input.as_ptr()).collect())
    }

    pub(crate) fn as_ptr(&self) -> *const *const f64 {
        self.0.as_ptr()
    }
}

enum Engine<'a> {
    Compiled(JitFns, InputPointers),
    Interpreted(&'a Program),
}

/// A rule bound to its rows, to score with [`super::scan`].
pub struct RuleRows<'a> {
    engine: Engine<'a>,
    values: &'a [f64],
    inputs: &'a [&'a [f64]],
    mask: Option<ValidMask<'a>>,
}

impl RuleRows<'_> {
    /// Row `row`'s new state from `prev` by the interpreter.
    fn interpret(&self, program: &Program, row: usize, prev: f64, scratch: &mut Scratch) -> f64 {
        scratch.inputs.clear();
        scratch
            .inputs
            .extend(self.inputs.iter().map(|input| input[row]));
        program.step(
            prev,
            self.values[row],
            &scratch.inputs,
            &mut scratch.registers,
        )
    }
}

#[derive(Default)]
struct Scratch {
    inputs: Vec<f64>,
    registers: Vec<f64>,
}

impl Recurrence for RuleRows<'_> {
    fn score(&self, start: usize, state: f64, out: &mut Slots) -> f64 {
        assert!(start + out.len() <= self.values.len(), "rows out of range");
        match &self.engine {
            Engine::Compiled(fns, inputs) => {
                let call = self.call(inputs, start, out, state);
                fns.score(&call)
            }
            Engine::Interpreted(program) => {
                let mut scratch = Scratch::default();
                with_validity!(self.mask.map(|m| m.skip(start)), |valid| {
                    let mut prev = state;
                    for (i, slot) in out.iter_mut().enumerate() {
                        if valid.is_valid(i) {
                            prev = self.interpret(program, start + i, prev, &mut scratch);
                        }
                        slot.write(prev);
                    }
                    prev
                })
            }
        }
    }

    fn score_keyed(&self, start: usize, ids: &[u32], states: &mut [f64], out: &mut Slots) {
        assert!(
            start + out.len() <= self.values.len() && ids.len() == out.len(),
            "rows out of range"
        );
        assert!(
            ids.iter().all(|&id| (id as usize) < states.len()),
            "a key id beyond the states"
        );
        match &self.engine {
            Engine::Compiled(fns, inputs) => {
                let mut call = self.call(inputs, start, out, 0.0);
                call.ids = ids.as_ptr();
                call.states = states.as_mut_ptr();
                fns.score_keyed(&call);
            }
            Engine::Interpreted(program) => {
                let mut scratch = Scratch::default();
                with_validity!(self.mask.map(|m| m.skip(start)), |valid| {
                    for ((i, slot), &id) in out.iter_mut().enumerate().zip(ids) {
                        let state = &mut states[id as usize];
                        if valid.is_valid(i) {
                            *state = self.interpret(program, start + i, *state, &mut scratch);
                        }
                        slot.write(*state);
                    }
                })
            }
        }
    }
}

impl RuleRows<'_> {
    fn call(
        &self,
        inputs: &InputPointers,
        start: usize,
        out: &mut Slots,
        state: f64,
    ) -> rule_jit::Call {
        let (mask, mask_offset) = match self.mask {
            Some(mask) => (mask.bytes().as_ptr(), mask.offset()),
            None => (std::ptr::null(), 0),
        };
        rule_jit::Call {
            values: self.values.as_ptr(),
            inputs: inputs.as_ptr(),
            mask,
            mask_offset,
            start,
            len: out.len(),
            ids: std::ptr::null(),
            states: std::ptr::null_mut(),
            out: out.as_mut_ptr().cast(),
            state,
        }
    }
}

#[cfg(test)]
mod tests {
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
        Prev,
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

    impl Expr {
        fn emit(&self, out: &mut Postfix) {
            match self {
                Expr::Num(x) => push(out, "const", *x),
                Expr::Prev => push(out, "prev", 0.0),
                Expr::Value => push(out, "value", 0.0),
                Expr::Input(i) => push(out, "input", *i as f64),
                Expr::Unary(op, a) => {
                    a.emit(out);
                    push(out, op, 0.0);
                }
                Expr::Binary(op, a, b) => {
                    a.emit(out);
                    b.emit(out);
                    push(out, op, 0.0);
                }
                Expr::If(cond, then, otherwise) => {
                    then.emit(out);
                    otherwise.emit(out);
                    cond.emit(out);
                    push(out, "select", 0.0);
                }
            }
        }
    }

    impl Cond {
        fn emit(&self, out: &mut Postfix) {
            match self {
                Cond::Compare(op, a, b) => {
                    a.emit(out);
                    b.emit(out);
                    push(out, op, 0.0);
                }
                Cond::Logic(op, a, b) => {
                    a.emit(out);
                    b.emit(out);
                    push(out, op, 0.0);
                }
                Cond::Not(a) => {
                    a.emit(out);
                    push(out, "not", 0.0);
                }
            }
        }
    }

    fn expr(inputs: usize) -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            number().prop_map(Expr::Num),
            Just(Expr::Prev),
            Just(Expr::Value),
            (0..inputs.max(1)).prop_map(move |i| if inputs == 0 {
                Expr::Value
            } else {
                Expr::Input(i)
            }),
        ];
        leaf.prop_recursive(5, 40, 3, |inner| {
            let unary =
                prop::sample::select(vec!["neg", "abs", "sqrt", "exp", "log", "floor", "ceil"]);
            let binary =
                prop::sample::select(vec!["add", "sub", "mul", "div", "pow", "min", "max"]);
            let compare = prop::sample::select(vec!["lt", "le", "gt", "ge", "eq", "ne"]);
            let comparison = (compare, inner.clone(), inner.clone())
                .prop_map(|(op, a, b)| Cond::Compare(op, a, b));
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

    fn program(expr: &Expr, inputs: usize) -> Program {
        let mut postfix = (Vec::new(), Vec::new());
        expr.emit(&mut postfix);
        Program::from_postfix(&postfix.0, &postfix.1, inputs).unwrap()
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
        Program::from_postfix(&ops(&names), &operands, 0).unwrap()
    }

    fn run(
        rule: &Rule,
        values: &[f64],
        inputs: &[&[f64]],
        mask: Option<ValidMask>,
        state: f64,
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
            let program = Program::from_postfix(&ops(&["value", &name]), &[0.0, 0.0], 0).unwrap();
            for rule in [Rule::new(program.clone()), Rule::interpreted(program)] {
                let got = run(&rule, &[x], &[], None, 0.0)[0];
                assert_eq!(got.to_bits(), want.to_bits(), "{op:?}({x})");
            }
        }
        // min keeps the first unless the second is smaller: NaN first stays.
        let min = Program::from_postfix(&ops(&["value", "prev", "min"]), &[0.0; 3], 0).unwrap();
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
        )
        .unwrap();
        for rule in [Rule::new(ne.clone()), Rule::interpreted(ne)] {
            assert_eq!(run(&rule, &[f64::NAN, 3.0], &[], None, 0.0), [1.0, 2.0]);
        }
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
    }

    #[test]
    fn malformed_programs_are_errors() {
        let cases: [(&[&str], &[f64], usize); 6] = [
            (&["add"], &[0.0], 0),
            (&["value", "value"], &[0.0, 0.0], 0),
            (&["value", "value", "lt"], &[0.0; 3], 0),
            (&["input"], &[1.0], 1),
            (&["value", "not"], &[0.0; 2], 0),
            (&["bogus"], &[0.0], 0),
        ];
        for (names, operands, inputs) in cases {
            assert!(
                Program::from_postfix(&ops(names), operands, inputs).is_err(),
                "{names:?}"
            );
        }
        assert!(Program::from_postfix(&ops(&["value"]), &[], 0).is_err());
    }

    #[test]
    fn rules_are_compiled_once_per_process() {
        let names = ops(&["prev", "value", "add", "const", "mul"]);
        let operands = [0.0, 0.0, 0.0, 0.0, 0.0, 0.987654321];
        let a = Rule::compile(&names, &operands[1..], 0).unwrap();
        let b = Rule::compile(&names, &operands[1..], 0).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn a_sum_never_meets_and_runs_serially() {
        let sum = Program::from_postfix(&ops(&["prev", "value", "add"]), &[0.0; 3], 0).unwrap();
        let rule = Rule::new(sum);
        let values: Vec<f64> = (0..100_000).map(|i| (i % 13) as f64 * 0.1).collect();
        let rows = rule.rows(&values, &[], None).unwrap();
        let mut out = Vec::new();
        let run = scan_parallel(&rows, values.len(), 0.0, 2, &mut out);
        assert!(!run.speculated);
        assert_eq!(bits(&out), bits(&self::run(&rule, &values, &[], None, 0.0)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn generated_code_equals_interpreter(
            (expr, inputs) in (0usize..3).prop_flat_map(|n| (expr(n), Just(n))),
            rows in prop::collection::vec((number(), number(), number(), any::<bool>(), 0u32..3), 1..80),
            state in number(),
            with_mask in any::<bool>(),
            threads in 1usize..4,
        ) {
            let program = program(&expr, inputs);
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

            let want = run(&interpreted, &values, &columns, mask, state);
            prop_assert_eq!(bits(&run(&compiled, &values, &columns, mask, state)), bits(&want));

            let mut want_keyed = Vec::new();
            let mut want_states = vec![state, 1.0, -2.0];
            scan_keyed(&interpreted.rows(&values, &columns, mask).unwrap(), &ids, &mut want_states, &mut want_keyed);
            for rule in [&compiled, &interpreted] {
                let rows = rule.rows(&values, &columns, mask).unwrap();
                let mut got = Vec::new();
                let mut states = vec![state, 1.0, -2.0];
                scan_keyed(&rows, &ids, &mut states, &mut got);
                prop_assert_eq!(bits(&got), bits(&want_keyed));
                prop_assert_eq!(bits(&states), bits(&want_states));

                let mut got = Vec::new();
                let mut states = vec![state, 1.0, -2.0];
                scan_keyed_parallel(&rows, &ids, &mut states, threads, &mut got);
                prop_assert_eq!(bits(&got), bits(&want_keyed));
                prop_assert_eq!(bits(&states), bits(&want_states));

                let mut got = Vec::new();
                let run = scan_parallel(&rows, values.len(), state, threads, &mut got);
                prop_assert_eq!(bits(&got), bits(&want));
                prop_assert_eq!(bits(&[run.last]), bits(&[*want.last().unwrap()]));

                // The speculative scheme itself, whatever the probe says.
                let part_len = values.len().div_ceil(threads);
                let mut got = Vec::new();
                speculate(&rows, values.len(), state, part_len, &mut got);
                prop_assert_eq!(bits(&got), bits(&want));
                let mut got = Vec::new();
                let mut states = vec![state, 1.0, -2.0];
                speculate_keyed(&rows, &ids, &mut states, part_len, &mut got);
                prop_assert_eq!(bits(&got), bits(&want_keyed));
                prop_assert_eq!(bits(&states), bits(&want_states));
            }
        }
    }
}
