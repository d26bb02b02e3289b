"""A 16x16 tile's triplet in LLVM vector IR: the decoder's (and the encoder's trial renders') inner kernel.

Why by hand: numba hands LLVM 16-long loops whose trip count it only knows at run time, with arrays it cannot prove
apart, and LLVM leaves most of the work scalar (~1 multiply-add a cycle). Written as operations on <16 x float>
rows, the same float32 products and sums, in the same order per element, run 8 lanes at a time, so every pixel
keeps its bits (format v3 defines them: `kernels._accumulate`). No fused multiply-add: the IR has separate
multiplies and adds, and nothing here allows LLVM to contract them.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

N = 16
_F32 = ir.FloatType()
_ROW = ir.VectorType(_F32, N)


def _data(context, builder, array_type, array):
    return context.make_array(array_type)(context, builder, array).data


_I32, _I64 = ir.IntType(32), ir.IntType(64)
_ZEROS = ir.Constant(ir.VectorType(_I32, N), [0] * N)
EXACT_LIMIT = 1 << 24  # |x| up to here: 16 squares sum below 2**53, exactly, in float64 whatever the order


def _splat(builder, value):
    first = builder.insert_element(ir.Constant(_ROW, ir.Undefined), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(first, ir.Constant(_ROW, ir.Undefined), _ZEROS)


def _load_row(builder, pointer):
    return builder.load(builder.bitcast(pointer, _ROW.as_pointer()), align=4)


def _store_row(builder, value, pointer):
    builder.store(value, builder.bitcast(pointer, _ROW.as_pointer()), align=4)


def _inverse_dct(builder, coefficients, start, count, scale, basis):
    """sum over k < count of (float32(coefficients[start + k]) [* scale]) * basis[k, :], summed from k = 0."""
    total = cgutils.alloca_once_value(builder, ir.Constant(_ROW, [0.0] * N))
    with cgutils.for_range(builder, count) as loop:
        value = builder.sitofp(builder.load(builder.gep(coefficients, [builder.add(start, loop.index)])), _F32)
        if scale is not None:
            value = builder.fmul(value, scale)
        row = _load_row(builder, builder.gep(basis, [builder.mul(loop.index, ir.Constant(ir.IntType(64), N))]))
        builder.store(builder.fadd(builder.load(total), builder.fmul(_splat(builder, value), row)), total)
    return builder.load(total)


def _require(dtype, *arrays) -> None:
    """The intrinsics address raw memory: only C-contiguous arrays of the expected element type are accepted."""
    for array in arrays:
        if not (isinstance(array, types.Array) and array.dtype == dtype and array.layout == "C"):
            raise errors.TypingError(f"C-contiguous {dtype} arrays are required")


@intrinsic
def accumulate_triplet16(typingctx, acc, qu, qv, row, c, basis_h, basis_w, last_u, last_v):
    """acc += (B_h.T (c qu))(B_w.T qv)^T for rows `row` of the N-column int32 arrays qu and qv, only their first
    last_u / last_v coefficients (the rest are zero); acc is N x N, both bases N x N (the caller checks shapes)."""
    _require(types.float32, acc, basis_h, basis_w)
    _require(types.int32, qu, qv)
    signature = types.void(acc, qu, qv, row, types.float32, basis_h, basis_w, last_u, last_v)

    def codegen(context, builder, sig, args):
        acc_a, qu_a, qv_a, row_v, c_v, bh_a, bw_a, lu_v, lv_v = args
        start = builder.mul(row_v, ir.Constant(ir.IntType(64), N))
        u = _inverse_dct(
            builder, _data(context, builder, sig.args[1], qu_a), start, lu_v, c_v,
            _data(context, builder, sig.args[5], bh_a),
        )  # fmt: skip
        v = _inverse_dct(
            builder, _data(context, builder, sig.args[2], qv_a), start, lv_v, None,
            _data(context, builder, sig.args[6], bw_a),
        )  # fmt: skip
        acc_data = _data(context, builder, sig.args[0], acc_a)
        for a in range(N):
            pointer = builder.gep(acc_data, [ir.Constant(ir.IntType(64), a * N)])
            ua = builder.extract_element(u, ir.Constant(ir.IntType(32), a))
            total = builder.fadd(_load_row(builder, pointer), builder.fmul(_splat(builder, ua), v))
            _store_row(builder, total, pointer)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def vector_stats16(typingctx, q, row):
    """(sum of squares, one past the last nonzero, 1 if every |x| <= EXACT_LIMIT else 0) of row `row` of the
    N-column int32 array q. The sum is exact int64 when the flag is 1 (and then equals the float64 sum in index
    order); otherwise callers sum sequentially themselves."""
    _require(types.int32, q)
    result = types.UniTuple(types.int64, 3)
    signature = result(q, row)

    def codegen(context, builder, sig, args):
        start = builder.gep(_data(context, builder, sig.args[0], args[0]), [builder.mul(args[1], ir.Constant(_I64, N))])
        values = builder.load(builder.bitcast(start, ir.VectorType(_I32, N).as_pointer()), align=4)
        magnitude = builder.select(builder.icmp_signed("<", values, _ZEROS), builder.sub(_ZEROS, values), values)
        wide = builder.zext(magnitude, ir.VectorType(_I64, N))
        reduce_add = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I64, [ir.VectorType(_I64, N)]), f"llvm.vector.reduce.add.v{N}i64"
        )
        squares = builder.call(reduce_add, [builder.mul(wide, wide)])
        mask = ir.IntType(N)
        nonzero = builder.bitcast(builder.icmp_unsigned("!=", values, _ZEROS), mask)
        ctlz = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(mask, [mask, ir.IntType(1)]), f"llvm.ctlz.i{N}"
        )
        last = builder.sub(ir.Constant(mask, N), builder.call(ctlz, [nonzero, ir.Constant(ir.IntType(1), 0)]))
        limit = ir.Constant(ir.VectorType(_I32, N), [EXACT_LIMIT] * N)
        big = builder.bitcast(builder.icmp_unsigned(">", magnitude, limit), mask)
        small = builder.icmp_unsigned("==", big, ir.Constant(mask, 0))
        fields = [squares, builder.zext(last, _I64), builder.zext(small, _I64)]
        return context.make_tuple(builder, sig.return_type, fields)

    return signature, codegen


@intrinsic
def store_tile16(typingctx, acc, out, offset, stride):
    """out's flat elements offset + a * stride + (0..N-1) = acc[a, :] for a < N (the caller checks the bounds)."""
    _require(types.float32, acc, out)
    signature = types.void(acc, out, offset, stride)

    def codegen(context, builder, sig, args):
        acc_data = _data(context, builder, sig.args[0], args[0])
        out_data = _data(context, builder, sig.args[1], args[1])
        for a in range(N):
            row = _load_row(builder, builder.gep(acc_data, [ir.Constant(_I64, a * N)]))
            target = builder.add(args[2], builder.mul(args[3], ir.Constant(_I64, a)))
            _store_row(builder, row, builder.gep(out_data, [target]))
        return context.get_dummy_value()

    return signature, codegen


