"""Operations on W tiles side by side, in LLVM vector IR: the inner steps of the encoder's top-k kernel (`tilesvd`).

The kernel keeps W tiles' numbers interleaved (arrays [..., lane], lane innermost), so one step of the scalar
algorithm is one vector operation on all W tiles, with no reductions across lanes. Why by hand: left to numba, a
W-long loop over lanes is fully unrolled before LLVM's loop vectoriser sees it (and SLP cannot prove numba's arrays
apart), so it stays scalar unless W is 64, and 64 tiles' 16 x 16 matrices (64 KB each) overflow the 32 KB L1 data
cache: the kernel then ran at 2-3x its L2-bandwidth estimate. With W = 8 (one AVX2 register of float32) a batch's
matrices take 8 KB each, and sums stay in registers (several accumulators per product, so a multiply-add does not
wait on the one before it).

Every operation reads and writes C-contiguous arrays at flat element offsets (`at`, `step`); the caller keeps them
in bounds. Each lane's result depends on that lane alone, whatever its neighbours hold.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

W = 8  # lanes: tiles computed side by side

_I32, _I64 = ir.IntType(32), ir.IntType(64)
_LLVM = {types.float32: ir.FloatType(), types.float64: ir.DoubleType()}


def _check(array, *dtypes) -> None:
    if not (isinstance(array, types.Array) and array.layout == "C" and array.dtype in dtypes):
        raise errors.TypingError(f"a C-contiguous array of {' or '.join(map(str, dtypes))} is required")


def _lanes_type(array_type) -> ir.VectorType:
    return ir.VectorType(_LLVM[array_type.dtype], W)


def _pointer(context, builder, array_type, array, at):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [at])


def _load(builder, pointer, vector_type):
    return builder.load(builder.bitcast(pointer, vector_type.as_pointer()), align=4)


def _store(builder, value, pointer):
    builder.store(value, builder.bitcast(pointer, value.type.as_pointer()), align=4)


def _splat(builder, value, vector_type):
    first = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(
        first, ir.Constant(vector_type, ir.Undefined), ir.Constant(ir.VectorType(_I32, W), [0] * W)
    )


def _widen(builder, value, vector_type):
    return value if value.type == vector_type else builder.fpext(value, vector_type)


def _intrinsic_function(builder, name, vector_type, arity):
    """LLVM's `name` intrinsic (sqrt, fabs, fma, ...) on one vector type, e.g. llvm.sqrt.v8f64."""
    element = "f32" if vector_type.element == ir.FloatType() else "f64"
    signature = ir.FunctionType(vector_type, [vector_type] * arity)
    return cgutils.get_or_insert_function(builder.module, signature, f"llvm.{name}.v{W}{element}")


def _vector_call(builder, name, vector_type, *values):
    return builder.call(_intrinsic_function(builder, name, vector_type, len(values)), list(values))


def _constant(vector_type, value):
    return ir.Constant(vector_type, [value] * W)


def _jacobi_angle(builder, zeta, vector_type):
    """(t, cos) of the Jacobi rotation for zeta = (a_qq - a_pp) / (2 a_pq): t = tan of the smaller angle,
    sign(zeta) / (|zeta| + sqrt(zeta^2 + 1)), and cos = 1 / sqrt(t^2 + 1)."""
    one = _constant(vector_type, 1.0)
    root = _vector_call(builder, "sqrt", vector_type, builder.fadd(builder.fmul(zeta, zeta), one))
    sign = _vector_call(builder, "copysign", vector_type, one, zeta)
    t = builder.fdiv(sign, builder.fadd(_vector_call(builder, "fabs", vector_type, zeta), root))
    secant = _vector_call(builder, "sqrt", vector_type, builder.fadd(builder.fmul(t, t), one))
    return t, builder.fdiv(one, secant)


BLOCK = 4  # outputs computed together: their sums interleave, and each x is loaded once for all of them
CHAINS = 8  # accumulators in flight across a block's outputs (a fused multiply-add's latency is ~4-5 cycles)


