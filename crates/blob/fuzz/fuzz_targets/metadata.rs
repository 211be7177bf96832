//! Feeds arbitrary bytes to the `_metadata` reader: it must return (never panic, hang or allocate
//! without bound), and what it returns must be self-consistent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stateplane_blob::metadata::{parse, MAX_OPERATORS};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = parse(data) {
        assert!(s.operators.len() <= MAX_OPERATORS as usize);
        assert_eq!(s.total.inline + s.total.in_files, s.total.total);
        let mut total = 0u64;
        for o in &s.operators {
            assert_eq!(o.operator_id.len(), 32);
            assert!(o.parallelism <= o.max_parallelism);
            let st = o.state;
            assert_eq!(st.inline + st.in_files, st.total);
            assert_eq!(
                st.keyed + st.operator + st.raw + st.channel + st.coordinator,
                st.total
            );
            total += st.total;
        }
        assert_eq!(total, s.total.total);
    }
});
