//! Properties of the single transforms.

mod common;

use common::{phantom, random_image};
use ctssl_augment::*;
use ctssl_io::HuWindow;

#[test]
fn flip_twice_is_identity() {
    for (c, h, w) in [(1, 7, 5), (3, 8, 8), (2, 1, 9), (1, 10, 1)] {
        let img = random_image(c, h, w, -1000.0, 2000.0, (c * 100 + h * 10 + w) as u64);
        let mut a = img.clone();
        hflip(&mut a);
        if w > 1 {
            assert_ne!(a, img, "hflip of a random {c}x{h}x{w} image must move something");
        }
        hflip(&mut a);
        assert_eq!(a, img);
        let mut b = img.clone();
        vflip(&mut b);
        vflip(&mut b);
        assert_eq!(b, img);
        // hflip ∘ vflip = vflip ∘ hflip (a half turn).
        let (mut hv, mut vh) = (img.clone(), img.clone());
        hflip(&mut hv);
        vflip(&mut hv);
        vflip(&mut vh);
        hflip(&mut vh);
        assert_eq!(hv, vh);
    }
}

#[test]
fn random_resized_crops_stay_within_scale_and_ratio_bounds() {
    let configs = [
        RandomResizedCrop::new(64),
        RandomResizedCrop::new(64).with_scale(0.2, 1.0),
        RandomResizedCrop::new(32).with_scale(0.05, 0.14),
        RandomResizedCrop::new(32).with_scale(0.67, 1.0),
        RandomResizedCrop::new(32).with_scale(0.9, 1.0),
    ];
    for (ci, cfg) in configs.iter().enumerate() {
        for (h, w) in [(512, 512), (128, 128), (300, 420), (97, 61)] {
            let area = (h * w) as f32;
            // torchvision's fallback after 10 failed tries: the centre crop clamped to the ratio range
            // (found here with a scale that can never fit). It may lie outside the scale range when the
            // image's own aspect is outside the ratio range (97 x 61 with scale 0.9-1).
            let impossible = RandomResizedCrop { scale: (2.0, 3.0), ..*cfg };
            let fallback = impossible.sample_region(h, w, &mut view_rng(0, 0, 0, 0));
            assert_eq!(fallback, impossible.sample_region(h, w, &mut view_rng(9, 9, 9, 9)));
            let mut fallbacks = 0;
            for i in 0..400u64 {
                let mut rng = view_rng(ci as u64, h as u64, i, w as u64);
                let r = cfg.sample_region(h, w, &mut rng);
                assert!(r.top + r.height <= h && r.left + r.width <= w, "{r:?} outside {h}x{w}");
                let frac = (r.height * r.width) as f32 / area;
                let aspect = r.width as f32 / r.height as f32;
                // Rounding each side to whole pixels moves the area by at most about (h + w) / 2 + 1 pixels
                // and the ratio by the relative error of one pixel per side.
                let area_tol = ((r.height + r.width) as f32 / 2.0 + 1.0) / area;
                let ratio_tol = aspect * (1.0 / r.height as f32 + 1.0 / r.width as f32);
                let in_scale = frac >= cfg.scale.0 - area_tol && frac <= cfg.scale.1 + area_tol;
                let in_ratio = aspect >= cfg.ratio.0 - ratio_tol && aspect <= cfg.ratio.1 + ratio_tol;
                if r == fallback && !(in_scale && in_ratio) {
                    fallbacks += 1;
                    continue;
                }
                assert!(in_scale, "{cfg:?} on {h}x{w}: area fraction {frac} ({r:?})");
                assert!(in_ratio, "{cfg:?} on {h}x{w}: aspect {aspect} ({r:?})");
            }
            if h == w {
                // On square images the fallback is rare for these ranges.
                assert!(fallbacks < 20, "{cfg:?} on {h}x{w}: {fallbacks} fallbacks");
            }
        }
    }
    let img = phantom(200, 180, 1);
    let out = RandomResizedCrop::new(48).apply(&img, &mut view_rng(0, 0, 0, 0)).unwrap();
    assert_eq!((out.channels, out.height, out.width), (1, 48, 48));
}

