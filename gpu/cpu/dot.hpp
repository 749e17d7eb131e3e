// Row dot products of the fast CPU backend: one weight row (as GGUF stores it) with one activation
// row. Following llama.cpp, quantized weights are dotted with activations quantized once per matmul:
// Q4_0 and Q8_0 with Q8_0 activations, Q4_K/Q5_K/Q6_K with Q8_K (which carries per-16 sums for the
// K-quant mins); products are integer (AVX2 maddubs/madd) per block, scaled to f32 once per block.
// F32/F16/BF16 weights are dotted with f32 activations using FMA (F16C / bit shifts for halves).
// Every kernel has a scalar fallback when the build lacks AVX2 (other CPUs: ARM, old x86). Prefill
// uses the tiled gemm_fn kernels (AVX2 only) built from the same block arithmetic.
//
// Pure functions; n is the row length in elements, a multiple of the weight type's block size.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gpu/tensor_type.hpp"

namespace holo::gpu::cpu {

// sum_i w[i] * x[i] over n elements; `x` is a row in activation_type(w's type).
using vec_dot_fn = float (*)(const void* w, const void* x, std::int64_t n);

// The activation format the dot product of weight type `w` reads: f32, q8_0 or q8_k.
tensor_type activation_type(tensor_type w);
// The kernel for weight type `w`; null for a type the backend does not support.
vec_dot_fn vec_dot_for(tensor_type w);
// Quantizes an activation row for activation_type (q8_0 or q8_k); f32 is not handled here.
void quantize_activation(tensor_type act, const float* x, void* dst, std::int64_t n);

// Tiled prefill kernel: out[t * ldo + r] = sum_i w_r[i] * x_t[i] for r < rows, t < n, where weight
// row r starts at w + r * w_stride and activation row t (activation_type's format, as vec_dot reads
// it) at x + t * x_stride, `cols` elements each. Each loaded weight block serves several tokens and
// each activation block several rows (register tiles; see gemm.cpp). `x_offset`: where
// gemm_wants_offset(w), the same activations with every Q8_0 quant offset by 128 (offset_q8_0), same
// layout; otherwise null and unused.
using gemm_fn = void (*)(const std::byte* w, std::size_t w_stride, std::int64_t rows, const std::byte* x,
                         const std::byte* x_offset, std::size_t x_stride, std::int64_t n, std::int64_t cols,
                         float* out, std::int64_t ldo);
// The tiled kernel for weight type `w`; null where there is none (scalar builds): use vec_dot.
gemm_fn gemm_for(tensor_type w);
// Whether gemm_for(w) reads x_offset (the VNNI kernels for Q8_0/Q4_0 weights: vpdpbusd multiplies
// unsigned by signed bytes).
bool gemm_wants_offset(tensor_type w);
// Whether gemm_for takes the AMX kernels for Q8_0, Q4_0, Q4_K and Q5_K weights: built for a CPU with
// AMX-INT8, the kernel granted the tile registers, and HOLO_CPU_AMX is not "0".
bool amx_ready();
// Prefill on AMX-BF16 (gemm_bf16.cpp): out[t * ldo + r] = sum_i w_r[i] * x_t[i] with the weights
// dequantized to bf16 and x in bf16 as pack_bf16_rows lays it out (n tokens padded with zeros to a
// multiple of 16; cols a multiple of 32). Null where there is none: a CPU or build
// without AMX-BF16, HOLO_CPU_AMX=0, or a weight type it does not take (then gemm_for).
using gemm_bf16_fn = void (*)(const std::byte* w, std::size_t w_stride, std::int64_t rows, const std::uint16_t* x,
                              std::int64_t n, std::int64_t cols, float* out, std::int64_t ldo);
gemm_bf16_fn gemm_bf16_for(tensor_type w);
// Fewer tokens than this go to gemm_for: the weights' conversion is paid once per matmul, and at
// 2048 x 2048 on one thread it broke even near 32 tokens (16: 64-68 GMAC/s vs 76-87; 64: 160-179
// vs 138-141).
constexpr std::int64_t gemm_bf16_tokens_min = 48;
// Tokens t0 .. t1-1 of x (n x cols f32) rounded to bf16 into dst in tiles of 16 tokens x 32 columns
// (1 KiB each, a tile load's 16 rows 64 bytes apart): tile (g, j) = tokens 16g.., columns 32j..,
// at dst + (g * cols / 32 + j) * 512. Tokens at or past n are written as zeros.
void pack_bf16_rows(const float* x, std::int64_t t0, std::int64_t t1, std::int64_t n, std::int64_t cols,
                    std::uint16_t* dst);
// `blocks` Q8_0 blocks from `in` to `out` with every quant q stored as q + 128 (q ^ 0x80, read as
// unsigned); the scales are copied.
void offset_q8_0(const void* in, void* out, std::int64_t blocks);

// Decode (one token) with Q8_0 weights: every weight row is dotted with the same activation row, so
// its blocks' scales are converted to float once (append_scales_q8_0 writes them after the blocks,
// at decode_scales_offset) instead of once per row, and the dot keeps two accumulator chains.
std::size_t decode_scales_offset(std::int64_t n);
void append_scales_q8_0(void* x, std::int64_t n);
float vec_dot_q8_0_q8_0_decode(const void* w, const void* x, std::int64_t n);

float vec_dot_f32(const void* w, const void* x, std::int64_t n);
float vec_dot_f16(const void* w, const void* x, std::int64_t n);
float vec_dot_bf16(const void* w, const void* x, std::int64_t n);
float vec_dot_q4_0_q8_0(const void* w, const void* x, std::int64_t n);
float vec_dot_q8_0_q8_0(const void* w, const void* x, std::int64_t n);
float vec_dot_q4_k_q8_k(const void* w, const void* x, std::int64_t n);
float vec_dot_q5_k_q8_k(const void* w, const void* x, std::int64_t n);
float vec_dot_q6_k_q8_k(const void* w, const void* x, std::int64_t n);

// f32 dot of two rows (attention, norms): FMA when available.
float dot_f32(const float* a, const float* b, std::int64_t n);
// f32 row a . f16 row b.
float dot_f32_f16(const float* a, const f16_bits* b, std::int64_t n);
// y[i] += s * x[i] for an f16 row x.
void axpy_f16(float s, const f16_bits* x, float* y, std::int64_t n);

}  // namespace holo::gpu::cpu
