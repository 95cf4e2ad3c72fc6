//! Machine code for a rule's whole row loop, generated with Cranelift.
//!
//! Two functions per rule: one scores a block of rows of one series from a
//! start state, one scores a block by keys (a state per key). Each reads its
//! arguments from a [`Call`]. A state is the program's `states()` numbers,
//! side by side in `Call::state` and in each key's place in `Call::states`;
//! a row's scores go where `Call::outs` and `Call::out_stride` say (side by
//! side, or a column per number). Within a row every new state is computed
//! from the states before it, and they are stored together.
//!
//! The rule's operations are emitted one to one:
//! Cranelift neither fuses `a * b + c` nor reassociates, `**`, `exp` and
//! `log` call the C library (as Python does), and `sqrt`, `floor`, `ceil`,
//! `abs` are the exact hardware instructions; so the code computes what the
//! interpreter computes, bit for bit.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, Block, BlockArg, FuncRef, InstBuilder, MemFlagsData, Signature, UserFuncName,
    Value,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module};

use super::call::{
    JitFns, Kernel, IDS, INPUTS, LEN, MASK, MASK_OFFSET, OUTS, OUT_STRIDE, POINTER, START, STATE,
    STATES, VALUES,
};
use super::program::{libm_symbols, Binary, Compare, Node, Program, Unary};

/// A compiled rule; its code is freed when it is dropped.
pub struct Jit {
    fns: JitFns,
    module: Option<JITModule>,
}

// SAFETY: the module is touched only when the `Jit` is dropped, and the
// function pointers are plain addresses of immutable code.
unsafe impl Send for Jit {}
unsafe impl Sync for Jit {}

impl Jit {
    pub fn fns(&self) -> JitFns {
        self.fns
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: `fns` goes with `self`; every `RuleRows` that copied
            // them borrowed the `Rule` owning this `Jit`, so none is left.
            unsafe { module.free_memory() };
        }
    }
}

/// Generates the code for `program`; any failure (an unsupported host, a
/// generator error, even a panic inside Cranelift) is an `Err`, on which the
/// caller falls back to the interpreter.
pub fn compile(program: &Program) -> Result<Jit, String> {
    catch_unwind(AssertUnwindSafe(|| compile_unguarded(program)))
        .unwrap_or_else(|_| Err("the code generator panicked".into()))
}

fn compile_unguarded(program: &Program) -> Result<Jit, String> {
    let mut flags = settings::builder();
    for (name, value) in [
        ("opt_level", "speed"),
        ("use_colocated_libcalls", "false"),
        ("is_pic", "false"),
    ] {
        flags.set(name, value).map_err(|e| e.to_string())?;
    }
    let isa = cranelift_native::builder()?
        .finish(settings::Flags::new(flags))
        .map_err(|e| e.to_string())?;
    if isa.pointer_type() != types::I64 {
        return Err("only 64-bit hosts".into());
    }
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, address) in libm_symbols() {
        builder.symbol(name, address);
    }
    let mut module = JITModule::new(builder);
    let score = define(&mut module, program, "score", false)?;
    let score_keyed = define(&mut module, program, "score_keyed", true)?;
    module.finalize_definitions().map_err(|e| e.to_string())?;
    // SAFETY: both were defined with the signature `fn(*const Call)`.
    let fns = unsafe {
        JitFns {
            score: std::mem::transmute::<*const u8, Kernel>(module.get_finalized_function(score)),
            score_keyed: std::mem::transmute::<*const u8, Kernel>(
                module.get_finalized_function(score_keyed),
            ),
        }
    };
    Ok(Jit {
        fns,
        module: Some(module),
    })
}

fn define(
    module: &mut JITModule,
    program: &Program,
    name: &str,
    keyed: bool,
) -> Result<FuncId, String> {
    let mut signature = module.make_signature();
    signature.params.push(AbiParam::new(types::I64));
    let id = module
        .declare_function(name, Linkage::Local, &signature)
        .map_err(|e| e.to_string())?;
    let mut context = module.make_context();
    context.func.signature = signature;
    context.func.name = UserFuncName::user(0, id.as_u32());
    let mut functions = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut context.func, &mut functions);
        let libm = Libm::declare(module, &mut b)?;
        emit_loop(&mut b, program, &libm, keyed);
        b.seal_all_blocks();
        b.finalize(module.target_config());
    }
    define_function(module, id, &mut context)?;
    Ok(id)
}

