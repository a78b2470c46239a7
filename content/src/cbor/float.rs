//! Half-precision conversions for preferred float serialization (RFC 8949 §4.1).

/// Returns the IEEE 754 binary16 bits of `v` if `v` (not NaN) is exactly representable in half
/// precision, including subnormals, zeros and infinities.
pub(crate) fn f64_to_f16_exact(v: f64) -> Option<u16> {
    if v.is_nan() {
        return None;
    }
    let bits = v.to_bits();
    let sign = ((bits >> 63) as u16) << 15;
    if v == 0.0 {
        return Some(sign);
    }
    if v.is_infinite() {
        return Some(sign | 0x7c00);
    }
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mant = bits & ((1u64 << 52) - 1);
    if (-14..=15).contains(&exp) {
        // Normal half: 10 mantissa bits; the low 42 bits of the double's mantissa must be zero.
        if mant & ((1u64 << 42) - 1) != 0 {
            return None;
        }
        return Some(sign | (((exp + 15) as u16) << 10) | (mant >> 42) as u16);
    }
    if (-24..-14).contains(&exp) {
        // Subnormal half: value = m × 2^-24 with m < 1024.
        let full = (1u64 << 52) | mant;
        let shift = (52 - (exp + 24)) as u32;
        if full & ((1u64 << shift) - 1) != 0 {
            return None;
        }
        return Some(sign | (full >> shift) as u16);
    }
    None
}

/// Widens binary16 bits to a double.
pub(crate) fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let mant = (h & 0x3ff) as f64;
    match exp {
        0 => sign * mant * 2f64.powi(-24),
        31 if mant == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + mant / 1024.0) * 2f64.powi(e as i32 - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finite_half_round_trips() {
        for h in 0..=u16::MAX {
            let v = f16_to_f64(h);
            if v.is_nan() {
                continue;
            }
            assert_eq!(f64_to_f16_exact(v), Some(h), "half bits {h:#06x} ({v})");
        }
    }

    #[test]
    fn inexact_values_are_refused() {
        assert_eq!(f64_to_f16_exact(1.1), None);
        assert_eq!(f64_to_f16_exact(65520.0), None);
        assert_eq!(f64_to_f16_exact(2f64.powi(-25)), None);
        assert_eq!(f64_to_f16_exact(f64::NAN), None);
    }
}
