//! 8 × 8 transposes for packing a transposed operand (the weight `W` of `x·Wᵀ`).
//!
//! Written as plain array code, the compiler moves the 64 values one at a time. On x86 with
//! AVX (`pulp`'s `V3`, and `V4`, which includes it) an `f32` block is transposed in registers
//! instead: 8 loads, 24 shuffles, 8 stores — the classic unpack / shuffle / permute sequence —
//! through `pulp`'s safe wrappers of the intrinsics (the token proves the CPU has AVX).

use pulp::Simd;

use super::lane::Lane;

/// `out[q][r] = block[r][q]`.
#[inline(always)]
pub(super) fn transpose8<E: Lane, S: Simd>(simd: S, block: [[E; 8]; 8]) -> [[E; 8]; 8] {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if let Some(v3) = x86::avx_of(simd)
        && let Ok(rows) = bytemuck::try_cast::<[[E; 8]; 8], [[f32; 8]; 8]>(block)
        && let Ok(out) = bytemuck::try_cast::<[[f32; 8]; 8], [[E; 8]; 8]>(x86::avx(v3, rows))
    {
        // Only `f32` blocks get here (an `f64` block has a different size: the casts fail).
        return out;
    }
    let _ = simd;
    std::array::from_fn(|q| std::array::from_fn(|r| block[r][q]))
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86 {
    use std::any::Any;

    #[cfg(target_arch = "x86")]
    use std::arch::x86::__m256;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::__m256;

    use pulp::x86::{V3, V4};

    /// The AVX token inside `simd`, if `simd` is the AVX2 or AVX-512 instruction set.
    #[inline(always)]
    pub(super) fn avx_of<S: 'static>(simd: S) -> Option<V3> {
        let any: &dyn Any = &simd;
        if let Some(v3) = any.downcast_ref::<V3>() {
            return Some(*v3);
        }
        any.downcast_ref::<V4>().map(|v4| **v4)
    }

    /// The 8 × 8 transpose in AVX registers.
    #[inline(always)]
    pub(super) fn avx(simd: V3, rows: [[f32; 8]; 8]) -> [[f32; 8]; 8] {
        let avx = simd.avx;
        let r: [__m256; 8] = rows.map(bytemuck::cast);
        // Interleave pairs of rows: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ...
        let t0 = avx._mm256_unpacklo_ps(r[0], r[1]);
        let t1 = avx._mm256_unpackhi_ps(r[0], r[1]);
        let t2 = avx._mm256_unpacklo_ps(r[2], r[3]);
        let t3 = avx._mm256_unpackhi_ps(r[2], r[3]);
        let t4 = avx._mm256_unpacklo_ps(r[4], r[5]);
        let t5 = avx._mm256_unpackhi_ps(r[4], r[5]);
        let t6 = avx._mm256_unpacklo_ps(r[6], r[7]);
        let t7 = avx._mm256_unpackhi_ps(r[6], r[7]);
        // Quads: s0 = column 0 of rows 0–3 | column 4 of rows 0–3, s1 = columns 1 | 5, ...
        let s0 = avx._mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = avx._mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = avx._mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = avx._mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = avx._mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = avx._mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = avx._mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = avx._mm256_shuffle_ps::<0xEE>(t5, t7);
        // Join the 128-bit halves: rows 0–3 and 4–7 of each column.
        let out = [
            avx._mm256_permute2f128_ps::<0x20>(s0, s4),
            avx._mm256_permute2f128_ps::<0x20>(s1, s5),
            avx._mm256_permute2f128_ps::<0x20>(s2, s6),
            avx._mm256_permute2f128_ps::<0x20>(s3, s7),
            avx._mm256_permute2f128_ps::<0x31>(s0, s4),
            avx._mm256_permute2f128_ps::<0x31>(s1, s5),
            avx._mm256_permute2f128_ps::<0x31>(s2, s6),
            avx._mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        out.map(bytemuck::cast)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Check;
    impl pulp::WithSimd for Check {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let block: [[f32; 8]; 8] =
                std::array::from_fn(|r| std::array::from_fn(|c| (8 * r + c) as f32));
            let out = transpose8(simd, block);
            for (q, row) in out.iter().enumerate() {
                for (r, &x) in row.iter().enumerate() {
                    assert_eq!(x, block[r][q]);
                }
            }
            let block64: [[f64; 8]; 8] =
                std::array::from_fn(|r| std::array::from_fn(|c| (8 * r + c) as f64));
            let out64 = transpose8(simd, block64);
            assert_eq!(out64[3][5], block64[5][3]);
        }
    }

    #[test]
    fn transposes_on_the_detected_instruction_set_and_portably() {
        pulp::Arch::new().dispatch(Check);
        pulp::WithSimd::with_simd(Check, pulp::Scalar::new());
    }
}
