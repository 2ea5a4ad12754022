//! The MoCo key queue: ring behaviour, normalisation, checkpoint state.

use candle_core::{DType, Device, Tensor};
use ctssl_contrastive::KeyQueue;

fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    t.to_dtype(DType::F64).unwrap().to_vec2().unwrap()
}

#[test]
fn enqueue_wraps_and_overwrites_the_oldest_keys() {
    let dev = Device::Cpu;
    let mut q = KeyQueue::new_empty(5, 2, DType::F32, &dev).unwrap();
    assert!(q.is_empty());
    let batch = |v: f32| Tensor::new(&[[v, 0.0], [0.0, v], [v, v]], &dev).unwrap();
    q.enqueue(&(batch(3.0))).unwrap();
    assert_eq!((q.len(), q.pointer(), q.is_full()), (3, 3, false));
    assert_eq!(q.filled_keys().unwrap().dims(), &[3, 2]);
    q.enqueue(&batch(-2.0)).unwrap();
    assert_eq!((q.len(), q.pointer(), q.is_full()), (5, 1, true));
    let k = rows(q.keys());
    let h = std::f64::consts::FRAC_1_SQRT_2;
    // Slot 0 holds the 3rd key of the 2nd batch (wrapped), slots 1–2 are still from the 1st batch.
    let expect = [[-h, -h], [0.0, 1.0], [h, h], [-1.0, 0.0], [0.0, -1.0]];
    for (got, want) in k.iter().zip(expect) {
        assert!((got[0] - want[0]).abs() < 1e-6 && (got[1] - want[1]).abs() < 1e-6, "{got:?} vs {want:?}");
    }
    assert!(q.enqueue(&Tensor::zeros((6, 2), DType::F32, &dev).unwrap()).is_err());
    assert!(q.enqueue(&Tensor::zeros((2, 3), DType::F32, &dev).unwrap()).is_err());
}

#[test]
fn random_start_is_seeded_normalised_and_state_round_trips() {
    let dev = Device::Cpu;
    let a = KeyQueue::new_random(8, 4, 42, DType::F64, &dev).unwrap();
    let b = KeyQueue::new_random(8, 4, 42, DType::F64, &dev).unwrap();
    let c = KeyQueue::new_random(8, 4, 43, DType::F64, &dev).unwrap();
    assert_eq!(rows(a.keys()), rows(b.keys()));
    assert_ne!(rows(a.keys()), rows(c.keys()));
    for r in rows(a.keys()) {
        assert!((r.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
    }
    let mut a = a;
    a.enqueue(&Tensor::ones((3, 4), DType::F64, &dev).unwrap()).unwrap();
    let (keys, meta) = a.state().unwrap();
    let restored = KeyQueue::from_state(&keys, &meta).unwrap();
    assert_eq!((restored.pointer(), restored.len()), (3, 8));
    assert_eq!(rows(restored.keys()), rows(a.keys()));
    assert!(KeyQueue::from_state(&keys, &Tensor::new(&[9i64, 8], &dev).unwrap()).is_err());
}

#[test]
fn keys_are_detached() {
    let dev = Device::Cpu;
    let mut q = KeyQueue::new_empty(4, 2, DType::F64, &dev).unwrap();
    let v = candle_core::Var::from_tensor(&Tensor::ones((2, 2), DType::F64, &dev).unwrap()).unwrap();
    q.enqueue(&(v.as_tensor() * 2.0).unwrap()).unwrap();
    let grads = q.keys().sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&v).is_none());
}