def _sums_of_products(builder, count, load_x, load_y, vector_type, outputs):
    """For each c < outputs (a Python int): the sum over t < count of x(t) * y(c, t) (vectors, fused multiply-adds),
    every output in CHAINS // outputs accumulators (t modulo that), so about CHAINS independent chains are in flight
    whatever the block."""
    zero = _constant(vector_type, 0.0)
    fma = _intrinsic_function(builder, "fma", vector_type, 3)
    unroll = max(1, CHAINS // outputs)
    accumulators = [[cgutils.alloca_once_value(builder, zero) for _ in range(unroll)] for _ in range(outputs)]

    def step(t, chain):
        x = load_x(t)
        for c in range(outputs):
            target = accumulators[c][chain]
            builder.store(builder.call(fma, [x, load_y(c, t), builder.load(target)]), target)

    groups = builder.sdiv(count, ir.Constant(_I64, unroll))
    with cgutils.for_range(builder, groups) as loop:
        t = builder.mul(loop.index, ir.Constant(_I64, unroll))
        for chain in range(unroll):
            step(builder.add(t, ir.Constant(_I64, chain)), chain)
    done = builder.mul(groups, ir.Constant(_I64, unroll))
    with cgutils.for_range(builder, builder.sub(count, done)) as loop:
        step(builder.add(done, loop.index), 0)
    totals = []
    for chains in accumulators:
        values = [builder.load(chain) for chain in chains]
        while len(values) > 1:  # pairwise
            values = [builder.fadd(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)] + values[
                len(values) - len(values) % 2 :
            ]
        totals.append(values[0])
    return totals


def _dots_codegen(broadcast_y: bool):
    def codegen(context, builder, sig, args):
        out_a, out_at, out_step, x_a, x_at, x_step, y_a, y_at, y_shift, y_step, count, outputs = args
        wide = _lanes_type(sig.args[0])
        narrow = _lanes_type(sig.args[3])

        def element(index, array, at):
            return _pointer(context, builder, sig.args[index], array, at)

        def load_x(t):
            return _widen(
                builder, _load(builder, element(3, x_a, builder.add(x_at, builder.mul(t, x_step))), narrow), wide
            )

        def run(first, block):
            def load_y(c, t):
                column = builder.mul(builder.add(first, ir.Constant(_I64, c)), y_shift)
                pointer = element(6, y_a, builder.add(builder.add(y_at, column), builder.mul(t, y_step)))
                if broadcast_y:
                    return _splat(builder, builder.load(pointer), wide)
                return _widen(builder, _load(builder, pointer, narrow), wide)

            totals = _sums_of_products(builder, count, load_x, load_y, wide, block)
            for c, total in enumerate(totals):
                at = builder.add(out_at, builder.mul(builder.add(first, ir.Constant(_I64, c)), out_step))
                _store(builder, total, element(0, out_a, at))

        blocks = builder.sdiv(outputs, ir.Constant(_I64, BLOCK))
        with cgutils.for_range(builder, blocks) as loop:
            run(builder.mul(loop.index, ir.Constant(_I64, BLOCK)), BLOCK)
        first = builder.mul(blocks, ir.Constant(_I64, BLOCK))
        rest = builder.sub(outputs, first)
        for size in range(1, BLOCK):  # the last outputs as one smaller block
            with builder.if_then(builder.icmp_signed("==", rest, ir.Constant(_I64, size))):
                run(first, size)
        return context.get_dummy_value()

    return codegen


@intrinsic
def dots(typingctx, out, out_at, out_step, x, x_at, x_step, y, y_at, y_shift, y_step, count, outputs):
    """For c < outputs: out[out_at + c * out_step + (0..W)] = sum over t < count of x[x_at + t * x_step + (0..W)] *
    y[y_at + c * y_shift + t * y_step + (0..W)]: float32 products summed in float32, or (a float64 `out`) widened
    and summed in float64. A row of a product of every lane's matrices."""
    _check(out, types.float32, types.float64)
    _check(x, types.float32)
    _check(y, types.float32)
    signature = types.void(out, out_at, out_step, x, x_at, x_step, y, y_at, y_shift, y_step, count, outputs)
    return signature, _dots_codegen(broadcast_y=False)


@intrinsic
def weighted_dots(typingctx, out, out_at, out_step, x, x_at, x_step, w, w_at, w_shift, w_step, count, outputs):
    """`dots` with one number w[w_at + c * w_shift + t * w_step] for every lane in place of y: one fixed matrix
    (a DCT) applied to every lane's vectors (float32)."""
    for array in (out, x, w):
        _check(array, types.float32)
    signature = types.void(out, out_at, out_step, x, x_at, x_step, w, w_at, w_shift, w_step, count, outputs)
    return signature, _dots_codegen(broadcast_y=True)


@intrinsic
def subtract_combination(typingctx, z, z_at, factors, x, x_shift, step, count, terms):
    """z[z_at + t * step + (0..W)] -= sum over p < terms of factors[p * W + (0..W)] * x[p * x_shift + t * step +
    (0..W)] for t < count (float32): a classical Gram-Schmidt step against `terms` earlier rows at once."""
    for array in (z, factors, x):
        _check(array, types.float32)
    signature = types.void(z, z_at, factors, x, x_shift, step, count, terms)

    def codegen(context, builder, sig, args):
        z_a, z_at_v, f_a, x_a, shift_v, step_v, count_v, terms_v = args
        vector = _lanes_type(sig.args[0])
        fma = _intrinsic_function(builder, "fma", vector, 3)
        total = cgutils.alloca_once(builder, vector)
        with cgutils.for_range(builder, count_v) as outer:
            offset = builder.mul(outer.index, step_v)
            builder.store(_constant(vector, 0.0), total)
            with cgutils.for_range(builder, terms_v) as inner:
                factor = _load(
                    builder,
                    _pointer(context, builder, sig.args[2], f_a, builder.mul(inner.index, ir.Constant(_I64, W))),
                    vector,
                )
                source = _pointer(
                    context, builder, sig.args[3], x_a, builder.add(builder.mul(inner.index, shift_v), offset)
                )
                builder.store(builder.call(fma, [factor, _load(builder, source, vector), builder.load(total)]), total)
            target = _pointer(context, builder, sig.args[0], z_a, builder.add(z_at_v, offset))
            _store(builder, builder.fsub(_load(builder, target, vector), builder.load(total)), target)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def scale(typingctx, z, z_at, factor, factor_at, step, count):
    """z[z_at + t * step + (0..W)] *= factor[factor_at + (0..W)] for t < count (float32)."""
    _check(z, types.float32)
    _check(factor, types.float32)
    signature = types.void(z, z_at, factor, factor_at, step, count)

    def codegen(context, builder, sig, args):
        z_a, z_at_v, f_a, f_at_v, step_v, count_v = args
        vector = _lanes_type(sig.args[0])
        factors = _load(builder, _pointer(context, builder, sig.args[2], f_a, f_at_v), vector)
        with cgutils.for_range(builder, count_v) as loop:
            target = _pointer(context, builder, sig.args[0], z_a, builder.add(z_at_v, builder.mul(loop.index, step_v)))
            _store(builder, builder.fmul(_load(builder, target, vector), factors), target)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def jacobi_rotate(typingctx, h, vectors, p, q, k, active):
    """One Jacobi rotation in the (p, q) plane of every lane's symmetric k x k float64 matrix h (arrays (k, k, W)),
    accumulated into `vectors`. A lane rotates only where `active` (float64 per lane) is nonzero and h[p, q] is
    not already negligible (bitwise selects: no branches between lanes)."""
    _check(h, types.float64)
    _check(vectors, types.float64)
    _check(active, types.float64)
    signature = types.void(h, vectors, p, q, k, active)

    def codegen(context, builder, sig, args):
        h_a, v_a, p_v, q_v, k_v, act_a = args
        vector = _lanes_type(sig.args[0])
        width = ir.Constant(_I64, W)

        def const(value):
            return _constant(vector, value)

        def h_at(row, col):
            return _pointer(
                context, builder, sig.args[0], h_a, builder.mul(builder.add(builder.mul(row, k_v), col), width)
            )

        def v_at(row, col):
            return _pointer(
                context, builder, sig.args[1], v_a, builder.mul(builder.add(builder.mul(row, k_v), col), width)
            )

        hpp, hqq = _load(builder, h_at(p_v, p_v), vector), _load(builder, h_at(q_v, q_v), vector)
        apq = _load(builder, h_at(p_v, q_v), vector)
        active_lanes = _load(builder, _pointer(context, builder, sig.args[5], act_a, ir.Constant(_I64, 0)), vector)
        skip = builder.or_(  # apq^2 <= 1e-20 |hpp hqq|: negligible against the diagonal
            builder.fcmp_ordered("==", active_lanes, const(0.0)),
            builder.or_(
                builder.fcmp_ordered(
                    "<=",
                    builder.fmul(apq, apq),
                    builder.fmul(const(1e-20), _vector_call(builder, "fabs", vector, builder.fmul(hpp, hqq))),
                ),
                builder.fcmp_ordered("<=", _vector_call(builder, "fabs", vector, apq), const(1e-300)),
            ),
        )
        # The angle in float32 (its divisions and square roots cost a quarter of float64's): t = tan(angle) is then
        # good to ~1e-7, which only leaves h[p, q] at ~1e-7 of its size for the next sweep; cos is made exact for
        # that t by a Newton step in float64, so c^2 + s^2 = 1 and the rotation stays orthogonal to float64.
        single = ir.VectorType(ir.FloatType(), W)
        numerator = builder.fptrunc(builder.fsub(hqq, hpp), single)
        denominator = builder.fptrunc(builder.fmul(const(2.0), builder.select(skip, const(1.0), apq)), single)
        t32, guess = _jacobi_angle(builder, builder.fdiv(numerator, denominator), single)
        t = builder.fpext(t32, vector)
        x = builder.fadd(builder.fmul(t, t), const(1.0))
        y = builder.fpext(guess, vector)
        cosine = builder.fmul(
            y, builder.fsub(const(1.5), builder.fmul(const(0.5), builder.fmul(x, builder.fmul(y, y))))
        )
        c = builder.select(skip, const(1.0), cosine)
        s = builder.select(skip, const(0.0), builder.fmul(t, cosine))

        def rotate(first, second):
            a, b = _load(builder, first, vector), _load(builder, second, vector)
            _store(builder, builder.fsub(builder.fmul(c, a), builder.fmul(s, b)), first)
            _store(builder, builder.fadd(builder.fmul(s, a), builder.fmul(c, b)), second)

        with cgutils.for_range(builder, k_v) as loop:
            rotate(h_at(loop.index, p_v), h_at(loop.index, q_v))
        with cgutils.for_range(builder, k_v) as loop:
            rotate(h_at(p_v, loop.index), h_at(q_v, loop.index))
        with cgutils.for_range(builder, k_v) as loop:
            rotate(v_at(loop.index, p_v), v_at(loop.index, q_v))
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def copy(typingctx, out, out_at, x, x_at):
    """out[out_at + (0..W)] = x[x_at + (0..W)] (same element type)."""
    _check(out, types.float32, types.float64)
    _check(x, out.dtype)
    signature = types.void(out, out_at, x, x_at)

    def codegen(context, builder, sig, args):
        vector = _lanes_type(sig.args[0])
        value = _load(builder, _pointer(context, builder, sig.args[2], args[2], args[3]), vector)
        _store(builder, value, _pointer(context, builder, sig.args[0], args[0], args[1]))
        return context.get_dummy_value()

    return signature, codegen


ORTHOGONAL = 1e-5  # columns count as orthogonal once |a_i . a_j| <= this * |a_i| |a_j| (float32 sums reach ~1e-6)


@intrinsic
def rotate_columns(typingctx, a, pairs, first, count, rows, active, busy, scratch):
    """One round of one-sided (Hestenes) Jacobi on every lane: for each of the `count` disjoint column pairs
    (i, j) = pairs[first + .., :], columns i and j of A (arrays (columns, rows, W): column c at c * rows * W)
    rotated to be orthogonal (float32; the rotations are not kept: V follows from A and A V at the end). A lane
    rotates a pair only where `active` is nonzero and the columns are not orthogonal already; `busy` gains 1 there.
    Every pair's angle is found before any pair is rotated (the pairs are disjoint, so that is the same as one after
    the other), so the angles' chains of divisions and square roots overlap. `scratch` (float32, at least
    3 * count * W) holds the angles between the two steps."""
    for array in (a, active, busy, scratch):
        _check(array, types.float32)
    _check(pairs, types.int64)
    signature = types.void(a, pairs, first, count, rows, active, busy, scratch)

    def codegen(context, builder, sig, args):
        a_a, pairs_a, first_v, count_v, rows_v, act_a, busy_a, scratch_a = args
        vector = _lanes_type(sig.args[0])
        fma = _intrinsic_function(builder, "fma", vector, 3)
        width = ir.Constant(_I64, W)
        one, two = ir.Constant(_I64, 1), ir.Constant(_I64, 2)

        def const(value):
            return _constant(vector, value)

        def element(index, array, at):
            return _pointer(context, builder, sig.args[index], array, at)

        def column(c, r):
            return element(0, a_a, builder.mul(builder.add(builder.mul(c, rows_v), r), width))

        def pair(index):
            row = builder.mul(builder.add(first_v, index), two)
            return builder.load(element(1, pairs_a, row)), builder.load(element(1, pairs_a, builder.add(row, one)))

        def saved(index, slot):
            at = builder.mul(builder.add(builder.mul(index, ir.Constant(_I64, 3)), ir.Constant(_I64, slot)), width)
            return element(7, scratch_a, at)

        zero_at = ir.Constant(_I64, 0)
        lanes_on = builder.fcmp_ordered("!=", _load(builder, element(5, act_a, zero_at), vector), const(0.0))
        sums = [[cgutils.alloca_once(builder, vector) for _ in range(3)] for _ in range(2)]
        with cgutils.for_range(builder, count_v) as angles:
            i_v, j_v = pair(angles.index)

            def accumulate(r, chain, i_v=i_v, j_v=j_v):
                x, y = _load(builder, column(i_v, r), vector), _load(builder, column(j_v, r), vector)
                for total, (p, q) in zip(sums[chain], ((x, x), (y, y), (x, y)), strict=True):
                    builder.store(builder.call(fma, [p, q, builder.load(total)]), total)

            for total in sums[0] + sums[1]:
                builder.store(const(0.0), total)
            halves = builder.sdiv(rows_v, two)
            with cgutils.for_range(builder, halves) as loop:  # even and odd rows in separate sums: shorter chains
                accumulate(builder.mul(loop.index, two), 0)
                accumulate(builder.add(builder.mul(loop.index, two), one), 1)
            with builder.if_then(builder.icmp_signed("!=", builder.mul(halves, two), rows_v)):
                accumulate(builder.sub(rows_v, one), 0)
            alpha, beta, gamma = (builder.fadd(builder.load(e), builder.load(o)) for e, o in zip(*sums, strict=True))
            limit = builder.fmul(const(ORTHOGONAL), _vector_call(builder, "sqrt", vector, builder.fmul(alpha, beta)))
            apart = builder.fcmp_ordered(">", _vector_call(builder, "fabs", vector, gamma), limit)
            rotate = builder.and_(lanes_on, apart)
            twice_gamma = builder.fmul(const(2.0), builder.select(rotate, gamma, const(1.0)))
            t, cosine = _jacobi_angle(builder, builder.fdiv(builder.fsub(beta, alpha), twice_gamma), vector)
            _store(builder, builder.select(rotate, cosine, const(1.0)), saved(angles.index, 0))
            _store(builder, builder.select(rotate, builder.fmul(t, cosine), const(0.0)), saved(angles.index, 1))
            _store(builder, builder.select(rotate, const(1.0), const(0.0)), saved(angles.index, 2))

        busy_at = element(6, busy_a, zero_at)
        with cgutils.for_range(builder, count_v) as rotations:
            i_v, j_v = pair(rotations.index)
            c = _load(builder, saved(rotations.index, 0), vector)
            s = _load(builder, saved(rotations.index, 1), vector)
            with cgutils.for_range(builder, rows_v) as loop:
                first_at, second_at = column(i_v, loop.index), column(j_v, loop.index)
                x, y = _load(builder, first_at, vector), _load(builder, second_at, vector)
                _store(builder, builder.call(fma, [c, x, builder.fneg(builder.fmul(s, y))]), first_at)
                _store(builder, builder.call(fma, [s, x, builder.fmul(c, y)]), second_at)
            rotated = _load(builder, saved(rotations.index, 2), vector)
            _store(builder, builder.fadd(_load(builder, busy_at, vector), rotated), busy_at)
        return context.get_dummy_value()

    return signature, codegen