#[test]
fn rotation_keeps_the_hu_range() {
    let img = random_image(1, 33, 47, -900.0, 1500.0, 9);
    let (lo, hi) = img.min_max();
    for (i, angle) in [0.0f32, 3.0, 45.0, -90.0, 137.5, 180.0, -179.0].iter().enumerate() {
        let out = rotate(&img, *angle, AIR_HU).unwrap();
        let (olo, ohi) = out.min_max();
        assert!(olo >= lo.min(AIR_HU) - 1e-2 && ohi <= hi.max(AIR_HU) + 1e-2, "angle {angle}: {olo}..{ohi}");
        let random = RandomRotation::new(180.0, 1.0).apply(&img, &mut view_rng(1, 2, i as u64, 0)).unwrap();
        let (rlo, rhi) = random.min_max();
        assert!(rlo >= lo.min(AIR_HU) - 1e-2 && rhi <= hi.max(AIR_HU) + 1e-2);
        let affine =
            RandomAffine { p: 1.0, ..RandomAffine::small() }.apply(&img, &mut view_rng(3, 2, i as u64, 0)).unwrap();
        let (alo, ahi) = affine.min_max();
        assert!(alo >= lo.min(AIR_HU) - 1e-2 && ahi <= hi.max(AIR_HU) + 1e-2);
    }
    // A zero rotation is the identity; corners of a 45° turn are air.
    let zero = rotate(&img, 0.0, AIR_HU).unwrap();
    for (a, b) in zero.data.iter().zip(&img.data) {
        assert!((a - b).abs() < 1e-3);
    }
    let turned = rotate(&img, 45.0, AIR_HU).unwrap();
    assert_eq!(turned.at(0, 0, 0), AIR_HU);
    // Probability 0 leaves the image unchanged.
    let same = RandomRotation::new(180.0, 0.0).apply(&img, &mut view_rng(0, 0, 0, 0)).unwrap();
    assert_eq!(same, img);
}

#[test]
fn windows_map_as_defined() {
    let hu = Image::from_vec(1, 6, vec![-1200.0, -1000.0, -600.0, 40.0, 240.0, 3000.0]).unwrap();
    // Wide window: −1000 → 0, 1000 → 1, linear between, clipped.
    let wide = apply_windows(&hu, &[WIDE_WINDOW]).unwrap();
    let want = [0.0, 0.0, 0.2, 0.52, 0.62, 1.0];
    for (a, b) in wide.data.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{:?}", wide.data);
    }
    // Multi-window: one channel per window, each equal to the single-window result.
    let windows = [HuWindow::LUNG, HuWindow::SOFT_TISSUE, HuWindow::BONE];
    let multi = apply_windows(&hu, &windows).unwrap();
    assert_eq!(multi.channels, 3);
    for (c, w) in windows.iter().enumerate() {
        for (x, &v) in hu.data.iter().enumerate() {
            assert!((multi.at(c, 0, x) - w.apply(v)).abs() < 1e-6);
        }
    }
    // 40 HU is the soft-tissue centre.
    assert!((multi.at(1, 0, 3) - 0.5).abs() < 1e-6);
    // A jitter draw shifts the centre by a fraction of the width and scales the width.
    let draw =
        JitterDraw { center_shift: 0.1, width_factor: 0.5, brightness: 1.0, contrast: 1.0, brightness_first: true };
    let jittered = draw.window(&HuWindow::new(40.0, 400.0));
    assert_eq!((jittered.center, jittered.width), (80.0, 200.0));
    // Min–max maps the slice's own range onto [0, 1].
    let mm = WindowStep::MinMax.windows(hu.min_max()).unwrap();
    let scaled = apply_windows(&hu, &mm).unwrap();
    assert_eq!(scaled.data[0], 0.0);
    assert_eq!(scaled.data[5], 1.0);
    assert!((scaled.data[3] - (40.0 + 1200.0) / 4200.0).abs() < 1e-6);
}