fn define_function(
    module: &mut JITModule,
    id: FuncId,
    context: &mut Context,
) -> Result<(), String> {
    module
        .define_function(id, context)
        .map_err(|e| format!("{e:?}"))
}

/// The C library's functions, imported into one generated function.
struct Libm {
    pow: FuncRef,
    exp: FuncRef,
    log: FuncRef,
}

impl Libm {
    fn declare(module: &mut JITModule, b: &mut FunctionBuilder) -> Result<Self, String> {
        let mut import = |name: &str, arity: usize| -> Result<FuncRef, String> {
            let mut signature: Signature = module.make_signature();
            for _ in 0..arity {
                signature.params.push(AbiParam::new(types::F64));
            }
            signature.returns.push(AbiParam::new(types::F64));
            let id = module
                .declare_function(name, Linkage::Import, &signature)
                .map_err(|e| e.to_string())?;
            Ok(module.declare_func_in_func(id, b.func))
        };
        Ok(Self {
            pow: import("pow", 2)?,
            exp: import("exp", 1)?,
            log: import("log", 1)?,
        })
    }
}

/// `x` times `bytes`, by a shift where `bytes` is a power of two.
fn scaled(b: &mut FunctionBuilder, x: Value, bytes: usize) -> Value {
    if bytes.is_power_of_two() {
        b.ins().ishl_imm_u(x, i64::from(bytes.trailing_zeros()))
    } else {
        b.ins().imul_imm_u(x, bytes as i64)
    }
}

/// The function body: read the `Call`, then loop over the rows, with a
/// second copy of the loop for blocks that have a validity mask. One series
/// carries its state from row to row in the loop's block parameters; by keys
/// each row loads and stores its key's.
fn emit_loop(b: &mut FunctionBuilder, program: &Program, libm: &Libm, keyed: bool) {
    let mem = MemFlagsData::trusted();
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let call = b.block_params(entry)[0];
    let load = |b: &mut FunctionBuilder, ty, offset| b.ins().load(ty, mem, call, offset);
    let values = load(b, types::I64, VALUES);
    let inputs = load(b, types::I64, INPUTS);
    let mask = load(b, types::I64, MASK);
    let mask_offset = load(b, types::I64, MASK_OFFSET);
    let start = load(b, types::I64, START);
    let len = load(b, types::I64, LEN);
    let ids = load(b, types::I64, IDS);
    let states = load(b, types::I64, STATES);
    let outs = load(b, types::I64, OUTS);
    let out_stride = load(b, types::I64, OUT_STRIDE);
    let state_at = load(b, types::I64, STATE);
    let width = program.states();
    let outs: Vec<Value> = (0..width)
        .map(|i| b.ins().load(types::I64, mem, outs, POINTER * i as i32))
        .collect();
    let state: Vec<BlockArg> = match keyed {
        true => Vec::new(),
        false => (0..width)
            .map(|i| BlockArg::Value(b.ins().load(types::F64, mem, state_at, 8 * i as i32)))
            .collect(),
    };

    // Pointers to the block's first row, and its first validity bit.
    let start_bytes = b.ins().ishl_imm_u(start, 3);
    let values = b.ins().iadd(values, start_bytes);
    let inputs: Vec<Value> = (0..program.inputs())
        .map(|k| {
            let column = b.ins().load(types::I64, mem, inputs, POINTER * k as i32);
            b.ins().iadd(column, start_bytes)
        })
        .collect();
    let first_bit = b.ins().iadd(mask_offset, start);

    let plain = b.create_block();
    let masked = b.create_block();
    let exit = b.create_block();
    for _ in &state {
        b.append_block_param(exit, types::F64);
    }
    let check_mask = b.create_block();
    let empty = b.ins().icmp_imm_u(IntCC::Equal, len, 0);
    b.ins().brif(empty, exit, &state, check_mask, &[]);

    b.switch_to_block(check_mask);
    let zero = b.ins().iconst(types::I64, 0);
    let no_mask = b.ins().icmp_imm_u(IntCC::Equal, mask, 0);
    let args: Vec<BlockArg> = [BlockArg::Value(zero)].into_iter().chain(state).collect();
    b.ins().brif(no_mask, plain, &args, masked, &args);

    let rows = Rows {
        program,
        libm,
        values,
        inputs: &inputs,
        outs: &outs,
        out_stride,
        len,
        keyed: keyed.then_some((ids, states)),
        exit,
    };
    rows.emit(b, plain, None);
    rows.emit(b, masked, Some((mask, first_bit)));

    b.switch_to_block(exit);
    let last = b.block_params(exit).to_vec();
    for (i, &number) in last.iter().enumerate() {
        b.ins().store(mem, number, state_at, 8 * i as i32);
    }
    b.ins().return_(&[]);
}