def _byte_copier(width: int):
    """An intrinsic copying `width` bytes (one unaligned load and store) between uint8 arrays at flat offsets."""

    @intrinsic
    def copy(typingctx, src, src_offset, dst, dst_offset):
        _require(types.uint8, src, dst)
        signature = types.void(src, src_offset, dst, dst_offset)
        chunk = ir.VectorType(ir.IntType(8), width).as_pointer()

        def codegen(context, builder, sig, args):
            source = builder.gep(_data(context, builder, sig.args[0], args[0]), [args[1]])
            target = builder.gep(_data(context, builder, sig.args[2], args[2]), [args[3]])
            value = builder.load(builder.bitcast(source, chunk), align=1)
            builder.store(value, builder.bitcast(target, chunk), align=1)
            return context.get_dummy_value()

        return signature, codegen

    return copy


copy3 = _byte_copier(3)
copy4 = _byte_copier(4)


_LANE_INDEX = ir.Constant(ir.VectorType(_I32, N), list(range(N)))


def _int_lanes(context, builder, array_type, array, offset):
    pointer = builder.gep(_data(context, builder, array_type, array), [offset])
    return builder.bitcast(pointer, ir.VectorType(_I32, N).as_pointer())


def _int_splat(builder, value):
    vector = ir.VectorType(_I32, N)
    first = builder.insert_element(ir.Constant(vector, ir.Undefined), builder.trunc(value, _I32), ir.Constant(_I32, 0))
    return builder.shuffle_vector(first, ir.Constant(vector, ir.Undefined), _ZEROS)


@intrinsic
def count_at_or_below(typingctx, table, offset, code, scale):
    """How many i in 0..N-1 have scale * (table[offset + i] + i) <= code, as unsigned 32-bit products and values
    (callers keep every product below 2**32): an adaptive alphabet's letter search, all letters at once."""
    _require(types.int32, table)
    signature = types.int64(table, offset, code, scale)

    def codegen(context, builder, sig, args):
        row = builder.load(_int_lanes(context, builder, sig.args[0], args[0], args[1]), align=4)
        bounds = builder.mul(builder.add(row, _LANE_INDEX), _int_splat(builder, args[3]))
        below = builder.icmp_unsigned("<=", bounds, _int_splat(builder, args[2]))
        popcount = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(N)])
        return builder.zext(builder.call(popcount, [builder.bitcast(below, ir.IntType(N))]), _I64)

    return signature, codegen