#[test]
fn pipeline_with_multi_window_and_standardisation() {
    let img = phantom(96, 96, 3);
    let mut v = ViewConfig::random_resized(40, (0.5, 1.0));
    v.intensity.window = WindowStep::Multi(vec![HuWindow::LUNG, HuWindow::SOFT_TISSUE]);
    v.intensity.standardize = Some(Standardize { mean: vec![0.5, 0.25], std: vec![0.25, 0.5] });
    v.validate(1).unwrap();
    let out = v.apply(&img, img.min_max(), &mut view_rng(0, 0, 0, 0)).unwrap();
    assert_eq!((out.channels, out.height, out.width), (2, 40, 40));
    // Channel 0 came from [0, 1] → (x − 0.5) / 0.25 ∈ [−2, 2]; channel 1 → (x − 0.25) / 0.5 ∈ [−0.5, 1.5].
    assert!(out.plane(0).iter().all(|&x| (-2.0..=2.0).contains(&x)));
    assert!(out.plane(1).iter().all(|&x| (-0.5..=1.5).contains(&x)));
    let bad = Standardize { mean: vec![0.0, 0.0, 0.0], std: vec![1.0] };
    v.intensity.standardize = Some(bad);
    assert!(v.validate(1).is_err());
}

#[test]
fn noise_gamma_and_blur_behave() {
    let mut flat = Image::filled(1, 128, 128, 40.0);
    add_gaussian_noise(&mut flat, 20.0, &mut view_rng(5, 0, 0, 0));
    let mean = flat.mean();
    let var = flat.data.iter().map(|&v| (v - mean).powi(2)).sum::<f32>() / flat.data.len() as f32;
    assert!((mean - 40.0).abs() < 0.5, "mean {mean}");
    assert!((var.sqrt() - 20.0).abs() < 0.5, "std {}", var.sqrt());
    let mut g = Image::from_vec(1, 3, vec![0.0, 0.25, 1.0]).unwrap();
    adjust_gamma(&mut g, 2.0);
    assert_eq!(g.data, vec![0.0, 0.0625, 1.0]);
    let mut b = random_image(1, 40, 40, 0.0, 1.0, 4);
    let before = b.clone();
    gaussian_blur(&mut b, 1.5);
    let spread = |i: &Image| {
        let m = i.mean();
        i.data.iter().map(|&v| (v - m).powi(2)).sum::<f32>()
    };
    assert!(spread(&b) < 0.2 * spread(&before));
    assert!((b.mean() - before.mean()).abs() < 0.01);
}

#[test]
fn invalid_configs_are_errors_not_panics() {
    let img = phantom(32, 32, 0);
    let mut rng = view_rng(0, 0, 0, 0);
    assert!(RandomResizedCrop { scale: (0.5, 0.2), ..RandomResizedCrop::new(8) }.apply(&img, &mut rng).is_err());
    assert!(RandomResizedCrop::new(0).apply(&img, &mut rng).is_err());
    assert!(RandomRotation::new(-1.0, 0.5).apply(&img, &mut rng).is_err());
    assert!(Image::from_vec(3, 3, vec![0.0; 8]).is_err());
    assert!(apply_windows(&random_image(2, 4, 4, 0.0, 1.0, 0), &[WIDE_WINDOW]).is_err());
    assert!(WindowStep::Fixed(HuWindow::new(0.0, 0.0)).validate().is_err());
    assert!(center_crop(&img, 0, 4, 0.0).is_err());
}

#[test]
fn malformed_images_are_errors_or_no_ops() {
    let bad = Image { channels: 1, height: 4, width: 4, data: vec![0.0; 3] };
    let empty = Image { channels: 1, height: 0, width: 0, data: vec![] };
    let mut rng = view_rng(0, 0, 0, 0);
    for img in [&bad, &empty] {
        assert!(!img.is_valid());
        assert!(resize(img, 8, 8, true).is_err());
        assert!(rotate(img, 30.0, AIR_HU).is_err());
        assert!(center_crop(img, 2, 2, 0.0).is_err());
        assert!(apply_windows(img, &[WIDE_WINDOW]).is_err());
        assert!(RandomResizedCrop::new(8).apply(img, &mut rng).is_err());
        assert!(Recipe::study(16).make_views(img, 0, 0, 0).is_err());
        let mut m = img.clone();
        hflip(&mut m);
        vflip(&mut m);
        gaussian_blur(&mut m, 1.0);
        adjust_contrast(&mut m, 0.5);
        assert!(Standardize::new(0.0, 1.0).apply(&mut m).is_err());
    }
    assert_eq!(blur::gaussian_kernel(0.0, 5), vec![1.0]);
}