/// What one copy of the row loop needs.
struct Rows<'a> {
    program: &'a Program,
    libm: &'a Libm,
    values: Value,
    inputs: &'a [Value],
    /// Each number's slot in the block's first row, and the bytes from a
    /// row's slots to the next's.
    outs: &'a [Value],
    out_stride: Value,
    len: Value,
    /// The key ids and the states, when scoring by keys.
    keyed: Option<(Value, Value)>,
    exit: Block,
}

impl Rows<'_> {
    /// The loop in `block`, whose parameters are the row index and (one
    /// series) the state; `mask`: the bitmap and the block's first bit.
    fn emit(&self, b: &mut FunctionBuilder, block: Block, mask: Option<(Value, Value)>) {
        let mem = MemFlagsData::trusted();
        let width = self.program.states();
        let row = b.append_block_param(block, types::I64);
        let carried: Vec<Value> = match self.keyed {
            Some(_) => Vec::new(),
            None => (0..width)
                .map(|_| b.append_block_param(block, types::F64))
                .collect(),
        };
        b.switch_to_block(block);
        let offset = b.ins().ishl_imm_u(row, 3);
        let at = |b: &mut FunctionBuilder, base: Value| b.ins().iadd(base, offset);
        let value_at = at(b, self.values);
        let value = b.ins().load(types::F64, mem, value_at, 0);
        let inputs: Vec<Value> = (self.inputs.iter())
            .map(|&column| {
                let p = at(b, column);
                b.ins().load(types::F64, mem, p, 0)
            })
            .collect();
        let (prev, state_at) = match self.keyed {
            Some((ids, states)) => {
                let id_offset = b.ins().ishl_imm_u(row, 2);
                let id_at = b.ins().iadd(ids, id_offset);
                let id = b.ins().uload32(mem, id_at, 0);
                let state_offset = scaled(b, id, 8 * width);
                let state_at = b.ins().iadd(states, state_offset);
                let prev = (0..width)
                    .map(|i| b.ins().load(types::F64, mem, state_at, 8 * i as i32))
                    .collect();
                (prev, Some(state_at))
            }
            None => (carried, None),
        };
        let mut next = self.rule(b, &prev, value, &inputs);
        if let Some((bitmap, first_bit)) = mask {
            let bit = b.ins().iadd(first_bit, row);
            let byte_index = b.ins().ushr_imm_u(bit, 3);
            let byte_at = b.ins().iadd(bitmap, byte_index);
            let byte = b.ins().uload8(types::I64, mem, byte_at, 0);
            let shift = b.ins().band_imm_u(bit, 7);
            let shifted = b.ins().ushr(byte, shift);
            let valid = b.ins().band_imm_u(shifted, 1);
            for (next, &prev) in next.iter_mut().zip(&prev) {
                *next = select(b, valid, *next, prev);
            }
        }
        if let Some(state_at) = state_at {
            for (i, &number) in next.iter().enumerate() {
                b.ins().store(mem, number, state_at, 8 * i as i32);
            }
        }
        let out_offset = b.ins().imul(row, self.out_stride);
        for (&number, &out) in next.iter().zip(self.outs) {
            let out_at = b.ins().iadd(out, out_offset);
            b.ins().store(mem, number, out_at, 0);
        }
        let following = b.ins().iadd_imm_u(row, 1);
        let more = b.ins().icmp(IntCC::UnsignedLessThan, following, self.len);
        // One series carries its new state to the next row, and out.
        let carry = match self.keyed {
            Some(_) => Vec::new(),
            None => next.iter().map(|&v| BlockArg::Value(v)).collect(),
        };
        let again: Vec<BlockArg> = [BlockArg::Value(following)]
            .into_iter()
            .chain(carry.iter().copied())
            .collect();
        b.ins().brif(more, block, &again, self.exit, &carry);
    }

    /// The rule's nodes, one instruction (or call) each (booleans are i8);
    /// returns the new states.
    fn rule(
        &self,
        b: &mut FunctionBuilder,
        prev: &[Value],
        value: Value,
        inputs: &[Value],
    ) -> Vec<Value> {
        let mut done: Vec<Value> = Vec::with_capacity(self.program.nodes().len());
        for node in self.program.nodes() {
            let v = |i: usize| done[i];
            let result = match *node {
                Node::Const(c) => b.ins().f64const(c),
                Node::State(i) => prev[i],
                Node::Value => value,
                Node::Input(i) => inputs[i],
                Node::Unary(op, a) => {
                    let a = v(a);
                    match op {
                        Unary::Neg => b.ins().fneg(a),
                        Unary::Abs => b.ins().fabs(a),
                        Unary::Sqrt => b.ins().sqrt(a),
                        Unary::Exp => self.call_libm(b, self.libm.exp, &[a]),
                        Unary::Log => self.call_libm(b, self.libm.log, &[a]),
                        Unary::Floor | Unary::Ceil => {
                            let rounded = if op == Unary::Floor {
                                b.ins().floor(a)
                            } else {
                                b.ins().ceil(a)
                            };
                            // Python's integer result has no -0.0.
                            let zero = b.ins().f64const(0.0);
                            b.ins().fadd(rounded, zero)
                        }
                    }
                }
                Node::Binary(op, l, r) => {
                    let (l, r) = (v(l), v(r));
                    match op {
                        Binary::Add => b.ins().fadd(l, r),
                        Binary::Sub => b.ins().fsub(l, r),
                        Binary::Mul => b.ins().fmul(l, r),
                        Binary::Div => b.ins().fdiv(l, r),
                        Binary::Pow => self.call_libm(b, self.libm.pow, &[l, r]),
                        Binary::Min => {
                            let smaller = b.ins().fcmp(FloatCC::LessThan, r, l);
                            select(b, smaller, r, l)
                        }
                        Binary::Max => {
                            let larger = b.ins().fcmp(FloatCC::GreaterThan, r, l);
                            select(b, larger, r, l)
                        }
                    }
                }
                Node::Compare(op, l, r) => {
                    let cc = match op {
                        Compare::Lt => FloatCC::LessThan,
                        Compare::Le => FloatCC::LessThanOrEqual,
                        Compare::Gt => FloatCC::GreaterThan,
                        Compare::Ge => FloatCC::GreaterThanOrEqual,
                        Compare::Eq => FloatCC::Equal,
                        Compare::Ne => FloatCC::NotEqual,
                    };
                    b.ins().fcmp(cc, v(l), v(r))
                }
                Node::And(l, r) => b.ins().band(v(l), v(r)),
                Node::Or(l, r) => b.ins().bor(v(l), v(r)),
                Node::Not(a) => b.ins().bxor_imm_u(v(a), 1),
                Node::Select {
                    cond,
                    then,
                    otherwise,
                } => select(b, v(cond), v(then), v(otherwise)),
            };
            done.push(result);
        }
        (self.program.results().iter())
            .map(|&node| done[node])
            .collect()
    }

    fn call_libm(&self, b: &mut FunctionBuilder, function: FuncRef, args: &[Value]) -> Value {
        let call = b.ins().call(function, args);
        b.inst_results(call)[0]
    }
}

/// `then` if `cond` else `otherwise`, for floats, without a branch: the
/// floats' bits go through an integer conditional move. Cranelift lowers a
/// float `select` to a jump, which data-dependent conditions (`value > prev`
/// on noisy data) mispredict about every other row.
fn select(b: &mut FunctionBuilder, cond: Value, then: Value, otherwise: Value) -> Value {
    let as_int = MemFlagsData::new();
    let then = b.ins().bitcast(types::I64, as_int, then);
    let otherwise = b.ins().bitcast(types::I64, as_int, otherwise);
    let chosen = b.ins().select(cond, then, otherwise);
    b.ins().bitcast(types::F64, as_int, chosen)
}