@intrinsic
def move_towards(typingctx, table, offset, letter, shift, total):
    """table[offset + i] += (target - table[offset + i]) >> shift (arithmetic) for i in 0..N-1, target = `total`
    for i > letter and 0 otherwise: an adaptive alphabet learning the letter it just coded."""
    _require(types.int32, table)
    signature = types.void(table, offset, letter, shift, total)

    def codegen(context, builder, sig, args):
        pointer = _int_lanes(context, builder, sig.args[0], args[0], args[1])
        row = builder.load(pointer, align=4)
        above = builder.icmp_signed(">", _LANE_INDEX, _int_splat(builder, args[2]))
        target = builder.select(above, _int_splat(builder, args[4]), _ZEROS)
        step = builder.ashr(builder.sub(target, row), _int_splat(builder, args[3]))
        builder.store(builder.add(row, step), pointer, align=4)
        return context.get_dummy_value()

    return signature, codegen


def _require_integer(array) -> None:
    """`_require` for any integer element type."""
    if not (isinstance(array, types.Array) and isinstance(array.dtype, types.Integer) and array.layout == "C"):
        raise errors.TypingError("a C-contiguous integer array is required")


@intrinsic
def load_int(typingctx, array, index):
    """array.flat[index] as an int64, for an integer array (C-contiguous; the caller checks the bounds). Plain
    indexing of a 2-D table multiplies by its run-time stride and handles negative indices: a third of the
    instructions of an entropy decoder's letter."""
    _require_integer(array)
    signature = types.int64(array, index)

    def codegen(context, builder, sig, args):
        value = builder.load(builder.gep(_data(context, builder, sig.args[0], args[0]), [args[1]]))
        return builder.sext(value, _I64) if sig.args[0].dtype.signed else builder.zext(value, _I64)

    return signature, codegen


@intrinsic
def store_int(typingctx, array, index, value):
    """array.flat[index] = value (truncated to the element type; `load_int`'s counterpart)."""
    _require_integer(array)
    signature = types.void(array, index, value)

    def codegen(context, builder, sig, args):
        pointer = builder.gep(_data(context, builder, sig.args[0], args[0]), [args[1]])
        builder.store(builder.trunc(args[2], pointer.type.pointee), pointer)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def copy_floats16(typingctx, src, src_offset, dst, dst_offset):
    """dst's flat elements dst_offset..+N-1 = src's src_offset..+N-1 (float32; the caller checks the bounds)."""
    _require(types.float32, src, dst)
    signature = types.void(src, src_offset, dst, dst_offset)

    def codegen(context, builder, sig, args):
        row = _load_row(builder, builder.gep(_data(context, builder, sig.args[0], args[0]), [args[1]]))
        _store_row(builder, row, builder.gep(_data(context, builder, sig.args[2], args[2]), [args[3]]))
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def quantize16(typingctx, src, offset, stride, scale, out):
    """out[i] = int32(rint(clamp(src.flat[offset + i * stride] * scale, -2**30, 2**30))) for i < N (float32): one
    quantised vector of a 16x16 tile, the same operations per element as the scalar `kernels._round_coefficient`
    (scale = f * flip, flip = +-1, is exactly what multiplying by f then flip gives)."""
    _require(types.float32, src)
    _require(types.int32, out)
    signature = types.void(src, offset, stride, types.float32, out)

    def codegen(context, builder, sig, args):
        data = _data(context, builder, sig.args[0], args[0])
        values = ir.Constant(_ROW, ir.Undefined)
        for i in range(N):
            at = builder.add(args[1], builder.mul(args[2], ir.Constant(_I64, i)))
            values = builder.insert_element(values, builder.load(builder.gep(data, [at])), ir.Constant(_I32, i))
        scaled = builder.fmul(values, _splat(builder, args[3]))
        limit = ir.Constant(_ROW, [float(1 << 30)] * N)
        low = ir.Constant(_ROW, [-float(1 << 30)] * N)
        clamped = builder.select(builder.fcmp_ordered("<", scaled, low), low, scaled)
        clamped = builder.select(builder.fcmp_ordered(">", clamped, limit), limit, clamped)
        rint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_ROW, [_ROW]), f"llvm.rint.v{N}f32")
        rounded = builder.fptosi(builder.call(rint, [clamped]), ir.VectorType(_I32, N))
        target = builder.bitcast(_data(context, builder, sig.args[4], args[4]), ir.VectorType(_I32, N).as_pointer())
        builder.store(rounded, target, align=4)
        return context.get_dummy_value()

    return signature, codegen
