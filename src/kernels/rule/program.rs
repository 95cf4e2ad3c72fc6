//! A rule's program: the nodes, the reader of the postfix program Python
//! hands over (checked again here), the interpreter, and Python's float math.
//!
//! Every operation is the IEEE 754 one that Python's float arithmetic and
//! `math` module perform, in the order Python evaluates it (no fused
//! multiply-add, no reassociation), so results are bit-identical to Python;
//! where Python raises (`1/0`, `log(0)`), the IEEE result stands instead.

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
    /// A state before the row (`prev`, or a named state's index).
    State(usize),
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

/// A rule as nodes in evaluation order, and the nodes that are the new
/// states (one per state, in order). Every operand is an earlier node of the
/// right kind (number or boolean).
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    nodes: Vec<Node>,
    inputs: usize,
    results: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Boolean,
}

impl Program {
    /// Reads the postfix program that Python's `rules.py` emits: one op name
    /// per step with its operand (the constant for `const`, the input's index
    /// for `input`, the state's index for `state`, unused otherwise; `prev`
    /// is state 0). `select` pops the condition, then the `else` value, then
    /// the `then` value. The program leaves one number per state, in order:
    /// the new states. Python has validated it; this checks it again, so
    /// malformed kwargs are an error and never a panic.
    pub fn from_postfix(
        ops: &[String],
        operands: &[f64],
        inputs: usize,
        states: usize,
    ) -> Result<Self, String> {
        if states == 0 {
            return Err("a rule needs at least one state".into());
        }
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
                "prev" => (Node::State(0), Kind::Number),
                "state" => (Node::State(index(operand, states, "state")?), Kind::Number),
                "value" => (Node::Value, Kind::Number),
                "input" => (Node::Input(index(operand, inputs, "input")?), Kind::Number),
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
        if stack.len() != states || stack.iter().any(|&node| kinds[node] != Kind::Number) {
            return Err(format!("the program must leave exactly {states} numbers"));
        }
        Ok(Self {
            nodes,
            inputs,
            results: stack,
        })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The numbers in a state.
    pub fn states(&self) -> usize {
        self.results.len()
    }

    /// The node that is each new state, in order.
    pub fn results(&self) -> &[usize] {
        &self.results
    }

    /// Writes into `next` the new states after a row from `prev`, evaluated
    /// node by node into `registers` (booleans as 0.0 and 1.0). All states
    /// update at once: every node reads the states before the row.
    pub fn step(
        &self,
        prev: &[f64],
        value: f64,
        inputs: &[f64],
        registers: &mut Vec<f64>,
        next: &mut [f64],
    ) {
        registers.clear();
        for node in &self.nodes {
            let r = |i: usize| registers[i];
            let result = match *node {
                Node::Const(c) => c,
                Node::State(i) => prev[i],
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
        for (next, &result) in next.iter_mut().zip(&self.results) {
            *next = registers[result];
        }
    }
}

/// `operand` as the index of one of `count` states or inputs.
fn index(operand: f64, count: usize, what: &str) -> Result<usize, String> {
    let index = operand as usize;
    if operand != index as f64 || index >= count {
        return Err(format!("{what} {operand} out of range"));
    }
    Ok(index)
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

#[cfg(test)]
mod tests {
    use super::Program;

    fn ops(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn malformed_programs_are_errors() {
        let cases: [(&[&str], &[f64], usize, usize); 9] = [
            (&["add"], &[0.0], 0, 1),
            (&["value", "value"], &[0.0, 0.0], 0, 1),
            (&["value", "value", "lt"], &[0.0; 3], 0, 1),
            (&["input"], &[1.0], 1, 1),
            (&["value", "not"], &[0.0; 2], 0, 1),
            (&["bogus"], &[0.0], 0, 1),
            (&["state", "value"], &[2.0, 0.0], 0, 2),
            (&["value"], &[0.0], 0, 2),
            (&[], &[], 0, 0),
        ];
        for (names, operands, inputs, states) in cases {
            assert!(
                Program::from_postfix(&ops(names), operands, inputs, states).is_err(),
                "{names:?}"
            );
        }
        assert!(Program::from_postfix(&ops(&["value"]), &[], 0, 1).is_err());
        let two = Program::from_postfix(&ops(&["state", "value"]), &[1.0, 0.0], 0, 2).unwrap();
        let mut next = [0.0; 2];
        two.step(&[3.0, 4.0], 5.0, &[], &mut Vec::new(), &mut next);
        assert_eq!(next, [4.0, 5.0]);
    }
}
